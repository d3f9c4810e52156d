//! The container image as a studio runs it: built by `scripts/build-image.sh` from a
//! Debian base made here (debootstrap, `docker import`: no registry is reachable), then
//! started from ash's compose snippet with only the image name changed, against the fake
//! AYON server, with the engine's socket mounted. A service it starts lands on the
//! image's own network, reaches its own API there, and sees the `/storage` mount handed
//! on; the image reports itself healthy and runs ashtray as an unprivileged user.
//!
//! `scripts/test.sh` names the headless (release) binary the image copies in
//! `ASHTRAY_IMAGE_BIN`; the image build compiles no Rust.
//!
//! The engine must route between containers of one network: a dockerd started with
//! `--iptables=false` on a host whose FORWARD policy is DROP (another dockerd's) drops
//! that traffic, and the service then cannot reach the worker. CI's dockerd sets its own
//! rules.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use ashtray_tests::debian_root::CleanRoot;
use ashtray_tests::harness::{eventually, unique};
use ashtray_tests::images::docker_cli;
use ashtray_tests::world::{slug, World};
use bollard::query_parameters::InspectNetworkOptions;
use serde_json::{json, Value};

/// The image's ashtray needs a moment more than one on the host: the image's start.
const SETTLE: Duration = Duration::from_secs(90);

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn docker(args: &[&str]) -> Output {
    docker_cli()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

/// The engine's socket as this test reaches it: what the snippet mounts.
fn engine_socket() -> String {
    std::env::var("ASHTEST_DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(String::from))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string())
}

/// `docker compose` (the plugin) where there is one, else Debian's standalone
/// `docker-compose`; both speak to the engine in `DOCKER_HOST`.
fn compose(project_dir: &Path, project: &str, args: &[&str]) -> Output {
    let plugin = docker_cli()
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut command = if plugin {
        let mut c = docker_cli();
        c.arg("compose");
        c
    } else {
        let mut c = Command::new("docker-compose");
        if let Ok(host) = std::env::var("ASHTEST_DOCKER_HOST") {
            c.env("DOCKER_HOST", host);
        }
        c
    };
    command
        .current_dir(project_dir)
        .args(["-p", project])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("running compose (install Debian's docker-compose: scripts/setup-test-env.sh does): {e}")
        })
}

/// `docker compose down` and the images this test made, whatever its outcome.
struct Cleanup {
    project_dir: tempfile::TempDir,
    project: String,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        compose(
            self.project_dir.path(),
            &self.project,
            &["down", "--volumes", "--timeout", "2"],
        );
        for image in &self.images {
            docker(&["rmi", "--force", image]);
        }
    }
}

