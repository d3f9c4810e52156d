//! Event-kept observation end to end: the real `ashtray --daemon` reaches real dockerd
//! through a counting proxy on its socket. Steady ticks make no request at all; what
//! someone does to the containers by hand (`docker kill`, `docker rm -f`, `docker run`
//! of a container with the service's labels) is still noticed and acted on.

use std::collections::HashMap;

use ashtray_tests::docker_proxy::DockerProxy;
use ashtray_tests::harness::eventually;
use ashtray_tests::world::{World, CONVERGE};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, RemoveContainerOptions,
};
use serde_json::Value;

/// Ticks watched for requests (the launch polls every 500 ms).
const STEADY_TICKS: usize = 10;

#[tokio::test]
async fn steady_ticks_ask_the_engine_nothing_and_hand_made_changes_are_still_noticed() {
    let world = World::new("observe").await;
    let name = world.declare("tick", "ticker", Value::Null);
    let proxy = DockerProxy::start();
    let daemon = world
        .launch()
        .env("DOCKER_HOST", &proxy.docker_host())
        .spawn();
    assert!(
        world.wait_running(&[&name]).await,
        "never ran:\n{}",
        daemon.output()
    );
    // Settled: the starts' confirmations are done once two heartbeats went by.
    assert!(world.wait_heartbeats(2, 200).await);

    let before = proxy.count();
    assert!(world.wait_heartbeats(STEADY_TICKS, 200).await);
    let during = proxy.since(before);
    assert!(
        during.is_empty(),
        "{STEADY_TICKS} steady ticks made {} engine requests: {during:#?}\n{}",
        during.len(),
        daemon.output()
    );
    assert!(before > 0, "the proxy saw none of ashtray's requests");

    let docker = &world.engine.docker;
    let first = running_id(&world).await.expect("its container runs");

    // docker kill: its die event brings the restart.
    docker
        .kill_container(&first, None::<KillContainerOptions>)
        .await
        .expect("docker kill");
    let second = replacement(&world, &first)
        .await
        .unwrap_or_else(|| panic!("not restarted after docker kill:\n{}", daemon.output()));

    // docker rm -f: its destroy event brings a new container.
    docker
        .remove_container(
            &second,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .expect("docker rm -f");
    let third = replacement(&world, &second)
        .await
        .unwrap_or_else(|| panic!("not recreated after docker rm -f:\n{}", daemon.output()));

    // docker run of another container with the service's labels: a second container of
    // the service, which the host sees from its events and removes (one runs).
    let labels: HashMap<String, String> = world
        .engine
        .inspect(&third)
        .await
        .config
        .and_then(|config| config.labels)
        .unwrap_or_default();
    let copy = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(format!("{}-copy", ashtray_tests::world::slug(&name))),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(ashtray_tests::images::TICKER.to_string()),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await
        .expect("docker create of the copy")
        .id;
    docker
        .start_container(&copy, None)
        .await
        .expect("docker start of the copy");
    let one_left = eventually(CONVERGE, || async {
        (world.engine.running(&world.prefix).await.len() == 1).then_some(())
    })
    .await;
    assert!(
        one_left.is_some(),
        "the hand-run copy was never noticed: {:?}\n{}",
        world.running_ids().await,
        daemon.output()
    );

    // And it is quiet again: no request over more steady ticks.
    assert!(world.wait_heartbeats(2, 200).await);
    let before = proxy.count();
    assert!(world.wait_heartbeats(STEADY_TICKS, 200).await);
    let during = proxy.since(before);
    assert!(
        during.is_empty(),
        "after the changes: {during:#?}\n{}",
        daemon.output()
    );
}

/// The id of the world's one running container.
async fn running_id(world: &World) -> Option<String> {
    world
        .running_ids()
        .await
        .into_iter()
        .next()
        .map(|(_, id)| id)
}

/// The id of the container that runs instead of `old`, once one does.
async fn replacement(world: &World, old: &str) -> Option<String> {
    eventually(CONVERGE, || async {
        running_id(world).await.filter(|id| id != old)
    })
    .await
}
