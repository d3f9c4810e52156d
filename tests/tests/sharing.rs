//! One engine shared with ash: during a migration host by host, ash runs one AYON host's
//! services and ashtray another's on the same Docker engine. ash labels no host, so
//! ashtray must tell its own from ash's others by asking the server, and leave alone
//! whatever is not provably its own to remove.

use std::time::Duration;

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::ash::{run_like_ash, AshService};
use ashtray_tests::fake_ayon::Fault;
use ashtray_tests::harness::{eventually, unique};
use ashtray_tests::images;
use ashtray_tests::world::{slug, World, CONVERGE};
use serde_json::{json, Value};

fn ash_ticker<'a>(name: &'a str) -> AshService<'a> {
    AshService {
        name,
        addon_name: "ticker",
        addon_version: "1.0.0",
        service: "ticker",
        image: images::TICKER,
        env: &[],
    }
}

/// The container ids of `names` that run now, in order; `None` for one that does not.
async fn ids_of(world: &World, names: &[String]) -> Vec<Option<String>> {
    let running = world.running_ids().await;
    names
        .iter()
        .map(|name| {
            running
                .iter()
                .find(|(container, _)| *container == slug(name))
                .map(|(_, id)| id.clone())
        })
        .collect()
}

/// What the host state says about the container of `service` among the unclaimed ones.
async fn unclaimed_entry(api: &Api, service: &str) -> Option<Value> {
    let host = api.get("/api/v1/host").await.json;
    host["unclaimed"]
        .as_array()?
        .iter()
        .find(|entry| entry["service"] == service)
        .cloned()
}

/// ash runs three services for another host on the engine ashtray uses: they keep their
/// ids through many ticks, ashtray's own service runs beside them, and the log and the
/// host state name the host they belong to.
#[tokio::test]
async fn ash_containers_of_another_host_are_left_alone() {
    let world = World::new("share").await;
    let mine = world.declare("mine", "ticker", Value::Null);
    let other_host = unique("host-ash");
    world.fake.add_host(&other_host);
    let theirs: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|suffix| {
            let name = world.service(&format!("theirs-{suffix}"));
            world
                .fake
                .put_service(&name, "ticker", "1.0.0", "ticker", &other_host, Value::Null)
                .expect("declaring a service of the other host");
            name
        })
        .collect();
    let started: Vec<Option<String>> = theirs
        .iter()
        .map(|name| Some(run_like_ash(&world.fake, &ash_ticker(name))))
        .collect();

    let setup = ApiSetup::new(world.state.path().join("api"));
    let daemon = setup.apply(world.launch()).spawn();
    let mut all: Vec<&str> = theirs.iter().map(String::as_str).collect();
    all.push(&mine);
    assert!(world.wait_running(&all).await, "{}", daemon.output());
    let api = Api::new(&setup.control_url(), Some(&setup.token()));
    let reason = format!("left alone: ash runs it for host {other_host}");
    for name in &theirs {
        let entry = eventually(CONVERGE, || async {
            unclaimed_entry(&api, name)
                .await
                .filter(|entry| entry["owner_host"] == other_host.as_str())
        })
        .await
        .unwrap_or_else(|| panic!("the host state never placed {name}: {}", daemon.output()));
        assert_eq!(entry["removing"], false, "{entry}");
        assert_eq!(entry["reason"], reason.as_str(), "{entry}");
    }
    // Many ticks later (at 500 ms a tick), nothing of theirs was touched.
    assert!(world.wait_heartbeats(8, 200).await);
    assert_eq!(
        ids_of(&world, &theirs).await,
        started,
        "{}",
        daemon.output()
    );
    let output = daemon.output();
    assert!(output.contains(&reason), "{output}");
    assert!(!output.contains("stopping"), "{output}");
    // Theirs are not shown as this host's services, nor their output as its log.
    let services = api.get("/api/v1/services").await.json;
    let shown: Vec<&str> = services
        .as_array()
        .expect("a list of services")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(shown, [mine.as_str()], "{services}");
    assert!(!output.contains(&format!("[{}]", theirs[0])), "{output}");
}

/// An ash container of a service the server no longer has, and one of a service the
/// server has for this host with `shouldRun` false, are removed, each with its reason;
/// while the server's service list cannot be read, both are left alone.
#[tokio::test]
async fn ash_containers_of_services_gone_or_stopped_here_are_removed() {
    let world = World::new("shareown").await;
    let mine = world.declare("mine", "ticker", Value::Null);
    let gone = world.declare("gone", "ticker", Value::Null);
    world.fake.delete_service(&gone);
    let off = world.declare("off", "ticker", Value::Null);
    world
        .fake
        .patch_service(&off, json!({"shouldRun": false}))
        .expect("stopping a service on the server");
    let names = vec![gone.clone(), off.clone()];
    let started: Vec<Option<String>> = names
        .iter()
        .map(|name| Some(run_like_ash(&world.fake, &ash_ticker(name))))
        .collect();

    // First the server answers heartbeats but not for its service list.
    world.fake.set_fault(Fault::ServicesListFails);
    let setup = ApiSetup::new(world.state.path().join("api"));
    let daemon = setup.apply(world.launch()).spawn();
    assert!(
        world.wait_running(&[&gone, &mine, &off]).await,
        "{}",
        daemon.output()
    );
    let api = Api::new(&setup.control_url(), Some(&setup.token()));
    for name in &names {
        let entry = eventually(CONVERGE, || async {
            unclaimed_entry(&api, name).await.filter(|entry| {
                entry["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("service list cannot be read"))
            })
        })
        .await
        .unwrap_or_else(|| panic!("{name} was not left alone as unknown: {}", daemon.output()));
        assert_eq!(entry["removing"], false, "{entry}");
    }
    assert!(world.wait_heartbeats(6, 200).await);
    assert_eq!(ids_of(&world, &names).await, started, "{}", daemon.output());

    // Once the list can be read, both go, each for its own reason.
    world.fake.set_fault(Fault::None);
    assert!(world.wait_running(&[&mine]).await, "{}", daemon.output());
    let output = daemon.output();
    assert!(
        output.contains("the server no longer has this service"),
        "{output}"
    );
    assert!(
        output.contains("the server has it on this host with shouldRun false"),
        "{output}"
    );
    let left = eventually(Duration::from_secs(10), || async {
        let host = api.get("/api/v1/host").await.json;
        host["unclaimed"]
            .as_array()
            .is_some_and(|list| list.is_empty())
            .then_some(())
    })
    .await;
    assert!(left.is_some(), "{}", daemon.output());
}
