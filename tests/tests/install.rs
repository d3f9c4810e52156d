//! The packages, installed as an admin would install them: the server package with apt
//! into a clean Debian root made by debootstrap (a machine that has never seen GTK or
//! WebKit), its binary run there, and its systemd unit checked by `systemd-analyze`.
//!
//! `scripts/test.sh` builds the package first (`scripts/package-daemon.sh`) and names it
//! in `ASHTRAY_DAEMON_DEB`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Debian's release the clean root is made of: the one the packages are built on.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Debian root with nothing but the minimal base, its package lists fresh. Removed
/// when dropped.
struct CleanRoot {
    dir: tempfile::TempDir,
}

impl CleanRoot {
    fn new() -> CleanRoot {
        let dir = tempfile::Builder::new()
            .prefix("ashtray-clean-root-")
            .tempdir_in("/var/tmp")
            .expect("a directory for the clean root");
        run(Command::new("debootstrap")
            .args(["--variant=minbase", SUITE])
            .arg(dir.path())
            .arg(MIRROR));
        let root = CleanRoot { dir };
        root.chroot(&["apt-get", "update", "-qq"]);
        root
    }

    /// The names of the packages installed in the root.
    fn packages(&self) -> Vec<String> {
        text(&self.chroot(&["dpkg-query", "-W", "-f", "${Package}\n"]))
            .lines()
            .map(String::from)
            .collect()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn chroot(&self, args: &[&str]) -> Output {
        run(Command::new("chroot")
            .arg(self.path())
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
    }

    /// `apt install ./package.deb`, as the README says, but without the packages it
    /// only recommends (the container engine): what the package itself needs is what
    /// is checked.
    fn install(&self, package: &Path) {
        let name = package.file_name().expect("a package file name");
        let inside = Path::new("/tmp").join(name);
        std::fs::copy(package, self.path().join(inside.strip_prefix("/").unwrap()))
            .expect("copying the package into the root");
        self.chroot(&[
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            inside.to_str().unwrap(),
        ]);
    }
}

fn package_from_env(variable: &str, how: &str) -> PathBuf {
    let path = std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: build the package first ({how}), or run scripts/test.sh")
    });
    let path = PathBuf::from(path);
    assert!(path.exists(), "{} does not exist", path.display());
    path
}

#[test]
fn the_daemon_package_installs_on_a_clean_debian_without_gtk_and_its_unit_verifies() {
    let package = package_from_env("ASHTRAY_DAEMON_DEB", "scripts/package-daemon.sh");
    let root = CleanRoot::new();
    // A server as it comes: systemd runs it; the container engine (its group) was
    // installed first.
    root.chroot(&[
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "systemd",
    ]);
    root.chroot(&["groupadd", "--system", "docker"]);
    let before = root.packages();
    root.install(&package);
    let pulled: Vec<String> = root
        .packages()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();

    // The binary runs there and names its build.
    let version = text(&root.chroot(&["ashtray", "--version"]));
    assert!(
        version.starts_with(&format!("ashtray {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    // Nothing of a desktop came with it.
    assert!(
        pulled.iter().any(|p| p == "ashtray-daemon"),
        "installed: {pulled:?}"
    );
    let gui: Vec<&String> = pulled
        .iter()
        .filter(|p| {
            ["gtk", "webkit", "gdk", "soup", "x11"]
                .iter()
                .any(|g| p.contains(g))
        })
        .collect();
    assert!(
        gui.is_empty(),
        "the daemon package pulled in {gui:?} (all it pulled: {pulled:?})"
    );

    // Its user, with the engine's socket through the docker group and nothing more, its
    // settings (holding the API key: not world-readable) and its unit.
    let groups = text(&root.chroot(&["id", "-nG", "ashtray"]));
    let mut groups: Vec<&str> = groups.split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["ashtray", "docker"]);
    let env = text(&root.chroot(&["stat", "-c", "%a %U:%G", "/etc/ashtray/env"]));
    assert_eq!(env.trim(), "640 root:ashtray");
    let unit = root.path().join("usr/lib/systemd/system/ashtray.service");
    let unit_text = std::fs::read_to_string(&unit).expect("the package installs ashtray.service");
    for line in [
        "ExecStart=/usr/bin/ashtray --daemon",
        "Restart=on-failure",
        "EnvironmentFile=/etc/ashtray/env",
        "StateDirectory=ashtray",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "User=ashtray",
    ] {
        assert!(
            unit_text.lines().any(|l| l == line),
            "the unit lacks {line}"
        );
    }
    // systemd's own check of the unit, against the root it is installed in (where
    // /usr/bin/ashtray exists).
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg("/usr/lib/systemd/system/ashtray.service")
        .output()
        .expect("running systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success(), "systemd-analyze verify: {said}");
    assert!(
        !said.contains("ashtray.service"),
        "systemd-analyze has something to say about the unit: {said}"
    );
}
