//! The README's first command, `./scripts/run.sh --daemon`, on a machine with Docker and
//! no AYON server: from a copy of the clone's files (no `.env`, no state, no settings)
//! and a dockerd started for the first time, so nothing an earlier run left counts. The
//! demo's image (`busybox:stable`, pulled from Docker Hub on a real machine) is the test
//! busybox, tagged so in that dockerd alone: it never shadows an image of this machine.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ashtray_tests::api_client::{free_port, Api};
use ashtray_tests::fresh_dockerd::FreshDockerd;
use ashtray_tests::harness::{ashtray_bin, eventually, unique};
use ashtray_tests::images::{self, Store};
use serde_json::Value;

const DEMO: &str = "hello-ashtray";
const DEMO_IMAGE: &str = "busybox:stable";

/// The files of a fresh clone that the first command uses.
fn fresh_clone() -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let clone = tempfile::tempdir().unwrap();
    for file in ["scripts/run.sh", "examples/services.toml"] {
        let to = clone.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo.join(file), &to).unwrap_or_else(|e| panic!("copying {file}: {e}"));
    }
    clone
}

#[tokio::test]
async fn the_readmes_first_command_starts_the_demo_service_with_no_server() {
    let dockerd = FreshDockerd::start().await;
    images::copy_to(Store::DockerAt(dockerd.host()), &[images::BUSYBOX])
        .expect("loading the test busybox into the fresh dockerd");
    let tagged = dockerd
        .cli()
        .args(["tag", images::BUSYBOX, DEMO_IMAGE])
        .status()
        .expect("docker tag");
    assert!(tagged.success());

    let clone = fresh_clone();
    let home = tempfile::tempdir().unwrap();
    let control_port = free_port();
    let config_dir = home.path().join("config");
    let log = home.path().join("run.log");
    let mut run = Command::new("bash");
    run.arg(clone.path().join("scripts/run.sh"))
        .arg("--daemon")
        .current_dir(home.path())
        .env_remove("AYON_SERVER_URL")
        .env_remove("AYON_API_KEY")
        .env_remove("ASHTRAY_SERVICES")
        .env_remove("CONTAINER_HOST")
        .env_remove("AYON_USE_PODMAN")
        .env("ASHTRAY_RUN_BIN", ashtray_bin())
        .env("DOCKER_HOST", dockerd.host())
        .env("AYON_HOSTNAME", unique("first-run"))
        .env("ASHTRAY_CONFIG_DIR", &config_dir)
        .env("ASHTRAY_STATE_DIR", home.path().join("state"))
        .env("ASHTRAY_LISTEN", format!("127.0.0.1:{control_port}"))
        .env("ASHTRAY_SERVICES_PORT", free_port().to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(home.path().join("run.err")).unwrap());
    let mut child = Running(run.spawn().expect("running scripts/run.sh"));
    let output = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(home.path().join("run.err")).unwrap_or_default()
        )
    };

    let url = format!("http://127.0.0.1:{control_port}");
    let token = eventually(Duration::from_secs(30), || async {
        std::fs::read_to_string(config_dir.join("token")).ok()
    })
    .await
    .unwrap_or_else(|| panic!("ashtray never made its token: {}", output()));
    let api = Api::new(&url, Some(token.trim()));
    // The service starts, and the dashboard's API shows it running, declared locally.
    let demo = eventually(Duration::from_secs(60), || async {
        let answer = api.get(&format!("/api/v1/services/{DEMO}")).await;
        (answer.json["state"] == "running").then_some(answer.json)
    })
    .await
    .unwrap_or_else(|| panic!("the demo never ran: {}", output()));
    assert_eq!(demo["source"], "local", "{demo}");
    assert_eq!(demo["image"], DEMO_IMAGE);
    // Its live logs.
    let lines = eventually(Duration::from_secs(30), || async {
        let logs = api
            .get(&format!("/api/v1/services/{DEMO}/logs?tail=20"))
            .await;
        let text = logs.text;
        (text.contains("hello from a local service: line 2")).then_some(text)
    })
    .await;
    assert!(lines.is_some(), "no live lines of the demo: {}", output());
    // The dashboard itself is served.
    let page = reqwest::get(format!("{url}/")).await.unwrap();
    assert!(page.status().is_success());
    assert!(
        output().contains("running the demo services of examples/services.toml"),
        "{}",
        output()
    );
    let host: Value = api.get("/api/v1/host").await.json;
    assert_eq!(host["server"]["state"], "not_configured", "{host}");

    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while child.0.try_wait().ok().flatten().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "ashtray did not stop on SIGTERM: {}",
            output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The script's process (`exec`ed into ashtray): killed if the test ends early.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