// Multi-threaded: the fake server keeps answering while a `docker` command blocks a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_from_ashs_compose_snippet_and_its_services_reach_their_api_and_storage() {
    let binary = std::env::var("ASHTRAY_IMAGE_BIN").expect(
        "ASHTRAY_IMAGE_BIN is not set: name a headless ashtray binary (scripts/test.sh builds one)",
    );
    let world = World::reachable_from_containers("image").await;
    let run = unique("image");
    let base = format!("ashtest/bookworm-base:{run}");
    let tag = format!("ashtest/ashtray:{run}");
    let project_dir = tempfile::tempdir().unwrap();
    let cleanup = Cleanup {
        project_dir,
        project: run.replace('-', ""),
        images: vec![tag.clone(), base.clone()],
    };

    // The base: Debian's minimal root with CA certificates, as debian:bookworm-slim.
    CleanRoot::with(&["ca-certificates"]).import_as_image(docker_cli(), &base);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Command::new("bash")
        .arg(repo.join("scripts/build-image.sh"))
        .env("ASHTRAY_IMAGE_BIN", &binary)
        .env("ASHTRAY_IMAGE_TAG", &tag)
        .env("RUNTIME_IMAGE", &base)
        .envs(std::env::var("ASHTEST_DOCKER_HOST").map(|h| ("DOCKER_HOST", h)))
        .output()
        .expect("running scripts/build-image.sh");
    assert!(built.status.success(), "build-image.sh: {}", text(&built));
    assert_eq!(String::from_utf8_lossy(&built.stdout).trim(), tag);
    let labels: Value = serde_json::from_slice(
        &docker(&["inspect", "--format", "{{json .Config.Labels}}", &tag]).stdout,
    )
    .expect("the image's labels");
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    let commit = labels["org.opencontainers.image.revision"]
        .as_str()
        .unwrap_or_default();
    assert!(
        commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{labels}"
    );

    // Where containers reach the fake server: this machine's address on the engine's
    // default bridge (the fake listens on every address).
    let bridge = world
        .engine
        .docker
        .inspect_network("bridge", None::<InspectNetworkOptions>)
        .await
        .expect("the engine's bridge network");
    let gateway = ashtray_engine::runtime::host_address(
        &bridge,
        &ashtray_engine::runtime::interface_addresses(),
    )
    .expect("the bridge's address on this machine");
    let port = world.fake.url().rsplit(':').next().unwrap().to_string();
    let storage = tempfile::tempdir().unwrap();
    std::fs::write(storage.path().join("marker"), "studio storage\n").unwrap();

    // ash's compose snippet; only the image differs (and the values a studio fills in).
    let snippet = format!(
        r#"services:
  worker:
    image: {tag}
    hostname: {host}
    restart: unless-stopped
    volumes:
      - "{socket}:/var/run/docker.sock"
      - "{storage}:/storage"
    environment:
      - "AYON_API_KEY={key}"
      - "AYON_SERVER_URL=http://{gateway}:{port}"
"#,
        host = world.host,
        socket = engine_socket(),
        storage = storage.path().display(),
        key = world.fake.service_key(),
    );
    std::fs::write(
        cleanup.project_dir.path().join("docker-compose.yml"),
        &snippet,
    )
    .unwrap();
    let name = world.declare("svc", "ticker", json!(null));
    let up = compose(cleanup.project_dir.path(), &cleanup.project, &["up", "-d"]);
    assert!(up.status.success(), "compose up: {}\n{snippet}", text(&up));
    let worker = format!("{}_worker_1", cleanup.project);
    let worker_id = String::from_utf8_lossy(
        &compose(
            cleanup.project_dir.path(),
            &cleanup.project,
            &["ps", "-q", "worker"],
        )
        .stdout,
    )
    .trim()
    .to_string();
    assert!(!worker_id.is_empty(), "compose started no worker");
    let logs = || text(&docker(&["logs", &worker_id]));

    // The service runs, on the worker's own network, with the worker's /storage.
    let running = world.wait_running_within(&[&name], SETTLE).await;
    assert!(running, "{name} never ran; the worker said:\n{}", logs());
    let service = world.engine.inspect(&slug(&name)).await;
    let worker_inspect = world.engine.inspect(&worker_id).await;
    let worker_networks: Vec<String> = worker_inspect
        .network_settings
        .and_then(|s| s.networks)
        .unwrap_or_default()
        .into_keys()
        .collect();
    assert_eq!(worker_networks, [format!("{}_default", cleanup.project)]);
    assert_eq!(
        service
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.clone()),
        Some(worker_networks[0].clone()),
        "the service joined another network than the worker's"
    );
    let storage_mount = service
        .mounts
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.destination.as_deref() == Some("/storage"));
    assert_eq!(
        storage_mount.and_then(|m| m.source),
        Some(storage.path().display().to_string()),
        "the worker's /storage was not handed on"
    );

    // From inside the service: its own API, at the worker's address, and the storage.
    let exec = docker(&[
        "exec",
        &slug(&name),
        "sh",
        "-c",
        r#"wget -qO- --header "Authorization: Bearer $ASHTRAY_SERVICE_TOKEN" "$ASHTRAY_API_URL/api/v1/self" && echo && cat /storage/marker"#,
    ]);
    assert!(
        exec.status.success(),
        "the service could not reach its API or its storage: {}\nthe worker said:\n{}",
        text(&exec),
        logs()
    );
    let said = String::from_utf8_lossy(&exec.stdout).to_string();
    let (me, marker) = said.split_once('\n').unwrap_or((&said, ""));
    let me: Value = serde_json::from_str(me).unwrap_or_else(|e| panic!("{e}: {said}"));
    assert_eq!(me["name"], name, "{me}");
    assert_eq!(marker.trim(), "studio storage");

    // Healthy by its own HEALTHCHECK, and not root.
    let healthy = eventually(SETTLE, || async {
        let status = docker(&[
            "inspect",
            "--format",
            "{{.State.Health.Status}}",
            &worker_id,
        ]);
        (String::from_utf8_lossy(&status.stdout).trim() == "healthy").then_some(())
    })
    .await;
    assert!(
        healthy.is_some(),
        "{worker} never became healthy:\n{}",
        logs()
    );
    let user = docker(&["exec", &worker_id, "stat", "-c", "%U", "/proc/1"]);
    assert_eq!(
        String::from_utf8_lossy(&user.stdout).trim(),
        "ashtray",
        "{}",
        text(&user)
    );
    drop(cleanup);
}
