//! CPU limits and GPU requests end to end: the real `ashtray --daemon`, real dockerd and
//! the fake AYON server. What the host's `--cpus` and `--gpus` ask reaches the engine,
//! and on this machine (no NVIDIA runtime) a service that asks for GPUs fails with a
//! message that says so, through `GET /api/v1/host`, and never runs without them.

use std::time::Duration;

use ashtray_engine::container::{ContainerConfig, HostSettings};
use ashtray_engine::limits::{ByService, HostLimits};
use ashtray_engine::runtime::create_body;
use ashtray_engine::spec::{Desired, ServiceSpec};
use ashtray_engine::Secret;
use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::harness::eventually;
use ashtray_tests::images;
use ashtray_tests::world::{slug, World};
use bollard::models::DeviceRequest;
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use serde_json::Value;

#[tokio::test]
async fn cpu_limits_reach_the_engine_and_a_gpu_service_without_a_gpu_runtime_says_so() {
    let world = World::new("limits").await;
    let full = world.declare("full", "ticker", Value::Null);
    let half = world.declare("half", "ticker", Value::Null);
    let gpu = world.declare("gpu", "ticker", Value::Null);
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let daemon = setup
        .apply(world.launch())
        .arg("--cpus")
        .arg(&format!("2 {half}=0.5"))
        .arg("--gpus")
        .arg(&format!("{gpu}=all"))
        .spawn();
    let anonymous = Api::new(&setup.control_url(), None);
    assert!(
        anonymous.wait_up(&daemon).await,
        "the control API never answered"
    );
    let api = Api::new(&setup.control_url(), Some(&setup.token()));
    // A busy engine may take longer than the usual 30 s to start them.
    let mut expected = vec![slug(&full), slug(&half)];
    expected.sort();
    let ran = eventually(Duration::from_secs(180), || async {
        (world.running_names().await == expected).then_some(())
    })
    .await;
    assert!(ran.is_some(), "{}", daemon.output());
    let nano_cpus = |name: String| {
        let world = &world;
        async move {
            let (_, id) = world
                .running_ids()
                .await
                .into_iter()
                .find(|(container, _)| *container == slug(&name))
                .expect("its container runs");
            world
                .engine
                .inspect(&id)
                .await
                .host_config
                .unwrap_or_default()
                .nano_cpus
        }
    };
    assert_eq!(nano_cpus(full.clone()).await, Some(2_000_000_000));
    assert_eq!(nano_cpus(half.clone()).await, Some(500_000_000));

    // The GPU service fails, saying why, and has no container running.
    let failed = eventually(Duration::from_secs(180), || async {
        let host = api.get("/api/v1/host").await.json;
        let service = host["services"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == gpu.as_str())?
            .clone();
        service["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no GPU runtime"))
            .then_some(service)
    })
    .await
    .unwrap_or_else(|| panic!("no GPU error shown:\n{}", daemon.output()));
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.contains("NVIDIA Container Toolkit"), "{error}");
    assert!(error.contains("--gpus"), "{error}");
    assert_ne!(failed["state"], "running");
    assert!(!world.running_names().await.contains(&slug(&gpu)));
}

#[tokio::test]
async fn the_gpu_request_reaches_the_engine_as_docker_device_requests() {
    let world = World::new("gpureq").await;
    let name = world.service("gpu");
    let model = serde_json::from_value(serde_json::json!({
        "name": name, "hostname": world.host, "addonName": "ticker",
        "addonVersion": "1.0.0", "service": "ticker", "shouldRun": true, "isRunning": false,
        "lastSeen": null, "lastSeenDelta": null, "data": {"image": images::TICKER}
    }))
    .unwrap();
    let Desired::Run(spec) = ServiceSpec::from_wire(&model) else {
        panic!("a runnable spec")
    };
    let host = HostSettings {
        server_url: world.fake.url(),
        api_key: Secret::new(world.fake.service_key()),
        ayon_hostname: world.host.clone(),
        network_mode: None,
        service_api: None,
        limits: HostLimits {
            cpus: ByService::default(),
            gpus: ByService::parse("--gpus", &[format!("{name}=device=0,1")]).unwrap(),
        },
        storage_binds: Vec::new(),
    };
    let config = ContainerConfig::for_service(&spec, &host);
    // The very request ashtray makes, created (not started: no GPU here) and read back.
    let docker = &world.engine.docker;
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(config.name.clone()),
                ..Default::default()
            }),
            create_body(&config, false),
        )
        .await
        .expect("the engine takes the request");
    let kept = world.engine.inspect(&created.id).await;
    let refused = docker.start_container(&created.id, None).await;
    docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let requests = kept
        .host_config
        .unwrap_or_default()
        .device_requests
        .unwrap_or_default();
    let [DeviceRequest {
        driver,
        device_ids,
        capabilities,
        ..
    }] = requests.as_slice()
    else {
        panic!("not one device request: {requests:?}")
    };
    assert_eq!(driver.as_deref(), Some("nvidia"));
    assert_eq!(
        device_ids.as_deref(),
        Some(&["0".to_string(), "1".to_string()][..])
    );
    assert_eq!(capabilities, &Some(vec![vec!["gpu".to_string()]]));
    let refused = refused
        .expect_err("no GPU runtime on this machine")
        .to_string();
    assert!(refused.contains("nvidia"), "{refused}");
}
