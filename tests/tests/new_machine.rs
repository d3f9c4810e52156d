//! A brand-new machine, for real: a dockerd started for the first time (its own data root
//! and bridge, no network store), and test images an older build left behind. The real
//! `ashtray --daemon` and the fake AYON server, as everywhere else.

use std::process::Output;

use ashtray_tests::api_client::{Api, ApiSetup, CALL_OWN_API};
use ashtray_tests::fresh_dockerd::FreshDockerd;
use ashtray_tests::harness::eventually;
use ashtray_tests::images::{self, Store};
use ashtray_tests::world::{slug, World, CONVERGE};
use bollard::query_parameters::InspectNetworkOptions;
use serde_json::{json, Value};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_service_reaches_its_own_api_on_a_dockerd_started_for_the_first_time() {
    // Drop order (reverse): ashtray, then the dockerd it uses, then the world.
    let world = World::new("first-start").await;
    let dockerd = FreshDockerd::start().await;

    // What makes this machine new: the bridge network's inspect has no gateway.
    let network = dockerd
        .docker()
        .await
        .inspect_network("bridge", None::<InspectNetworkOptions>)
        .await
        .expect("inspecting the second dockerd's bridge network");
    let configs = network
        .ipam
        .clone()
        .and_then(|ipam| ipam.config)
        .unwrap_or_default();
    assert!(
        !configs.is_empty()
            && configs
                .iter()
                .all(|c| c.subnet.is_some() && c.gateway.is_none()),
        "a first-started dockerd shows a subnet and no gateway: {network:?}"
    );
    assert_eq!(
        network
            .options
            .as_ref()
            .and_then(|o| o.get(ashtray_engine::runtime::BRIDGE_NAME_OPTION)),
        Some(&dockerd.bridge().to_string()),
        "{network:?}"
    );

    images::copy_to(Store::DockerAt(dockerd.host()), &[images::TICKER])
        .expect("loading the ticker into the second dockerd");
    let name = world.declare("self", "ticker", json!(null));
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let daemon = setup
        .apply(world.launch())
        .env("DOCKER_HOST", dockerd.host())
        .spawn();
    let api = Api::new(&setup.control_url(), None);
    assert!(api.wait_up(&daemon).await, "the control API never answered");
    let api = api.with_token(Some(&setup.token()));
    let running = eventually(CONVERGE, || async {
        let service = api.get(&format!("/api/v1/services/{name}")).await.json;
        (service["state"] == "running").then_some(())
    })
    .await;
    assert!(
        running.is_some(),
        "{name} never ran on the second dockerd:\n{}",
        daemon.output()
    );

    let exec = dockerd
        .cli()
        .args(["exec", &slug(&name), "sh", "-c"])
        .arg(CALL_OWN_API)
        .output()
        .expect("docker exec");
    assert!(
        exec.status.success(),
        "GET /api/v1/self from inside the container failed: {}\n{}",
        text(&exec),
        daemon.output()
    );
    let me: Value = serde_json::from_str(&String::from_utf8_lossy(&exec.stdout))
        .unwrap_or_else(|e| panic!("{e}: {}", text(&exec)));
    assert_eq!(me["name"], name, "{me}");
    assert_eq!(me["spec"]["image"], images::TICKER, "{me}");
}

#[tokio::test]
async fn test_images_left_by_an_older_build_are_built_again() {
    let dockerd = FreshDockerd::start().await;
    // What an older build left: a busybox without `yes`, and the chatty image on it,
    // both without a recipe label.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.path().join("bin/busybox")).unwrap();
    for applet in ["sh", "echo"] {
        std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet)).unwrap();
    }
    let imported = dockerd
        .cli()
        .args(["import", "--change", "ENV PATH=/bin", "-", images::BUSYBOX])
        .stdin(
            std::process::Command::new("tar")
                .arg("-C")
                .arg(root.path())
                .args(["-c", "."])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
                .stdout
                .unwrap(),
        )
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", text(&imported));
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {}\nCMD [\"yes\", \"old\"]\n", images::BUSYBOX),
    )
    .unwrap();
    let built = dockerd
        .cli()
        .args(["build", "-q", "-t", images::CHATTY])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    // The image's own command, as a service container runs it.
    let run_chatty = || {
        dockerd
            .cli()
            .args(["run", "-d", images::CHATTY])
            .output()
            .unwrap()
    };
    let stale = run_chatty();
    assert!(
        !stale.status.success() && text(&stale).contains("executable file not found"),
        "the stale image is expected to lack `yes`: {}",
        text(&stale)
    );

    images::ensure_images_in(Store::DockerAt(dockerd.host()))
        .expect("building the test images in the second dockerd");
    let fresh = run_chatty();
    assert!(
        fresh.status.success(),
        "the chatty image was not built again on a busybox with `yes`: {}",
        text(&fresh)
    );
    let id = String::from_utf8_lossy(&fresh.stdout).trim().to_string();
    let chatters = eventually(CONVERGE, || async {
        let logs = dockerd
            .cli()
            .args(["logs", "--tail", "1", &id])
            .output()
            .unwrap();
        text(&logs).contains("a chatty service says").then_some(())
    })
    .await;
    assert!(
        chatters.is_some(),
        "the rebuilt chatty image prints nothing"
    );
    // Once current, they are left as they are.
    let image_id = |image: &str| {
        text(
            &dockerd
                .cli()
                .args(["image", "inspect", "--format", "{{.Id}}", image])
                .output()
                .unwrap(),
        )
    };
    let before = image_id(images::CHATTY);
    images::ensure_images_in(Store::DockerAt(dockerd.host())).unwrap();
    assert_eq!(image_id(images::CHATTY), before);
}
