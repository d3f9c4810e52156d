//! Many ashtray hosts on one container engine and one AYON server, as a render farm's
//! service hosts would share a build server: each with its own AYON host name, listeners
//! and state directory, and one service of its own. For the many-hosts test and its
//! benchmark (`examples/fleet.rs`).

use std::time::Duration;

use serde_json::Value;

use crate::api_client::ApiSetup;
use crate::harness::{eventually, unique, Ashtray};
use crate::world::{slug, World};

pub struct FleetHost {
    pub hostname: String,
    /// Its one service.
    pub service: String,
    pub setup: ApiSetup,
    pub daemon: Ashtray,
    _state: tempfile::TempDir,
}

pub struct Fleet {
    pub hosts: Vec<FleetHost>,
}

impl Fleet {
    /// `count` hosts of `world`'s server, each heartbeating every `poll` (`2s`, `500ms`)
    /// and declared one ticker service, all started at once.
    pub fn start(world: &World, count: usize, poll: &str) -> Fleet {
        let hosts = (0..count)
            .map(|i| {
                let hostname = unique(&format!("host-fleet{i}"));
                world.fake.add_host(&hostname);
                let service = world.service(&format!("h{i}"));
                world
                    .fake
                    .put_service(
                        &service,
                        "ticker",
                        "1.0.0",
                        "ticker",
                        &hostname,
                        Value::Null,
                    )
                    .expect("declaring a host's service");
                let state = tempfile::tempdir().expect("a state directory");
                let setup = ApiSetup::new(state.path().join("config"));
                let mut launch = world.launch();
                launch.hostname = hostname.clone();
                launch.state_dir = state.path().to_path_buf();
                if let Some(at) = launch.args.iter().position(|a| a == "--poll-interval") {
                    launch.args[at + 1] = poll.to_string();
                }
                let daemon = setup.apply(launch).spawn();
                FleetHost {
                    hostname,
                    service,
                    setup,
                    daemon,
                    _state: state,
                }
            })
            .collect();
        Fleet { hosts }
    }

    pub fn services(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.service.as_str()).collect()
    }

    /// Waits until every host's service runs; the container ids by container name.
    pub async fn wait_all_running(
        &self,
        world: &World,
        timeout: Duration,
    ) -> Option<Vec<(String, String)>> {
        let mut expected: Vec<String> = self.services().iter().map(|s| slug(s)).collect();
        expected.sort();
        eventually(timeout, || async {
            let running = world.running_ids().await;
            let names: Vec<&String> = running.iter().map(|(name, _)| name).collect();
            (names == expected.iter().collect::<Vec<_>>()).then_some(running)
        })
        .await
    }
}
