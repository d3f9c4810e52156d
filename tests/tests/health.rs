//! A container's own HEALTHCHECK end to end: the real `ashtray --daemon`, real dockerd
//! and the fake AYON server. The state a user reads (`GET /api/v1/host`, `/metrics`)
//! says what the check says, and a container unhealthy for longer than the host allows
//! is replaced, with the reason kept.

use std::time::Duration;

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::harness::eventually;
use ashtray_tests::world::World;
use serde_json::Value;

#[tokio::test]
async fn a_container_unhealthy_too_long_is_replaced_and_the_reason_is_shown() {
    let world = World::new("health").await;
    let name = world.declare("sick", "sickly", Value::Null);
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let daemon = setup
        .apply(world.launch())
        .arg("--unhealthy-restart-after")
        .arg("2s")
        .spawn();
    let anonymous = Api::new(&setup.control_url(), None);
    assert!(
        anonymous.wait_up(&daemon).await,
        "the control API never answered"
    );
    let doc = anonymous.get("/api/v1/openapi.json").await.json;
    let api = Api::new(&setup.control_url(), Some(&setup.token())).checked_against(doc);
    let service = |host: &Value| {
        host["services"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == name.as_str()))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let seen = |health: &'static str| {
        let api = &api;
        async move {
            eventually(Duration::from_secs(180), || async {
                let host = api.get("/api/v1/host").await.json;
                (service(&host)["health"] == health).then(|| service(&host))
            })
            .await
        }
    };
    // Its first seconds are healthy, then its check fails: shown as it happens.
    let healthy = seen("healthy").await;
    assert!(
        healthy.is_some(),
        "never shown healthy:\n{}",
        daemon.output()
    );
    let unhealthy = seen("unhealthy").await;
    assert!(
        unhealthy.is_some(),
        "never shown unhealthy:\n{}",
        daemon.output()
    );
    assert_eq!(
        unhealthy.unwrap()["restarts"],
        0,
        "replaced before the limit"
    );
    let metrics = api.get("/metrics").await.text;
    assert!(
        metrics.contains("ashtray_services_health{health=\"unhealthy\"} 1"),
        "{metrics}"
    );
    // Unhealthy for 2 s: replaced, and the reason is kept and shown.
    let replaced = eventually(Duration::from_secs(180), || async {
        let host = api.get("/api/v1/host").await.json;
        let s = service(&host);
        (s["restarts"].as_u64() >= Some(1) && s["state"] == "running").then_some(s)
    })
    .await
    .unwrap_or_else(|| panic!("never replaced:\n{}", daemon.output()));
    let reason = replaced["last_restart_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("its health check said unhealthy for "),
        "reason: {replaced:#}"
    );
    assert!(
        daemon
            .output()
            .contains("restarted: its health check said unhealthy"),
        "{}",
        daemon.output()
    );
}
