//! `ashtray --daemon` end to end: the real binary, real dockerd, the fake AYON server.

use std::time::Duration;

use ashtray_tests::harness::{ashtray_bin, eventually};
use ashtray_tests::world::{slug, World, CONVERGE};
use serde_json::{json, Value};

#[tokio::test]
async fn three_declared_services_become_three_containers_with_ash_names_labels_and_env() {
    let world = World::new("three").await;
    let a = world.declare(
        "Ticker.A",
        "ticker",
        json!({"env": {"A": "1", "N": 2, "FLAG": true}}),
    );
    let b = world.declare("ticker-b", "ticker", Value::Null);
    let c = world.declare("noterm-c", "noterm", Value::Null);
    let _daemon = world.launch().spawn();

    assert!(
        world.wait_running(&[&a, &b, &c]).await,
        "running: {:?}",
        world.running_names().await
    );
    let containers = world.engine.running(&world.prefix).await;
    let first = containers.iter().find(|c| c.name == slug(&a)).unwrap();
    assert!(
        first.name.starts_with("aysvc_") && first.name.ends_with("_ticker_a"),
        "{}",
        first.name
    );
    assert_eq!(first.labels["io.ayon.service.service_name"], a);
    assert_eq!(first.labels["io.ayon.service.service"], "ticker");
    assert_eq!(first.labels["io.ayon.service.addon_name"], "ticker");
    assert_eq!(first.labels["io.ayon.service.addon_version"], "1.0.0");
    assert_eq!(first.labels["io.ashtray.host"], world.host);

    let env = world.engine.env(&first.id).await;
    // The image's own PATH aside, ash's environment in ash's order, then ashtray's own.
    let ours: Vec<&String> = env.iter().filter(|e| !e.starts_with("PATH=")).collect();
    assert!(ours.len() == 10, "{ours:?}");
    assert!(
        ours[8].starts_with("ASHTRAY_API_URL=http://host.docker.internal:"),
        "{ours:?}"
    );
    assert!(
        ours[9].starts_with("ASHTRAY_SERVICE_TOKEN=")
            && ours[9].len() == "ASHTRAY_SERVICE_TOKEN=".len() + 64,
        "{ours:?}"
    );
    let ours = &ours[..8];
    assert_eq!(
        ours,
        [
            &format!("AYON_SERVER_URL={}", world.fake.url()),
            &format!("AYON_API_KEY={}", world.fake.service_key()),
            &"AYON_ADDON_NAME=ticker".to_string(),
            &"AYON_ADDON_VERSION=1.0.0".to_string(),
            &format!("AYON_SERVICE_NAME={a}"),
            &"A=1".to_string(),
            &"N=2".to_string(),
            &"FLAG=true".to_string(),
        ]
    );
    let inspect = world.engine.inspect(&first.id).await;
    assert_eq!(
        inspect.config.unwrap().hostname.as_deref(),
        Some(slug(&a).as_str())
    );
}

#[tokio::test]
async fn should_run_false_stops_one_and_deleting_stops_another() {
    let world = World::new("stop").await;
    let a = world.declare("a", "ticker", Value::Null);
    let b = world.declare("b", "ticker", Value::Null);
    let c = world.declare("c", "ticker", Value::Null);
    let _daemon = world.launch().spawn();
    assert!(world.wait_running(&[&a, &b, &c]).await);

    world
        .fake
        .patch_service(&a, json!({"shouldRun": false}))
        .unwrap();
    assert!(
        world.wait_running(&[&b, &c]).await,
        "running: {:?}",
        world.running_names().await
    );
    world.fake.delete_service(&b);
    assert!(
        world.wait_running(&[&c]).await,
        "running: {:?}",
        world.running_names().await
    );
    // Stopped means gone, not left exited.
    let gone = eventually(CONVERGE, || async {
        (world.engine.containers(&world.prefix).await.len() == 1).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "stopped containers were left behind: {:?}",
        world.engine.containers(&world.prefix).await
    );
}

#[tokio::test]
async fn heartbeat_body_matches_the_samples_field_for_field() {
    let world = World::new("beat").await;
    let a = world.declare("a", "ticker", Value::Null);
    let _daemon = world.launch().spawn();
    let record = world
        .fake
        .wait_for_heartbeat(CONVERGE, |hb| {
            hb.body["services"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        })
        .await
        .expect("a heartbeat listing the running service");
    assert_eq!(record.status, 200);
    assert_eq!(
        record.api_key.as_deref(),
        Some(world.fake.service_key().as_str())
    );
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/ayon-api/samples/heartbeat-request-running.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&record.body), keys(&sample));
    assert_eq!(keys(&record.body["health"]), keys(&sample["health"]));
    assert_eq!(record.body["hostname"], json!(world.host));
    assert_eq!(record.body["services"], json!([a]));
    for field in ["cpu", "mem"] {
        let value = record.body["health"][field].as_f64().expect("a number");
        assert!((0.0..=100.0).contains(&value), "{field} = {value}");
    }
    assert!(world.fake.service(&a).unwrap()["isRunning"]
        .as_bool()
        .unwrap());
}

