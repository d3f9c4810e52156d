//! One end-to-end test's world: a fake AYON server, a unique host and service prefix, a
//! state directory, and the real engine; its containers are removed when it is dropped.

use std::time::Duration;

use serde_json::Value;

use crate::fake_ayon::FakeAyon;
use crate::harness::{eventually, unique, Engine, EngineLock, Launch};
use crate::images;

/// How long a test waits for the host to converge.
pub const CONVERGE: Duration = Duration::from_secs(30);

pub struct World {
    pub fake: FakeAyon,
    pub engine: Engine,
    pub host: String,
    pub prefix: String,
    pub state: tempfile::TempDir,
    _lock: EngineLock,
}

impl World {
    /// A world that shares the engine with other tests.
    pub async fn new(name: &str) -> World {
        Self::with_lock(name, EngineLock::shared()).await
    }

    /// A world that has the engine to itself (for tests that restart it or leave
    /// containers other hosts could mistake for theirs).
    pub async fn alone(name: &str) -> World {
        Self::with_lock(name, EngineLock::exclusive()).await
    }

    /// A shared world whose fake server listens on every address of this machine, so
    /// that containers (ashtray's own image) reach it.
    pub async fn reachable_from_containers(name: &str) -> World {
        let everywhere = std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0));
        Self::with_fake(
            name,
            EngineLock::shared(),
            FakeAyon::start_on(everywhere).await,
        )
        .await
    }

    async fn with_lock(name: &str, lock: EngineLock) -> World {
        Self::with_fake(name, lock, FakeAyon::start().await).await
    }

    async fn with_fake(name: &str, lock: EngineLock, fake: FakeAyon) -> World {
        let engine = Engine::connect().await;
        let host = unique(&format!("host-{name}"));
        fake.add_host(&host);
        fake.add_addon(
            "ticker",
            "1.0.0",
            &[
                ("ticker", images::TICKER),
                ("noterm", images::NOTERM),
                ("crasher", images::CRASHER),
                ("chatty", images::CHATTY),
                ("burst", images::BURST),
                ("wordy", images::WORDY),
                ("oomer", images::OOMER),
                // No command: the engine refuses to create its container, with a long error.
                ("nocmd", images::BUSYBOX),
                ("sickly", images::SICKLY),
                ("bare", ""),
            ],
        );
        fake.add_addon("ticker", "2.0.0", &[("ticker", images::TICKER_2)]);
        World {
            fake,
            engine,
            host,
            prefix: unique(name),
            state: tempfile::tempdir().expect("a state directory"),
            _lock: lock,
        }
    }

    pub fn service(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    /// Declares service `<prefix>-<suffix>` of addon ticker 1.0.0 on this host.
    pub fn declare(&self, suffix: &str, service: &str, config: Value) -> String {
        let name = self.service(suffix);
        self.fake
            .put_service(&name, "ticker", "1.0.0", service, &self.host, config)
            .expect("declaring a service");
        name
    }

    /// Declares service `<prefix>-<suffix>` on this host, of an addon of its own whose one
    /// service (`probe`) runs `image` (say, one in a test registry).
    pub fn declare_image(&self, suffix: &str, image: &str) -> String {
        let addon = unique("images");
        self.fake.add_addon(&addon, "1.0.0", &[("probe", image)]);
        let name = self.service(suffix);
        self.fake
            .put_service(&name, &addon, "1.0.0", "probe", &self.host, Value::Null)
            .expect("declaring a service");
        name
    }

    pub fn launch(&self) -> Launch {
        Launch::new(&self.fake, &self.host, self.state.path().to_path_buf())
    }

    /// Names of the running containers of this world's services, sorted.
    pub async fn running_names(&self) -> Vec<String> {
        self.engine
            .running(&self.prefix)
            .await
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    /// Ids of the running containers, by container name.
    pub async fn running_ids(&self) -> Vec<(String, String)> {
        self.engine
            .running(&self.prefix)
            .await
            .into_iter()
            .map(|c| (c.name, c.id))
            .collect()
    }

    /// Waits until exactly these services' containers run (and no other of this world).
    pub async fn wait_running(&self, services: &[&str]) -> bool {
        self.wait_running_within(services, CONVERGE).await
    }

    /// [`World::wait_running`] with a wait of its own (many services take longer).
    pub async fn wait_running_within<S: AsRef<str>>(
        &self,
        services: &[S],
        timeout: Duration,
    ) -> bool {
        let mut expected: Vec<String> = services.iter().map(|s| slug(s.as_ref())).collect();
        expected.sort();
        eventually(timeout, || async {
            (self.running_names().await == expected).then_some(())
        })
        .await
        .is_some()
    }

    /// Waits until the fake has answered `count` more heartbeats of this host.
    pub async fn wait_heartbeats(&self, count: usize, status: u16) -> bool {
        let seen = |fake: &FakeAyon| {
            fake.heartbeats()
                .iter()
                .filter(|hb| hb.status == status)
                .count()
        };
        let target = seen(&self.fake) + count;
        eventually(CONVERGE, || async {
            (seen(&self.fake) >= target).then_some(())
        })
        .await
        .is_some()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let engine = self.engine.clone();
        let prefix = self.prefix.clone();
        // Leave no container behind, whatever the test's outcome.
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(engine.clean(&prefix));
        })
        .join()
        .unwrap();
    }
}

/// The container name of a service, as ash makes it.
pub fn slug(name: &str) -> String {
    ashtray_engine::slug::container_name(name)
}
