//! Local services (`--services FILE` / `ASHTRAY_SERVICES`): the real `ashtray --daemon`
//! and real dockerd, with no AYON server, and beside the fake one.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::harness::{ashtray_bin, eventually, Ashtray};
use ashtray_tests::images;
use ashtray_tests::world::{World, CONVERGE};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A daemon with a control API the test can read.
struct Local {
    daemon: Ashtray,
    control: Api,
    setup: ApiSetup,
    _config: tempfile::TempDir,
}

async fn start(world: &World, file: &Path, server: bool, poll: &str) -> Local {
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let mut launch = setup
        .apply(world.launch())
        .env("ASHTRAY_SERVICES", file.to_str().unwrap());
    launch.args = vec!["--daemon".into(), "--poll-interval".into(), poll.into()];
    if !server {
        launch = launch.env("AYON_SERVER_URL", "").env("AYON_API_KEY", "");
    }
    let daemon = launch.spawn();
    let anonymous = Api::new(&setup.control_url(), None);
    assert!(
        anonymous.wait_up(&daemon).await,
        "the control API never answered: {}",
        daemon.output()
    );
    let control = Api::new(&setup.control_url(), Some(&setup.token()));
    Local {
        daemon,
        control,
        setup,
        _config: config,
    }
}

impl Local {
    async fn service(&self, name: &str) -> Option<Value> {
        let answer = self.control.get(&format!("/api/v1/services/{name}")).await;
        (answer.status == StatusCode::OK).then_some(answer.json)
    }