#[tokio::test]
async fn an_invalid_key_exits_non_zero_naming_the_problem() {
    let world = World::new("badkey").await;
    let mut daemon = world
        .launch()
        .env("AYON_API_KEY", "0123456789abcdef0123456789abcdef")
        .spawn();
    let status = daemon
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("ashtray exits");
    assert!(!status.success());
    let output = daemon.output();
    assert!(
        output.contains("refused the API key") && output.contains("AYON_API_KEY"),
        "{output}"
    );
    assert!(
        !output.contains("0123456789abcdef0123456789abcdef"),
        "the key must not be printed: {output}"
    );
}

#[tokio::test]
async fn a_key_that_is_not_a_service_account_exits_non_zero() {
    let world = World::new("admin").await;
    let mut daemon = world
        .launch()
        .env("AYON_API_KEY", &world.fake.admin_key())
        .spawn();
    let status = daemon
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("ashtray exits");
    assert!(!status.success());
    assert!(
        daemon.output().contains("not a service account"),
        "{}",
        daemon.output()
    );
}

#[tokio::test]
async fn an_unreachable_server_is_retried_with_backoff_and_then_served() {
    let world = World::new("unreach").await;
    let a = world.declare("a", "ticker", Value::Null);
    world.fake.go_away().await;
    let daemon = world.launch().spawn();
    assert!(
        daemon
            .wait_for_output("cannot reach the AYON server", Duration::from_secs(15))
            .await,
        "{}",
        daemon.output()
    );
    assert!(
        daemon
            .wait_for_output("trying again in", Duration::from_secs(5))
            .await
    );
    world.fake.come_back().await;
    assert!(world.wait_running(&[&a]).await, "{}", daemon.output());
}

#[tokio::test]
async fn service_output_is_printed_with_the_service_name_and_json_logs_work() {
    let world = World::new("output").await;
    let a = world.declare("a", "ticker", Value::Null);
    let daemon = world.launch().arg("--log-format").arg("json").spawn();
    let found = eventually(CONVERGE, || async {
        daemon.output().lines().find_map(|line| {
            let entry: Value = serde_json::from_str(line).ok()?;
            let message = entry["message"].as_str()?;
            (entry["service"] == json!(a) && message.starts_with(&format!("[{a}] tick ")))
                .then_some(entry)
        })
    })
    .await;
    assert!(found.is_some(), "{}", daemon.output());
}

#[tokio::test]
async fn a_service_without_image_is_skipped_and_its_spec_applied_otherwise() {
    let world = World::new("spec").await;
    let bare = world.declare("bare", "bare", Value::Null);
    let full = world.declare(
        "full",
        "ticker",
        json!({"volumes": ["/tmp:/data:ro"], "ports": ["127.0.0.1::80/tcp"], "memLimit": "64m", "user": "65534"}),
    );
    let daemon = world.launch().spawn();
    assert!(world.wait_running(&[&full]).await, "{}", daemon.output());
    let container = &world.engine.running(&world.prefix).await[0];
    let inspect = world.engine.inspect(&container.id).await;
    let host = inspect.host_config.unwrap();
    assert_eq!(host.binds.unwrap(), ["/tmp:/data:ro"]);
    assert_eq!(host.memory, Some(64 * 1024 * 1024));
    assert!(host.port_bindings.unwrap().contains_key("80/tcp"));
    assert_eq!(inspect.config.unwrap().user.as_deref(), Some("65534"));
    assert!(
        daemon
            .wait_for_output("no image", Duration::from_secs(5))
            .await
    );
    assert!(world.engine.containers(&bare).await.is_empty());
}

/// `ashtray --version` names the version and the git commit it was built from, and the
/// heartbeat's User-Agent says the same: what runs on a host can be told from the server.
#[tokio::test]
async fn the_version_and_commit_are_printed_and_sent_to_the_server() {
    let output = std::process::Command::new(ashtray_bin())
        .arg("--version")
        .output()
        .expect("running ashtray --version");
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let commit = printed
        .trim()
        .strip_prefix(&format!("ashtray {version} (commit "))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version printed {printed:?}"))
        .to_string();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running git");
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
    assert_eq!(
        commit, head,
        "the binary names another commit than the checkout's"
    );

    let world = World::new("version").await;
    let _daemon = world.launch().spawn();
    let record = world
        .fake
        .wait_for_heartbeat(CONVERGE, |hb| hb.status == 200)
        .await
        .expect("a heartbeat");
    assert_eq!(
        record.user_agent.as_deref(),
        Some(format!("ashtray/{version} ({commit})").as_str())
    );
}
