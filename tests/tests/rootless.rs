//! Rootless Podman, how most studios run it: ashtray as an unprivileged user with
//! `AYON_USE_PODMAN=1` and no socket given finds the user's own Podman at
//! `$XDG_RUNTIME_DIR/podman/podman.sock`, runs the services there, restarts one that is
//! killed and stops one the server no longer wants; a service reaches its own API from
//! the user's network namespace.

use ashtray_tests::harness::eventually;
use ashtray_tests::rootless::RootlessPodman;
use ashtray_tests::world::{slug, World, CONVERGE};
use bollard::query_parameters::KillContainerOptions;
use serde_json::{json, Value};

#[tokio::test]
async fn as_a_user_ashtray_finds_its_rootless_podman_and_runs_restarts_and_stops_services() {
    let world = World::new("rootless").await;
    let podman = RootlessPodman::get().await;
    let a = world.declare("a", "ticker", Value::Null);
    let b = world.declare("b", "ticker", Value::Null);
    let state = podman.user_dir();
    let daemon = world
        .launch()
        .env("AYON_USE_PODMAN", "1")
        .env("XDG_RUNTIME_DIR", &podman.runtime_dir.display().to_string())
        .env("HOME", &podman.home.display().to_string())
        .env("ASHTRAY_STATE_DIR", &state.path().display().to_string())
        .env(
            "ASHTRAY_CONFIG_DIR",
            &state.path().join("config").display().to_string(),
        )
        .as_user(podman.uid, podman.gid)
        .spawn();

    let running = |names: Vec<String>| {
        let podman = &podman;
        let prefix = world.prefix.clone();
        async move {
            eventually(CONVERGE, || async {
                let now: Vec<String> = podman
                    .engine
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
    // A service reaches its own API (ASHTRAY_API_URL) from the user's network namespace.
    // By busybox's nc: its wget segfaults in a rootless container on this machine. Asked
    // until it answers: a fresh user's first containers wait a moment for slirp4netns.
    let ask_own_api = || {
        ashtray_tests::rootless::podman_cli()
            .args(["exec", &slug(&a), "sh", "-c"])
            .arg(r#"u=${ASHTRAY_API_URL#http://}; printf 'GET /api/v1/self HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n' "$ASHTRAY_SERVICE_TOKEN" | nc -w 5 "${u%:*}" "${u##*:}""#)
            .output()
            .expect("podman exec as the user")
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
    let socket = format!("{}/podman/podman.sock", podman.runtime_dir.display());
    let found_socket = daemon.output().contains(&socket);
    let in_docker = world.engine.containers(&world.prefix).await;

    // A kill: the same service runs again in a new container.
    let before = podman.engine.running(&world.prefix).await;
    let killed = before.iter().find(|c| c.name == slug(&a)).cloned();
    if let Some(killed) = &killed {
        podman
            .engine
            .docker
            .kill_container(&killed.id, None::<KillContainerOptions>)
            .await
            .expect("killing a");
    }
    let restarted = eventually(CONVERGE, || async {
        podman
            .engine
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
    podman.engine.clean(&world.prefix).await;

    assert!(
        both,
        "a and b never ran in the user's Podman; log: {output}"
    );
    assert!(
        answered(&own_api),
        "a cannot reach its own API: {}{}\n{output}",
        String::from_utf8_lossy(&own_api.stdout),
        String::from_utf8_lossy(&own_api.stderr)
    );
    assert!(
        found_socket,
        "the log never names the user's socket {socket}: {output}"
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
