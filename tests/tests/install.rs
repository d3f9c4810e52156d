//! The packages, installed as an admin would install them: the server package with apt
//! into a clean Debian root made by debootstrap (a machine that has never seen GTK or
//! WebKit), its binary run there, and its systemd unit checked by `systemd-analyze`.
//!
//! The tray app's package likewise: apt pulls WebKitGTK and GTK, which it declares, and
//! both its binaries run there: `ashtray`, the always-on tray host, linking no GTK/WebKit,
//! and `ashtray-window` beside it, the GUI build that the host starts for each window.
//!
//! `scripts/test.sh` builds the packages first (`scripts/package-daemon.sh`,
//! `scripts/package-desktop.sh`) and names them in `ASHTRAY_DAEMON_DEB` and
//! `ASHTRAY_DESKTOP_DEB`.

use std::path::PathBuf;
use std::process::Command;

use ashtray_tests::debian_root::{text, CleanRoot};

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
    let root = CleanRoot::minimal();
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
    let pulled = root.install(&package);

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

#[test]
fn the_desktop_package_pulls_its_libraries_on_a_clean_debian_and_runs_there() {
    let package = package_from_env("ASHTRAY_DESKTOP_DEB", "scripts/package-desktop.sh");
    let root = CleanRoot::minimal();
    let pulled = root.install(&package);
    // What the tray app needs came with it, declared by the package.
    for library in ["ashtray", "libwebkit2gtk-4.1-0", "libgtk-3-0"] {
        assert!(
            pulled.iter().any(|p| p == library),
            "apt did not install {library}; it installed {pulled:?}"
        );
    }
    // The tray is a StatusNotifierItem over D-Bus (ksni): no appindicator library, which
    // a desktop without one would lack.
    assert!(
        !pulled.iter().any(|p| p.contains("appindicator")),
        "the package still pulls an appindicator library: {pulled:?}"
    );
    // Every library each binary links is there: both start and name their build.
    for binary in ["ashtray", "ashtray-window"] {
        let version = text(&root.chroot(&[binary, "--version"]));
        assert!(
            version.starts_with(&format!("ashtray {} (commit ", env!("CARGO_PKG_VERSION"))),
            "{binary} --version: {version}"
        );
    }
    // The one that runs all day links no GTK/WebKit (what a process costs, BENCHMARKS.md);
    // the window does, and finds them all.
    let host_links = text(&root.chroot(&["ldd", "/usr/bin/ashtray"]));
    let gui_libraries = |links: &str| -> Vec<String> {
        links
            .lines()
            .filter(|l| {
                ["gtk", "webkit", "gdk", "soup"]
                    .iter()
                    .any(|g| l.contains(g))
            })
            .map(|l| l.trim().to_string())
            .collect()
    };
    assert!(
        gui_libraries(&host_links).is_empty(),
        "the installed tray host links {:?}",
        gui_libraries(&host_links)
    );
    let window_links = text(&root.chroot(&["ldd", "/usr/bin/ashtray-window"]));
    assert!(
        window_links.contains("libwebkit2gtk-4.1") && !window_links.contains("not found"),
        "the installed window's libraries: {window_links}"
    );
    // A menu entry, icons, and the tray at login.
    let desktop =
        std::fs::read_to_string(root.path().join("usr/share/applications/ashtray.desktop"))
            .expect("the package installs a desktop entry");
    assert!(desktop.lines().any(|l| l == "Exec=ashtray"), "{desktop}");
    let autostart = std::fs::read_to_string(root.path().join("etc/xdg/autostart/ashtray.desktop"))
        .expect("the package installs an autostart entry");
    assert!(
        autostart.lines().any(|l| l == "Exec=ashtray --hidden"),
        "{autostart}"
    );
    for size in ["32x32", "128x128"] {
        let icon = root
            .path()
            .join(format!("usr/share/icons/hicolor/{size}/apps/ashtray.png"));
        assert!(icon.exists(), "no {}", icon.display());
    }
}