    /// Waits until `test` holds of the service `name` as the API shows it.
    async fn wait_service(&self, name: &str, what: &str, test: impl Fn(&Value) -> bool) -> Value {
        let found = eventually(CONVERGE, || async {
            self.service(name).await.filter(|s| test(s))
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "{name} never {what}: {:?}\n{}",
                futures::executor::block_on(self.control.get("/api/v1/services")).json,
                self.daemon.output()
            )
        })
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(ashtray_bin())
            .args(args)
            .env("ASHTRAY_CONFIG_DIR", &self.setup.config_dir)
            .env(
                "ASHTRAY_LISTEN",
                format!("127.0.0.1:{}", self.setup.control_port),
            )
            .output()
            .expect("running the CLI");
        assert!(output.status.success(), "ashtray {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

fn service_toml(name: &str, image: &str, extra: &str) -> String {
    format!(
        "[[services]]\nname = \"{name}\"\naddonName = \"ticker\"\naddonVersion = \"1.0.0\"\nimage = \"{image}\"\n{extra}\n"
    )
}

#[tokio::test]
async fn local_services_run_with_no_server_follow_their_file_and_survive_a_broken_one() {
    let world = World::new("local-only").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("services.toml");
    let name = world.service("hello");
    std::fs::write(
        &file,
        service_toml(&name, images::TICKER, "env = { GREETING = \"one\" }"),
    )
    .unwrap();
    // A minute between ticks: what follows an edit within seconds is the file watch.
    let local = start(&world, &file, false, "60s").await;

    let hello = local
        .wait_service(&name, "ran", |s| s["state"] == "running")
        .await;
    assert_eq!(hello["source"], "local", "{hello}");
    assert_eq!(hello["addon_name"], "ticker");
    let host = local.control.get("/api/v1/host").await.json;
    assert_eq!(host["server"]["state"], "not_configured", "{host}");
    assert_eq!(host["local_services"]["services"], 1, "{host}");
    assert!(host["local_services"]["error"].is_null(), "{host}");
    assert_eq!(
        local
            .daemon
            .output()
            .matches("running the local services alone")
            .count(),
        1,
        "said once: {}",
        local.daemon.output()
    );
    assert!(
        world.fake.heartbeats().is_empty(),
        "no server, no heartbeat"
    );
    // It gets what a server's service gets.
    assert_eq!(
        world
            .engine
            .service_env(&name, "AYON_SERVICE_NAME")
            .await
            .as_deref(),
        Some(name.as_str())
    );
    assert_eq!(
        world.engine.service_env(&name, "GREETING").await.as_deref(),
        Some("one")
    );
    let status = local.cli(&["status"]);
    assert!(status.contains("no AYON server"), "{status}");
    let row = status
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_default();
    assert!(row.contains("local"), "the CLI shows the source: {status}");
    let metrics = local.control.get("/metrics").await.text;
    assert!(
        metrics.contains("ashtray_services_by_source{source=\"local\"} 1"),
        "{metrics}"
    );

    // An edit: the container is recreated with the new env, long before the next tick.
    let first_id = hello["container_id"].as_str().unwrap().to_string();
    std::fs::write(
        &file,
        service_toml(&name, images::TICKER, "env = { GREETING = \"two\" }"),
    )
    .unwrap();
    let edited = eventually(Duration::from_secs(15), || async {
        (world.engine.service_env(&name, "GREETING").await.as_deref() == Some("two")).then_some(())
    })
    .await;
    assert!(
        edited.is_some(),
        "the edit never applied: {}",
        local.daemon.output()
    );
    let hello = local
        .wait_service(&name, "ran again", |s| s["state"] == "running")
        .await;
    let second_id = hello["container_id"].as_str().unwrap().to_string();
    assert_ne!(first_id, second_id);

    // A file that does not parse: the last good set stays, the error names line and field.
    std::fs::write(
        &file,
        format!(
            "{}imgae = \"typo\"\n",
            service_toml(&name, images::TICKER, "env = { GREETING = \"two\" }")
        ),
    )
    .unwrap();
    let error = eventually(Duration::from_secs(15), || async {
        let host = local.control.get("/api/v1/host").await.json;
        host["local_services"]["error"].as_str().map(String::from)
    })
    .await
    .unwrap_or_else(|| panic!("the error is never shown: {}", local.daemon.output()));
    assert!(
        error.contains("line 7") && error.contains("imgae"),
        "{error}"
    );
    assert!(local.daemon.output().contains("imgae"), "logged too");
    let status = local.cli(&["status"]);
    assert!(status.contains("imgae"), "{status}");
    let hello = local.service(&name).await.unwrap();
    assert_eq!(hello["state"], "running");
    assert_eq!(hello["container_id"], second_id.as_str(), "left as it was");

    // Fixed, and the service gone from it: its container goes.
    std::fs::write(&file, "").unwrap();
    assert!(world.wait_running(&[]).await, "{}", local.daemon.output());
    drop(local);
}

#[tokio::test]
async fn with_neither_a_server_nor_local_services_it_says_what_to_set() {
    let output = Command::new(ashtray_bin())
        .arg("--daemon")
        .env("AYON_SERVER_URL", "")
        .env_remove("ASHTRAY_SERVICES")
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .expect("running ashtray");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        text.contains("AYON_SERVER_URL") && text.contains("ASHTRAY_SERVICES"),
        "{text}"
    );
}

#[tokio::test]
async fn local_and_server_services_run_side_by_side_and_a_name_both_declare_runs_neither() {
    let world = World::new("local-server").await;
    let server_only = world.declare("srv", "ticker", json!(null));
    let both = world.declare("both", "ticker", json!(null));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("services.toml");
    let local_only = world.service("loc");
    std::fs::write(
        &file,
        format!(
            "{}{}",
            service_toml(&local_only, images::TICKER, ""),
            service_toml(&both, images::TICKER_2, "")
        ),
    )
    .unwrap();
    let local = start(&world, &file, true, "500ms").await;
    assert!(
        world.wait_running(&[&server_only, &local_only]).await,
        "{}",
        local.daemon.output()
    );
    let clash = local
        .wait_service(&both, "failed", |s| s["state"] == "failed")
        .await;
    let error = clash["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("declared both in the local services file") && error.contains("AYON server"),
        "{clash}"
    );
    assert!(
        clash["container_id"].is_null(),
        "never a container: {clash}"
    );
    assert_eq!(
        local.service(&server_only).await.unwrap()["source"],
        "server"
    );
    assert_eq!(local.service(&local_only).await.unwrap()["source"], "local");
    // The server hears only of its own services.
    let names = |hb: &ashtray_tests::fake_ayon::HeartbeatRecord| -> Vec<String> {
        hb.body["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let heard = world
        .fake
        .wait_for_heartbeat(CONVERGE, |hb| {
            hb.body["hostname"] == world.host.as_str() && names(hb).contains(&server_only)
        })
        .await;
    assert!(heard.is_some(), "{}", local.daemon.output());
    let last = world.fake.heartbeats().into_iter().last().unwrap();
    assert!(!names(&last).contains(&local_only), "{:?}", last.body);
    assert_eq!(
        world.running_names().await.len(),
        2,
        "one container each, none for {both}"
    );
    drop(local);
}
