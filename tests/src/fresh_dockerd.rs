//! A second dockerd that a test starts for the very first time: its own data root, exec
//! root, pid file, socket and bridge interface, and no network store, so it answers as
//! the dockerd of a brand-new machine does (its `bridge` network shows a subnet but no
//! gateway). It leaves the machine's own dockerd alone: no iptables rules, no IP
//! forwarding change, its own containerd under its exec root, and `docker0` untouched
//! (dockerd deletes `docker0` when started with `--bridge none`, or restarted with
//! `--default-address-pool` on a data root that has a bridge network: this one is
//! started once, on an empty data root, with a bridge of its own).
//!
//! Dropping it stops it and removes everything it made (containers, mounts, the bridge,
//! its directory), whatever the test's outcome.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;

/// How long a first start may take (it makes its containerd, graph driver and network).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long it may take to stop its containers and itself before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// The private range the bridge's subnet is taken from, one /24 of it.
const POOL_PREFIX: &str = "10.213";

pub struct FreshDockerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Set as soon as it exists, so that a failed start removes it too.
    bridge: Option<String>,
    host: String,
}

impl FreshDockerd {
    /// Starts it and waits until it answers. Needs root (it makes a network interface).
    pub async fn start() -> FreshDockerd {
        // Short: containerd's sockets live under the exec root, and socket paths are short.
        let dir = tempfile::Builder::new()
            .prefix("ashdd-")
            .tempdir_in("/tmp")
            .expect("a directory for the second dockerd");
        let mut dockerd = FreshDockerd {
            host: format!("unix://{}", dir.path().join("docker.sock").display()),
            dir,
            child: None,
            bridge: None,
        };
        let mut command = Command::new(dockerd_bin());
        command
            .arg("--data-root")
            .arg(dockerd.path("data"))
            .arg("--exec-root")
            .arg(dockerd.path("x"))
            .arg("--pidfile")
            .arg(dockerd.path("dockerd.pid"))
            .args(["-H", &dockerd.host])
            // The machine's dockerd owns the DOCKER chains; a second one must not touch them.
            .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"]);
        // Never `--bridge none`: a dockerd started so deletes `docker0`, the machine's
        // dockerd's bridge. Its own bridge, made here without an address: dockerd gives it
        // one from a free /24 of 10.213.0.0/16, as it addresses `docker0` on a new machine.
        let (bridge, pool) = make_bridge();
        dockerd.bridge = Some(bridge.clone());
        command
            .args(["--bridge", &bridge])
            .args(["--default-address-pool", &format!("base={pool},size=24")]);
        let had_docker0 = interface_exists("docker0");
        let log = std::fs::File::create(dockerd.path("dockerd.log")).expect("dockerd's log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd's log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", dockerd_bin()));
        dockerd.child = Some(child);
        let deadline = Instant::now() + START_LIMIT;
        while dockerd.try_docker().await.is_none() {
            assert!(
                !dockerd.exited() && Instant::now() < deadline,
                "the second dockerd did not come up; its log:\n{}",
                dockerd.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Every other test's containers hang on docker0.
        assert!(
            !had_docker0 || interface_exists("docker0"),
            "starting the second dockerd removed docker0, the machine's dockerd's bridge"
        );
        dockerd
    }

    /// Its socket, as `DOCKER_HOST` takes it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The bridge interface made for it, which its `bridge` network names.
    pub fn bridge(&self) -> &str {
        self.bridge.as_deref().unwrap_or_default()
    }

    /// A client of it.
    pub async fn docker(&self) -> Docker {
        self.try_docker()
            .await
            .unwrap_or_else(|| panic!("the second dockerd stopped answering:\n{}", self.log()))
    }

    /// The docker CLI, talking to it.
    pub fn cli(&self) -> Command {
        let mut command = crate::images::docker_cli();
        command.env("DOCKER_HOST", &self.host);
        command
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default()
    }

    async fn try_docker(&self) -> Option<Docker> {
        let docker = Docker::connect_with_host(&self.host).ok()?;
        let docker = docker.negotiate_version().await.ok()?;
        docker.ping().await.ok()?;
        Some(docker)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| child.try_wait().ok().flatten().is_some())
    }

    /// SIGTERM (it stops its containers), then SIGKILL once the limit passed.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), "TERM");
        let deadline = Instant::now() + STOP_LIMIT;
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        // Killed, it leaves its containerd behind.
        if let Some(pid) = std::fs::read_to_string(self.path("x/containerd/containerd.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
        {
            signal(pid, "KILL");
        }
    }
}

impl Drop for FreshDockerd {
    fn drop(&mut self) {
        self.stop();
        unmount_under(self.dir.path());
        if let Some(bridge) = &self.bridge {
            let _ = Command::new("ip").args(["link", "del", bridge]).status();
        }
        // The directory goes with `self.dir`.
    }
}

fn dockerd_bin() -> &'static str {
    if Path::new("/usr/sbin/dockerd").exists() {
        "/usr/sbin/dockerd"
    } else {
        "dockerd"
    }
}

fn interface_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A new bridge interface, up and without an address, and a /24 no interface or route
/// of this machine overlaps, for dockerd to address it from.
fn make_bridge() -> (String, String) {
    static MADE: AtomicU32 = AtomicU32::new(0);
    let n = MADE.fetch_add(1, Ordering::Relaxed);
    // Interface names have at most 15 characters.
    let name = format!(
        "ashtest{:x}",
        ((std::process::id() << 4) | (n & 0xf)) & 0xff_ffff
    );
    let routes = Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let start = std::process::id() + n;
    let octet = (0..250)
        .map(|i| (start + i) % 250 + 1)
        .find(|octet| !routes.contains(&format!("{POOL_PREFIX}.{octet}.")))
        .expect("a free /24 in 10.213.0.0/16");
    let added = Command::new("ip")
        .args(["link", "add", &name, "type", "bridge"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        added,
        "cannot make bridge interface {name} (`ip link add {name} type bridge`): this test needs root"
    );
    let up = Command::new("ip")
        .args(["link", "set", &name, "up"])
        .status()
        .is_ok_and(|s| s.success());
    if !up {
        let _ = Command::new("ip").args(["link", "del", &name]).status();
        panic!("cannot bring bridge interface {name} up");
    }
    (name, format!("{POOL_PREFIX}.{octet}.0/24"))
}

/// Lazily unmounts whatever is still mounted below `dir` (a killed dockerd's container
/// file systems and network namespaces), deepest first, so the directory can go.
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        let _ = Command::new("umount").args(["-l", point]).status();
    }
}
