//! A clean Debian root made by `debootstrap` (minbase): a machine that has never seen
//! what the packages bring, to install them into as an admin would, or (imported with
//! `docker import`) the base of a container image when no registry can be reached.

use std::path::Path;
use std::process::{Command, Output};

/// Debian's release the clean root is made of: the one the packages are built on.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

pub fn run(command: &mut Command) -> Output {
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

pub fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Debian root with nothing but the minimal base, its package lists fresh. Removed
/// when dropped.
pub struct CleanRoot {
    dir: tempfile::TempDir,
}

impl CleanRoot {
    pub fn minimal() -> CleanRoot {
        CleanRoot::with(&[])
    }

    /// The minimal base and the packages `include`.
    pub fn with(include: &[&str]) -> CleanRoot {
        let dir = tempfile::Builder::new()
            .prefix("ashtray-clean-root-")
            .tempdir_in("/var/tmp")
            .expect("a directory for the clean root");
        let mut debootstrap = Command::new("debootstrap");
        debootstrap.arg("--variant=minbase");
        if !include.is_empty() {
            debootstrap.arg(format!("--include={}", include.join(",")));
        }
        run(debootstrap.arg(SUITE).arg(dir.path()).arg(MIRROR));
        let root = CleanRoot { dir };
        root.chroot(&["apt-get", "update", "-qq"]);
        root
    }

    /// The names of the packages installed in the root.
    pub fn packages(&self) -> Vec<String> {
        text(&self.chroot(&["dpkg-query", "-W", "-f", "${Package}\n"]))
            .lines()
            .map(String::from)
            .collect()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn chroot(&self, args: &[&str]) -> Output {
        run(Command::new("chroot")
            .arg(self.path())
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
    }

    /// `apt install ./package.deb`, as the README says, but without the packages it
    /// only recommends (the container engine): what the package itself needs is what
    /// is checked.
    /// Installs `package` with apt as an admin would; the names of the packages it
    /// brought (the package itself and what it pulled).
    pub fn install(&self, package: &Path) -> Vec<String> {
        let before = self.packages();
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
        self.packages()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect()
    }
}

impl CleanRoot {
    /// The root as a container image `tag` of the engine `docker` speaks to (`docker
    /// import`), without the package lists and caches, as Debian's own slim image comes.
    pub fn import_as_image(&self, mut docker: Command, tag: &str) {
        for cache in ["var/lib/apt/lists", "var/cache/apt"] {
            let dir = self.path().join(cache);
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_file() {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(self.path())
            .args(["-c", "."])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("running tar");
        let stdout = tar.stdout.take().expect("tar's output");
        run(docker
            .args(["import", "--change", "CMD [\"bash\"]", "-", tag])
            .stdin(stdout));
        assert!(tar.wait().expect("tar").success(), "tar of the root failed");
    }
}
