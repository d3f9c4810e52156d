//! `AYON_USE_PODMAN=1`: the same daemon against real Podman (`podman system service`).

use ashtray_tests::harness::{eventually, Engine};
use ashtray_tests::world::{slug, World, CONVERGE};
use serde_json::{json, Value};

#[tokio::test]
async fn with_use_podman_services_run_as_podman_containers() {
    let world = World::new("podman").await;
    let podman = Engine::podman().await;
    let a = world.declare("a", "ticker", json!({"env": {"N": 2}}));
    let b = world.declare("b", "ticker", Value::Null);
    let daemon = world.launch().env("AYON_USE_PODMAN", "1").spawn();

    let running = eventually(CONVERGE, || async {
        let names: Vec<String> = podman
            .running(&world.prefix)
            .await
            .into_iter()
            .map(|c| c.name)
            .collect();
        (names == [slug(&a), slug(&b)]).then_some(())
    })
    .await;
    let seen = podman.containers(&world.prefix).await;
    let in_docker = world.engine.containers(&world.prefix).await;
    let output = daemon.output();
    // Stop ashtray before cleaning up, or it would start them again.
    drop(daemon);
    podman.clean(&world.prefix).await;
    assert!(running.is_some(), "podman runs {seen:?}; log: {output}");
    assert!(output.contains("podman.sock"), "{output}");
    assert_eq!(seen[0].labels["io.ayon.service.service_name"], a);
    assert!(
        in_docker.is_empty(),
        "services went to Docker: {in_docker:?}"
    );
}

/// The core cases of rootless Podman (`podman_cases`), against the machine's rootful
/// Podman (`/run/podman/podman.sock`, found with no socket given).
#[tokio::test]
async fn rootful_podman_runs_restarts_stops_services_and_serves_their_api() {
    let world = World::new("rootful").await;
    let podman = Engine::podman().await;
    let launch = world.launch().env("AYON_USE_PODMAN", "1");
    ashtray_tests::podman_cases::run(
        &world,
        &podman,
        launch,
        || std::process::Command::new("podman"),
        "/run/podman/podman.sock",
    )
    .await;
}
