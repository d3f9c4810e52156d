//! Runs the real `ashtray` binary against the fake AYON server and real dockerd, and
//! reads back what a user would see: containers, their labels and environment, the log.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
};
use bollard::Docker;

use crate::fake_ayon::FakeAyon;

/// The `ashtray` binary cargo built next to this test.
pub fn ashtray_bin() -> PathBuf {
    if let Ok(path) = std::env::var("ASHTRAY_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let bin = dir.join("ashtray");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p ashtray)",
        bin.display()
    );
    bin
}

/// Polls `check` until it gives `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A name unique to this test process, usable as a host or service name prefix.
pub fn unique(prefix: &str) -> String {
    let n: u32 = rand::random::<u32>() % 100_000;
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A running `ashtray --daemon`. Killed (SIGKILL) when dropped.
pub struct Ashtray {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    pub hostname: String,
    pub state_dir: PathBuf,
    workdir: tempfile::TempDir,
}

/// How to start one.
#[derive(Clone)]
pub struct Launch {
    pub server_url: String,
    pub api_key: String,
    pub hostname: String,
    pub state_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// Run as this unprivileged user (uid, gid) instead of the test's own.
    pub user: Option<(u32, u32)>,
}

impl Launch {
    pub fn new(fake: &FakeAyon, hostname: &str, state_dir: PathBuf) -> Launch {
        Launch {
            server_url: fake.url(),
            api_key: fake.service_key(),
            hostname: hostname.to_string(),
            // Its token and settings stay in the test's own directory, never the user's.
            env: vec![(
                "ASHTRAY_CONFIG_DIR".to_string(),
                state_dir.join("config").to_string_lossy().into_owned(),
            )],
            state_dir,
            args: vec!["--daemon".into(), "--poll-interval".into(), "500ms".into()],
            user: None,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs it as the user `uid`/`gid` (the test runs as root): its working directory is
    /// handed to that user; its state and config directories are the caller's to give.
    pub fn as_user(mut self, uid: u32, gid: u32) -> Launch {
        self.user = Some((uid, gid));
        self
    }

    pub fn arg(mut self, arg: &str) -> Launch {
        self.args.push(arg.into());
        self
    }

    pub fn spawn(&self) -> Ashtray {
        self.spawn_bin(&ashtray_bin())
    }

    /// [`Launch::spawn`] of another build of ashtray (a benchmark's baseline).
    pub fn spawn_bin(&self, bin: &std::path::Path) -> Ashtray {
        let workdir = tempfile::tempdir().expect("a scratch working directory");
        let mut command = Command::new(bin);
        command
            .args(&self.args)
            .current_dir(workdir.path())
            .env("AYON_SERVER_URL", &self.server_url)
            .env("AYON_API_KEY", &self.api_key)
            .env("AYON_HOSTNAME", &self.hostname)
            .env("ASHTRAY_STATE_DIR", &self.state_dir)
            // `ASHTRAY_TEST_LOG=debug` for a closer look at a failing test's daemon.
            .env(
                "RUST_LOG",
                std::env::var("ASHTRAY_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("AYON_NETWORK")
            .env_remove("AYON_NETWORK_MODE")
            .env_remove("AYON_USE_PODMAN")
            .env_remove("CONTAINER_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(host) = std::env::var("ASHTEST_DOCKER_HOST") {
            command.env("DOCKER_HOST", host);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt as _;
            std::os::unix::fs::chown(workdir.path(), Some(uid), Some(gid))
                .expect("handing the working directory to the user");
            command.uid(uid).gid(gid);
        }
        let mut child = command.spawn().expect("starting ashtray");
        let output = collect_output(&mut child);
        Ashtray {
            child,
            output,
            hostname: self.hostname.clone(),
            state_dir: self.state_dir.clone(),
            workdir,
        }
    }
}

/// Reads a child's stdout and stderr, line by line, into one list (echoed with
/// `ASHTEST_ECHO` set).
pub fn collect_output(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let output = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if std::env::var("ASHTEST_ECHO").is_ok() {
                    eprintln!("[ashtray] {line}");
                }
                output.lock().unwrap().push(line);
            }
        });
    }
    output
}

impl Ashtray {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn workdir(&self) -> &std::path::Path {
        self.workdir.path()
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Waits until a printed line contains `needle`.
    pub async fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_output_after(0, needle, timeout).await
    }

    /// How many lines it printed so far: a mark for [`Ashtray::wait_for_output_after`].
    pub fn mark(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// Waits until a line printed after `mark` contains `needle`.
    pub async fn wait_for_output_after(
        &self,
        mark: usize,
        needle: &str,
        timeout: Duration,
    ) -> bool {
        eventually(timeout, || async {
            let lines = self.output.lock().unwrap();
            lines
                .iter()
                .skip(mark)
                .any(|line| line.contains(needle))
                .then_some(())
        })
        .await
        .is_some()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} failed");
    }

    /// Waits for it to exit; `None` if it is still running after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads drain the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Ashtray {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `podman system service` listens in the tests.
pub const PODMAN_SOCKET: &str = "unix:///run/podman/podman.sock";

/// One service container as a test sees it.
#[derive(Debug, Clone)]
pub struct SeenContainer {
    pub id: String,
    pub name: String,
    pub running: bool,
    pub labels: HashMap<String, String>,
}

/// The real engine, for the tests' own eyes.
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
}

impl Engine {
    pub async fn connect() -> Engine {
        crate::images::ensure_images().expect("building the test images");
        let docker = match std::env::var("ASHTEST_DOCKER_HOST") {
            Ok(host) => Docker::connect_with_host(&host),
            Err(_) => Docker::connect_with_local_defaults(),
        }
        .expect("a Docker client")
        .negotiate_version()
        .await
        .expect("dockerd answers: is it running?");
        Engine { docker }
    }

    /// Podman's Docker-compatible API on its system socket, with the test images copied
    /// over from Docker (`docker save | podman load`).
    pub async fn podman() -> Engine {
        crate::images::ensure_images().expect("building the test images");
        crate::images::copy_to(crate::images::Store::Podman, &[crate::images::TICKER])
            .expect("copying the test images to Podman");
        let docker = Docker::connect_with_host(PODMAN_SOCKET)
            .expect("a Podman client")
            .negotiate_version()
            .await
            .expect("podman system service answers on /run/podman/podman.sock (scripts/setup-test-env.sh starts it)");
        Engine { docker }
    }

    /// Service containers (running or not) whose service name starts with `prefix`.
    pub async fn containers(&self, prefix: &str) -> Vec<SeenContainer> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec!["io.ayon.service.service_name".to_string()],
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        // Podman names a container it is still cleaning up after a kill `stopped`, a
        // state bollard's list does not know: that answer does not parse, and the next
        // one, a moment later, says `exited`. Asked again then, for up to 5 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        let list = loop {
            match self.docker.list_containers(Some(options.clone())).await {
                Ok(list) => break list,
                Err(bollard::errors::Error::JsonDataError { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("listing containers: {error}"),
            }
        };
        let mut seen: Vec<SeenContainer> = list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let service = labels.get("io.ayon.service.service_name")?;
                if !service.starts_with(prefix) {
                    return None;
                }
                Some(SeenContainer {
                    id: c.id?,
                    name: c.names?.first()?.trim_start_matches('/').to_string(),
                    running: c.state.map(|s| s.as_ref() == "running").unwrap_or(false),
                    labels,
                })
            })
            .collect();
        seen.sort_by(|a, b| a.name.cmp(&b.name));
        seen
    }

    pub async fn running(&self, prefix: &str) -> Vec<SeenContainer> {
        self.containers(prefix)
            .await
            .into_iter()
            .filter(|c| c.running)
            .collect()
    }

    /// The container's environment, as `KEY=value`.
    pub async fn env(&self, id: &str) -> Vec<String> {
        self.inspect(id)
            .await
            .config
            .and_then(|c| c.env)
            .unwrap_or_default()
    }

    /// `key` in the environment of the running container of service `service`, as the
    /// service itself reads it.
    pub async fn service_env(&self, service: &str, key: &str) -> Option<String> {
        let container_name = ashtray_engine::slug::container_name(service);
        let container = self
            .running(service)
            .await
            .into_iter()
            .find(|c| c.name == container_name)?;
        let prefix = format!("{key}=");
        self.env(&container.id)
            .await
            .into_iter()
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
    }

    pub async fn inspect(&self, id: &str) -> bollard::models::ContainerInspectResponse {
        self.docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .expect("inspecting a container")
    }

    /// Removes every service container whose service name starts with `prefix`.
    pub async fn clean(&self, prefix: &str) {
        for container in self.containers(prefix).await {
            let _ = self
                .docker
                .remove_container(
                    &container.id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
}

/// Tests that disturb the whole engine (restarting dockerd, leaving containers without
/// ashtray's host label) run alone; all others share. Across processes: file locks. A
/// second "turnstile" lock gives a waiting exclusive test priority, so a stream of
/// shared tests cannot starve it.
pub struct EngineLock(#[allow(dead_code)] std::fs::File);

impl EngineLock {
    fn open(name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join(name))
            .expect("opening an engine test lock")
    }

    pub fn shared() -> EngineLock {
        // Pass the turnstile: blocks while an exclusive test waits or runs.
        let turnstile = Self::open("ashtest-engine-turnstile.lock");
        turnstile
            .lock_shared()
            .expect("passing the engine turnstile");
        let file = Self::open("ashtest-engine.lock");
        file.lock_shared().expect("a shared engine lock");
        drop(turnstile);
        EngineLock(file)
    }

    pub fn exclusive() -> EngineLock {
        let turnstile = Self::open("ashtest-engine-turnstile.lock");
        turnstile.lock().expect("holding the engine turnstile");
        let file = Self::open("ashtest-engine.lock");
        file.lock().expect("the exclusive engine lock");
        drop(turnstile);
        EngineLock(file)
    }
}
