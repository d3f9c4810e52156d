//! Where the tray app logs: the platform's log directory (from `directories`). The tray
//! host writes its own files there (`hostlog`); the window process writes `ashtray.log`,
//! rotated by size, through Tauri's log plugin, also on stderr. tracing's events reach
//! the plugin through tracing's `log` bridge (the window installs no tracing subscriber).
//! Service output is not logged here: the window's log pane shows it.

use std::path::PathBuf;

#[cfg(feature = "gui")]
use tauri_plugin_log::{log, RotationStrategy, Target, TargetKind};

#[cfg(feature = "gui")]
use crate::cli::LogArgs;

const FILE_STEM: &str = "ashtray";
#[cfg(feature = "gui")]
const MAX_FILE_BYTES: u128 = 5 * 1024 * 1024;
#[cfg(feature = "gui")]
const KEEP_FILES: usize = 5;

/// `$ASHTRAY_LOG_DIR`, else the platform's place for an app's logs: `$XDG_STATE_HOME/ashtray/logs`
/// on Linux, the local data directory elsewhere.
pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ASHTRAY_LOG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let dirs = directories::ProjectDirs::from("", "", "ashtray").ok_or_else(|| {
        anyhow::anyhow!("no home directory for ashtray's log: set ASHTRAY_LOG_DIR")
    })?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .join("logs"))
}

#[cfg_attr(not(feature = "gui"), allow(dead_code))]
pub fn file(dir: &std::path::Path) -> PathBuf {
    dir.join(format!("{FILE_STEM}.log"))
}

#[cfg(feature = "gui")]
fn level(args: &LogArgs) -> log::LevelFilter {
    let wanted = args
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_default();
    // A tracing filter such as `ashtray=debug` is read for its most verbose level only.
    let wanted = wanted.to_ascii_lowercase();
    ["trace", "debug", "info", "warn", "error"]
        .iter()
        .find(|level| wanted.contains(*level))
        .and_then(|level| level.parse().ok())
        .unwrap_or(log::LevelFilter::Info)
}

#[cfg(feature = "gui")]
pub fn plugin<R: tauri::Runtime>(dir: PathBuf, args: &LogArgs) -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_log::Builder::new()
        .clear_targets()
        .target(Target::new(TargetKind::Folder {
            path: dir,
            file_name: Some(FILE_STEM.into()),
        }))
        .target(Target::new(TargetKind::Stderr))
        .max_file_size(MAX_FILE_BYTES)
        .rotation_strategy(RotationStrategy::KeepSome(KEEP_FILES))
        .level(level(args))
        // The webview's and HTTP stack's chatter is not the artist's business.
        .level_for("tao", log::LevelFilter::Warn)
        .level_for("wry", log::LevelFilter::Warn)
        .level_for("hyper", log::LevelFilter::Warn)
        .level_for("hyper_util", log::LevelFilter::Warn)
        .level_for("reqwest", log::LevelFilter::Warn)
        .level_for("zbus", log::LevelFilter::Warn)
        .level_for("tracing", log::LevelFilter::Warn)
        .level_for("bollard", log::LevelFilter::Warn)
        .build()
}
