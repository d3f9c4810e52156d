//! Start at login (Settings): an entry in the desktop's autostart that starts the tray
//! host in the tray (`ashtray --hidden`). It is written with `auto-launch` (XDG autostart
//! on Linux, a launch agent on macOS, the Run key on Windows), the crate Tauri's autostart
//! plugin wraps; not the plugin itself, which always names the running executable: here
//! that is the window (`ashtray-window`, with GTK/WebKit), while the process that runs all
//! day must be the tray host without them.
//!
//! On Linux the desktop package also installs a system-wide entry,
//! `/etc/xdg/autostart/ashtray.desktop`. `auto-launch` only sees the user's own entry, so
//! on its own the box read unticked while the tray started at every login, and unticking
//! it removed nothing that mattered. XDG autostart lets a user's entry of the same name
//! override the system's, and `Hidden=true` there turns it off: that is what unticking
//! writes when a system entry exists.

#[cfg(target_os = "linux")]
use std::path::{Path, PathBuf};

use auto_launch::{AutoLaunch, AutoLaunchBuilder};

/// The autostart entry of the tray host that this window belongs to.
fn auto_launch() -> anyhow::Result<AutoLaunch> {
    let host = super::window::host_binary()?;
    let entry = AutoLaunchBuilder::new()
        .set_app_name("ashtray")
        .set_app_path(&host.to_string_lossy())
        .set_args(&["--hidden"])
        .build()?;
    Ok(entry)
}

/// Whether the tray host starts at login, as the desktop will see it.
pub fn is_enabled() -> anyhow::Result<bool> {
    #[cfg(target_os = "linux")]
    if let Some(paths) = XdgPaths::from_env() {
        return Ok(paths.is_enabled());
    }
    Ok(auto_launch()?.is_enabled()?)
}

/// Turns starting at login on or off.
pub fn set(enabled: bool) -> anyhow::Result<()> {
    let entry = auto_launch()?;
    if enabled {
        // The user's entry names this host's binary and wins over the system's.
        return Ok(entry.enable()?);
    }
    #[cfg(target_os = "linux")]
    if let Some(paths) = XdgPaths::from_env() {
        if paths.system_entry().is_some() {
            return paths.hide();
        }
    }
    Ok(entry.disable()?)
}

#[cfg(target_os = "linux")]
/// Where XDG autostart looks for `ashtray.desktop`: the user's entry (where `auto-launch`
/// writes it) and the system's directories, first match wins.
struct XdgPaths {
    user: PathBuf,
    system_dirs: Vec<PathBuf>,
}

#[cfg(target_os = "linux")]
const ENTRY: &str = "ashtray.desktop";

#[cfg(target_os = "linux")]
/// What a user's entry says to turn a system entry of the same name off.
const HIDDEN_ENTRY: &str = "[Desktop Entry]\nType=Application\nName=ashtray\nHidden=true\n";

#[cfg(target_os = "linux")]
impl XdgPaths {
    fn from_env() -> Option<XdgPaths> {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        let dirs = std::env::var("XDG_CONFIG_DIRS")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/etc/xdg".to_string());
        Some(XdgPaths {
            user: Path::new(&home).join(".config/autostart").join(ENTRY),
            system_dirs: dirs
                .split(':')
                .filter(|d| !d.is_empty())
                .map(|d| Path::new(d).join("autostart"))
                .collect(),
        })
    }

    fn system_entry(&self) -> Option<PathBuf> {
        self.system_dirs
            .iter()
            .map(|dir| dir.join(ENTRY))
            .find(|path| path.exists())
    }

    fn is_enabled(&self) -> bool {
        match std::fs::read_to_string(&self.user) {
            Ok(user) => entry_starts(&user),
            Err(_) => self
                .system_entry()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .is_some_and(|system| entry_starts(&system)),
        }
    }

    fn hide(&self) -> anyhow::Result<()> {
        use anyhow::Context as _;
        if let Some(dir) = self.user.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot make {}", dir.display()))?;
        }
        std::fs::write(&self.user, HIDDEN_ENTRY)
            .with_context(|| format!("cannot write {}", self.user.display()))
    }
}

#[cfg(target_os = "linux")]
/// Whether a desktop entry starts its program at login: not `Hidden=true`, and not turned
/// off with GNOME's `X-GNOME-Autostart-enabled=false`.
fn entry_starts(entry: &str) -> bool {
    let says = |key: &str, value: &str| {
        entry.lines().any(|line| {
            line.split_once('=')
                .is_some_and(|(k, v)| k.trim() == key && v.trim().eq_ignore_ascii_case(value))
        })
    };
    !says("Hidden", "true") && !says("X-GNOME-Autostart-enabled", "false")
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn paths(root: &Path) -> XdgPaths {
        XdgPaths {
            user: root.join("home/.config/autostart").join(ENTRY),
            system_dirs: vec![root.join("etc/xdg/autostart")],
        }
    }

    fn install_system_entry(root: &Path) {
        let dir = root.join("etc/xdg/autostart");
        std::fs::create_dir_all(&dir).unwrap();
        let packaged = include_str!("../../../packaging/desktop/ashtray-autostart.desktop");
        std::fs::write(dir.join(ENTRY), packaged).unwrap();
    }

    #[test]
    fn the_packaged_entry_reads_as_on_and_unticking_turns_it_off() {
        let root = tempfile::tempdir().unwrap();
        let paths = paths(root.path());
        assert!(!paths.is_enabled(), "no entry anywhere: off");
        install_system_entry(root.path());
        assert!(paths.is_enabled(), "the package's entry starts the tray");
        paths.hide().unwrap();
        assert!(!paths.is_enabled(), "the user's Hidden entry overrides it");
        assert!(
            paths.system_entry().is_some(),
            "the system entry is left alone"
        );
        // Ticking again writes a user entry that starts (what auto-launch writes).
        std::fs::write(
            &paths.user,
            "[Desktop Entry]\nType=Application\nName=ashtray\nExec=/usr/bin/ashtray --hidden\n",
        )
        .unwrap();
        assert!(paths.is_enabled());
    }

    #[test]
    fn an_entry_turned_off_either_way_does_not_start() {
        assert!(entry_starts("[Desktop Entry]\nExec=ashtray --hidden\n"));
        assert!(!entry_starts(HIDDEN_ENTRY));
        assert!(!entry_starts("[Desktop Entry]\nHidden = TRUE\n"));
        assert!(!entry_starts(
            "[Desktop Entry]\nX-GNOME-Autostart-enabled=false\n"
        ));
        assert!(entry_starts(
            "[Desktop Entry]\nX-GNOME-Autostart-enabled=true\nHidden=false\n"
        ));
    }
}
