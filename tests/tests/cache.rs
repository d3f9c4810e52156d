//! The server's last answer, cached in the state directory: a worker that reboots while
//! its AYON server is down runs what the server last asked of it. The real
//! `ashtray --daemon`, real dockerd, the fake AYON server taken away and brought back.

use std::path::PathBuf;
use std::time::Duration;

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::harness::{eventually, Ashtray};
use ashtray_tests::world::{World, CONVERGE};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn cache_path(world: &World) -> PathBuf {
    world.state.path().join(format!(
        "server-answer-{}.json",
        ashtray_engine::slug::slugify(&world.host)
    ))
}

async fn start(world: &World, setup: &ApiSetup) -> (Ashtray, Api) {
    let daemon = setup.apply(world.launch()).spawn();
    let control = Api::new(&setup.control_url(), None);
    assert!(
        control.wait_up(&daemon).await,
        "the control API never answered: {}",
        daemon.output()
    );
    (daemon, Api::new(&setup.control_url(), Some(&setup.token())))
}

async fn stop(mut daemon: Ashtray) {
    daemon.signal("TERM");
    assert!(
        daemon.wait_exit(Duration::from_secs(15)).await.is_some(),
        "ashtray did not stop: {}",
        daemon.output()
    );
}

async fn service(api: &Api, name: &str) -> Option<Value> {
    let answer = api.get(&format!("/api/v1/services/{name}")).await;
    (answer.status == StatusCode::OK).then_some(answer.json)
}

#[tokio::test]
async fn after_a_reboot_with_the_server_down_the_cached_services_run_until_the_server_answers() {
    let world = World::new("cache-reboot").await;
    let a = world.declare("a", "ticker", json!(null));
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let (daemon, _) = start(&world, &setup).await;
    assert!(world.wait_running(&[&a]).await, "{}", daemon.output());
    let cache = eventually(CONVERGE, || async {
        std::fs::read_to_string(cache_path(&world)).ok()
    })
    .await
    .unwrap_or_else(|| panic!("the answer was never cached: {}", daemon.output()));
    assert!(cache.contains(&a), "{cache}");
    assert!(
        !cache.contains(&world.fake.service_key()),
        "the API key is never cached"
    );

    // The reboot: ashtray stops, the containers are gone, the server is down.
    stop(daemon).await;
    world.engine.clean(&world.prefix).await;
    assert!(world.wait_running(&[]).await);
    world.fake.go_away().await;
    let (daemon, api) = start(&world, &setup).await;
    assert!(
        world.wait_running(&[&a]).await,
        "the cached service did not run: {}",
        daemon.output()
    );
    let shown = eventually(CONVERGE, || async {
        service(&api, &a)
            .await
            .filter(|s| s["state"] == "running" && s["source"] == "cache")
    })
    .await
    .unwrap_or_else(|| panic!("not shown as cached: {}", daemon.output()));
    assert!(shown["unreachable_since_ms"].as_u64().is_some(), "{shown}");
    assert!(
        daemon
            .output()
            .contains("running its last answer, from the cache"),
        "{}",
        daemon.output()
    );
    let metrics = api.get("/metrics").await.text;
    assert!(
        metrics.contains("ashtray_services_by_source{source=\"cache\"} 1"),
        "{metrics}"
    );

    // Meanwhile the server was changed: back, its answer takes over.
    world.fake.delete_service(&a);
    let b = world.declare("b", "ticker", json!(null));
    world.fake.come_back().await;
    assert!(
        world.wait_running(&[&b]).await,
        "the server's answer did not take over: {}",
        daemon.output()
    );
    let b_shown = service(&api, &b).await.unwrap();
    assert_eq!(b_shown["source"], "server", "{b_shown}");
    assert!(b_shown["unreachable_since_ms"].is_null());
    drop(daemon);
}

#[tokio::test]
async fn a_cache_that_does_not_parse_is_ignored_with_a_warning() {
    let world = World::new("cache-broken").await;
    let a = world.declare("a", "ticker", json!(null));
    std::fs::create_dir_all(world.state.path()).unwrap();
    std::fs::write(cache_path(&world), "{ \"services\": [ half").unwrap();
    world.fake.go_away().await;
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let (daemon, _) = start(&world, &setup).await;
    assert!(
        daemon
            .wait_for_output("does not parse", Duration::from_secs(15))
            .await,
        "no warning: {}",
        daemon.output()
    );
    // Not fatal: once the server is back, its answer runs (and is cached anew).
    world.fake.come_back().await;
    assert!(world.wait_running(&[&a]).await, "{}", daemon.output());
    let cache = eventually(CONVERGE, || async {
        std::fs::read_to_string(cache_path(&world))
            .ok()
            .filter(|c| c.contains(&a))
    })
    .await;
    assert!(cache.is_some(), "the cache was not replaced");
    drop(daemon);
}
