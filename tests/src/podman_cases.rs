//! The core end-to-end cases against a Podman, shared by rootful and rootless: two
//! services run there (none in Docker), one reaches its own API from inside its
//! container, a killed one runs again in a new container, one the server no longer wants
//! is stopped, and the daemon's log names the socket it found.

use std::process::Command;

use bollard::query_parameters::KillContainerOptions;
use serde_json::{json, Value};

use crate::harness::{eventually, Engine, Launch};
use crate::world::{slug, World, CONVERGE};

/// Runs the cases: `launch` is the daemon, set up for that Podman; `podman_cli` is the
/// `podman` command of the same Podman (for `exec`); `socket` the path the log must name.
pub async fn run(
    world: &World,
    podman: &Engine,
    launch: Launch,
    podman_cli: fn() -> Command,
    socket: &str,
) {
    let a = world.declare("a", "ticker", Value::Null);
    let b = world.declare("b", "ticker", Value::Null);
    let daemon = launch.spawn();

    let running = |names: Vec<String>| {
        let prefix = world.prefix.clone();
        async move {
            eventually(CONVERGE, || async {
                let now: Vec<String> = podman
                    .running(&prefix)
                    .await
                    .into_iter()
                    .map(|c| c.name)
                    .collect();
                (now == names).then_some(())
            })
            .await
            .is_some()
        }
    };
    let both = running(vec![slug(&a), slug(&b)]).await;
    // A service reaches its own API (ASHTRAY_API_URL) from its container's network. By
    // busybox's nc: its wget segfaults in a rootless container on this machine. Asked
    // until it answers: a fresh user's first containers wait a moment for slirp4netns.
    let ask_own_api = || {
        podman_cli()
            .args(["exec", &slug(&a), "sh", "-c"])
            .arg(r#"u=${ASHTRAY_API_URL#http://}; printf 'GET /api/v1/self HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n' "$ASHTRAY_SERVICE_TOKEN" | nc -w 5 "${u%:*}" "${u##*:}""#)
            .output()
            .expect("podman exec")
    };
    let answered = |out: &std::process::Output| {
        let me = String::from_utf8_lossy(&out.stdout);
        me.lines()
            .next()
            .is_some_and(|status| status.contains(" 200 "))
            && me.contains(&a)
    };
    let mut own_api = ask_own_api();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !answered(&own_api) && std::time::Instant::now() < deadline {
        own_api = ask_own_api();
    }
    let found_socket = daemon.output().contains(socket);
    let in_docker = world.engine.containers(&world.prefix).await;

    // A kill: the same service runs again in a new container.
    let before = podman.running(&world.prefix).await;
    let killed = before.iter().find(|c| c.name == slug(&a)).cloned();
    if let Some(killed) = &killed {
        podman
            .docker
            .kill_container(&killed.id, None::<KillContainerOptions>)
            .await
            .expect("killing a");
    }
    let restarted = eventually(CONVERGE, || async {
        podman
            .running(&world.prefix)
            .await
            .into_iter()
            .find(|c| c.name == slug(&a))
            .filter(|c| Some(&c.id) != killed.as_ref().map(|k| &k.id))
    })
    .await;

    // The server no longer wants b: its container goes.
    world
        .fake
        .patch_service(&b, json!({"shouldRun": false}))
        .unwrap();
    let b_stopped = running(vec![slug(&a)]).await;
    let output = daemon.output();
    drop(daemon);
    podman.clean(&world.prefix).await;

    assert!(both, "a and b never ran in Podman; log: {output}");
    assert!(
        answered(&own_api),
        "a cannot reach its own API: {}{}\n{output}",
        String::from_utf8_lossy(&own_api.stdout),
        String::from_utf8_lossy(&own_api.stderr)
    );
    assert!(
        found_socket,
        "the log never names the socket {socket}: {output}"
    );
    assert!(
        in_docker.is_empty(),
        "services went to Docker: {in_docker:?}"
    );
    assert!(
        restarted.is_some(),
        "a was not running again in a new container after the kill; log: {output}"
    );
    assert!(
        b_stopped,
        "b still runs after shouldRun false; log: {output}"
    );
    assert!(
        !output.contains("Permission denied"),
        "the user was refused something: {output}"
    );
}
