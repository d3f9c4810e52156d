//! Start at login (Settings): an entry in the desktop's autostart that starts the tray
//! host in the tray (`ashtray --hidden`). It is written with `auto-launch` (XDG autostart
//! on Linux, a launch agent on macOS, the Run key on Windows), the crate Tauri's autostart
//! plugin wraps; not the plugin itself, which always names the running executable: here
//! that is the window (`ashtray-window`, with GTK/WebKit), while the process that runs all
//! day must be the tray host without them.

use auto_launch::{AutoLaunch, AutoLaunchBuilder};

/// The autostart entry of the tray host that this window belongs to.
pub fn entry() -> anyhow::Result<AutoLaunch> {
    let host = super::window::host_binary()?;
    let entry = AutoLaunchBuilder::new()
        .set_app_name("ashtray")
        .set_app_path(&host.to_string_lossy())
        .set_args(&["--hidden"])
        .build()?;
    Ok(entry)
}
