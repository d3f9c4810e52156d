//! Rootless Podman, how most studios run it: ashtray as an unprivileged user with
//! `AYON_USE_PODMAN=1` and no socket given finds the user's own Podman at
//! `$XDG_RUNTIME_DIR/podman/podman.sock`, runs the services there, restarts one that is
//! killed and stops one the server no longer wants; a service reaches its own API from
//! the user's network namespace (`podman_cases`).

use ashtray_tests::rootless::{podman_cli, RootlessPodman};
use ashtray_tests::world::World;

#[tokio::test]
async fn as_a_user_ashtray_finds_its_rootless_podman_and_runs_restarts_and_stops_services() {
    let world = World::new("rootless").await;
    let podman = RootlessPodman::get().await;
    let state = podman.user_dir();
    let launch = world
        .launch()
        .env("AYON_USE_PODMAN", "1")
        .env("XDG_RUNTIME_DIR", &podman.runtime_dir.display().to_string())
        .env("HOME", &podman.home.display().to_string())
        .env("ASHTRAY_STATE_DIR", &state.path().display().to_string())
        .env(
            "ASHTRAY_CONFIG_DIR",
            &state.path().join("config").display().to_string(),
        )
        .as_user(podman.uid, podman.gid);
    let socket = format!("{}/podman/podman.sock", podman.runtime_dir.display());
    ashtray_tests::podman_cases::run(&world, &podman.engine, launch, podman_cli, &socket).await;
}
