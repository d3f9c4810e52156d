//! Storage on a bare host: the spec's `storagePath` is a directory of this host that the
//! service sees at `/storage`, next to its own `volumes`; changing it recreates the
//! container. (Inside a container, ashtray's own `/storage*` mounts are handed on as
//! well: `tests/tests/image.rs` runs the image.)

use ashtray_tests::harness::eventually;
use ashtray_tests::world::{World, CONVERGE};
use serde_json::json;

/// The service container's mounts as the engine reports them, `source:target`, sorted
/// (a temporary directory's `/tmp/.tmp...` sorts before `/tmp:`).
async fn mounts(world: &World) -> Vec<String> {
    let container = &world.engine.running(&world.prefix).await[0];
    let inspect = world.engine.inspect(&container.id).await;
    let mut mounts: Vec<String> = inspect
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            format!(
                "{}:{}",
                m.source.unwrap_or_default(),
                m.destination.unwrap_or_default()
            )
        })
        .collect();
    mounts.sort();
    mounts
}

#[tokio::test]
async fn storage_path_is_mounted_at_storage_beside_the_volumes_and_a_change_recreates() {
    let world = World::new("storage").await;
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let path = |dir: &tempfile::TempDir| dir.path().to_string_lossy().into_owned();
    let name = world.declare(
        "s",
        "ticker",
        json!({"volumes": ["/tmp:/data"], "storagePath": path(&first)}),
    );
    let daemon = world.launch().spawn();
    assert!(world.wait_running(&[&name]).await, "{}", daemon.output());
    assert_eq!(
        mounts(&world).await,
        [
            format!("{}:/storage", path(&first)),
            "/tmp:/data".to_string()
        ]
    );
    let before = world.running_ids().await;

    world
        .fake
        .patch_service(&name, json!({"storagePath": path(&second)}))
        .unwrap();
    let recreated = eventually(CONVERGE, || async {
        let now = world.running_ids().await;
        (now.len() == 1 && now != before).then_some(())
    })
    .await;
    assert!(recreated.is_some(), "{}", daemon.output());
    assert_eq!(
        mounts(&world).await,
        [
            format!("{}:/storage", path(&second)),
            "/tmp:/data".to_string()
        ]
    );
}

#[tokio::test]
async fn a_storage_path_that_is_not_a_host_directory_is_refused_and_named() {
    let world = World::new("storage-bad").await;
    world.declare("s", "ticker", json!({"storagePath": "projects"}));
    let daemon = world.launch().spawn();
    assert!(
        daemon.wait_for_output("storagePath", CONVERGE).await,
        "{}",
        daemon.output()
    );
    assert!(world
        .engine
        .containers(&world.service("s"))
        .await
        .is_empty());
}
