//! Many ashtray hosts, one dockerd, one AYON server: each keeps to its own containers.
//! 20 hosts here (`ASHTEST_FLEET` sets another count); `examples/fleet.rs` measures 100.

use std::collections::BTreeMap;
use std::time::Duration;

use ashtray_tests::api_client::Api;
use ashtray_tests::fleet::Fleet;
use ashtray_tests::images::{self, docker_cli};
use ashtray_tests::world::{slug, World};

/// Cold start of every host's container on 2 cores, beside the rest of the suite.
const ALL_UP: Duration = Duration::from_secs(240);

#[tokio::test]
async fn many_hosts_on_one_engine_keep_to_their_own_and_a_kill_disturbs_no_other() {
    images::ensure_images().expect("test images");
    let count: usize = std::env::var("ASHTEST_FLEET")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let world = World::new("fleet").await;
    let mut fleet = Fleet::start(&world, count, "500ms");
    let Some(up) = fleet.wait_all_running(&world, ALL_UP).await else {
        let running = world.running_names().await;
        let missing: Vec<String> = fleet
            .hosts
            .iter()
            .filter(|h| !running.contains(&slug(&h.service)))
            .map(|h| format!("{}: {}", h.hostname, h.daemon.output()))
            .collect();
        panic!("not all {count} hosts' services ran; running: {running:?}; the others' logs: {missing:#?}");
    };
    let before: BTreeMap<String, String> = up.into_iter().collect();
    assert_eq!(before.len(), count);

    // Each host shows its own service and nothing of the others'.
    for host in &fleet.hosts {
        let token = host.setup.token();
        let view = Api::new(&host.setup.control_url(), Some(&token))
            .get("/api/v1/host")
            .await
            .json;
        let shown: Vec<&str> = view["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(shown, [host.service.as_str()], "{}", host.hostname);
        assert_eq!(
            view["unclaimed"],
            serde_json::json!([]),
            "{}",
            host.hostname
        );
    }

    // One host's ashtray dies (its service keeps running: nobody else may touch it), and
    // another host's service is killed (only its own host restarts it).
    let dead = &fleet.hosts[0];
    dead.daemon.signal("KILL");
    let killed = &fleet.hosts[1];
    let killed_id = before[&slug(&killed.service)].clone();
    let kill = docker_cli().args(["kill", &killed_id]).output().unwrap();
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let after: BTreeMap<String, String> = fleet
        .wait_all_running(&world, ALL_UP)
        .await
        .expect("the killed service runs again")
        .into_iter()
        .collect();
    // Every living host has heartbeated at least three more times since: time enough to
    // touch another's container, had any host wanted to.
    assert!(
        world.wait_heartbeats(3 * (count - 1), 200).await,
        "the hosts stopped heartbeating"
    );
    let settled: BTreeMap<String, String> = world.running_ids().await.into_iter().collect();
    assert_eq!(settled, after, "containers changed after the restart");
    for (name, id) in &before {
        if *name == slug(&killed.service) {
            assert_ne!(&after[name], id, "{name}: replaced by its own host");
        } else {
            assert_eq!(&after[name], id, "{name}: no other host touched it");
        }
    }
    for host in fleet.hosts.iter_mut().skip(1) {
        assert!(
            host.daemon.wait_exit(Duration::ZERO).await.is_none(),
            "{} exited: {}",
            host.hostname,
            host.daemon.output()
        );
    }
}
