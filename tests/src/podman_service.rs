//! A `podman system service` of the test's own, on a socket in a fresh directory, for the
//! tests that need Podman configured for them: a registry on loopback speaks plain HTTP,
//! which Podman takes only from a registry its `registries.conf` calls insecure, and the
//! shared service (`/run/podman/podman.sock`) reads that file once, when it starts. This
//! one reads its own file (`CONTAINERS_REGISTRIES_CONF`); it keeps the machine's rootful
//! storage, so it sees the same images and containers. It is given no credentials of its
//! own (no `REGISTRY_AUTH_FILE`, and root's `podman login` file is checked absent), so a
//! pull it makes with credentials got them from its client. Killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bollard::Docker;

use crate::harness::{eventually, Engine};

/// Where root's `podman login` keeps credentials when no runtime directory is set: the
/// file a rootful service would read for itself.
const ROOT_AUTH_FILE: &str = "/run/containers/0/auth.json";

pub struct PodmanService {
    child: Child,
    dir: tempfile::TempDir,
}

impl PodmanService {
    /// A service that takes plain HTTP from `insecure` registries (`host:port` each).
    pub async fn start(insecure: &[&str]) -> PodmanService {
        assert!(
            !Path::new(ROOT_AUTH_FILE).exists(),
            "{ROOT_AUTH_FILE} exists (a `podman login` as root): the Podman service would take \
             its credentials itself; remove it (`podman logout --all`) to run this test"
        );
        let dir = tempfile::tempdir().expect("a directory for the Podman service");
        let mut conf = String::from("unqualified-search-registries = []\n");
        for registry in insecure {
            conf.push_str(&format!(
                "\n[[registry]]\nlocation = \"{registry}\"\ninsecure = true\n"
            ));
        }
        let conf_path = dir.path().join("registries.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let socket = dir.path().join("podman.sock");
        let log = std::fs::File::create(dir.path().join("service.log")).unwrap();
        let child = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .env("CONTAINERS_REGISTRIES_CONF", &conf_path)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DOCKER_CONFIG")
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("podman runs: run scripts/setup-test-env.sh");
        let service = PodmanService { child, dir };
        let url = service.url();
        let up = eventually(Duration::from_secs(30), || async {
            let docker = Docker::connect_with_host(&url).ok()?;
            docker.ping().await.ok()
        })
        .await;
        assert!(
            up.is_some(),
            "the Podman service never answered on {url}: {}",
            service.log()
        );
        service
    }

    /// Its address, as CONTAINER_HOST takes it.
    pub fn url(&self) -> String {
        format!("unix://{}", self.dir.path().join("podman.sock").display())
    }

    /// The service, for the test's own eyes.
    pub async fn engine(&self) -> Engine {
        let docker = Docker::connect_with_host(&self.url())
            .expect("a Podman client")
            .negotiate_version()
            .await
            .expect("the test's Podman service answers");
        Engine { docker }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("service.log")).unwrap_or_default()
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
