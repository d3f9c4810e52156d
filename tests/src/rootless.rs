//! Rootless Podman, as most studios run it: an unprivileged user's own `podman system
//! service` on `$XDG_RUNTIME_DIR/podman/podman.sock`, its own image store and its own
//! containers. `scripts/setup-test-env.sh` makes the user (with its subuid/subgid ranges)
//! and starts that service; the tests run as root and reach the user's socket directly.

use std::path::PathBuf;
use std::process::Command;

use bollard::Docker;

use crate::harness::Engine;
use crate::images::{self, Store};

/// The unprivileged user the rootless tests run ashtray and Podman as.
pub const USER: &str = "ashtray-rootless";

fn id(flag: &str) -> u32 {
    let output = Command::new("id")
        .args([flag, USER])
        .output()
        .expect("running id");
    assert!(
        output.status.success(),
        "no user {USER}: scripts/setup-test-env.sh makes it (with its /etc/subuid range)"
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a numeric id")
}

/// The user's runtime directory, as a login session would set `XDG_RUNTIME_DIR`.
fn runtime_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/run/user/{uid}"))
}

/// `podman` as the rootless user, in its own session's runtime directory.
pub fn podman_cli() -> Command {
    let uid = id("-u");
    let mut command = Command::new("runuser");
    command
        .args(["-u", USER, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR={}", runtime_dir(uid).display()))
        .arg(format!("HOME=/home/{USER}"))
        .arg("podman");
    command
}

pub struct RootlessPodman {
    /// The user's Podman, reached through its socket.
    pub engine: Engine,
    pub uid: u32,
    pub gid: u32,
    /// What ashtray gets as `XDG_RUNTIME_DIR`, where it should find the socket itself.
    pub runtime_dir: PathBuf,
    pub home: PathBuf,
}

impl RootlessPodman {
    /// The user's Podman with the test images in its store.
    pub async fn get() -> RootlessPodman {
        let (uid, gid) = (id("-u"), id("-g"));
        images::copy_to(Store::PodmanRootless, &[images::TICKER])
            .expect("copying the test images to the rootless user's Podman");
        let runtime_dir = runtime_dir(uid);
        let socket = format!("unix://{}/podman/podman.sock", runtime_dir.display());
        let docker = Docker::connect_with_host(&socket)
            .expect("a Podman client")
            .negotiate_version()
            .await
            .unwrap_or_else(|e| {
                panic!("the rootless Podman of {USER} answers on {socket} (scripts/setup-test-env.sh starts it): {e}")
            });
        RootlessPodman {
            engine: Engine { docker },
            uid,
            gid,
            runtime_dir,
            home: PathBuf::from(format!("/home/{USER}")),
        }
    }

    /// A scratch directory the user owns (removed when dropped).
    pub fn user_dir(&self) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("ashtray-rootless-")
            .tempdir()
            .expect("a scratch directory");
        std::os::unix::fs::chown(dir.path(), Some(self.uid), Some(self.gid))
            .expect("handing the directory to the user");
        dir
    }
}
