//! The tray app, as two processes of one binary. The tray host (`tray_host`, feature
//! `tray`) is always on: the engine and the API, the tray icon (`sni`, StatusNotifierItem
//! over D-Bus), notifications and the keyring, and never GTK or WebKit. The window
//! (`window`, feature `gui`, `ashtray window`) is a Tauri process that lives as long as it
//! is open and talks to the host through the control API and the local socket (`local`).

// Parts of it serve only the window's Settings.
#[cfg_attr(not(feature = "gui"), allow(dead_code))]
mod api_key;
mod applog;
#[cfg(feature = "gui")]
mod commands;
mod desktop_notify;
#[cfg(feature = "gui")]
mod downloads;
mod hostlog;
mod local;
#[cfg(feature = "gui")]
mod login;
mod notify;
// Parts of it serve only the window's Settings.
#[cfg_attr(not(feature = "gui"), allow(dead_code))]
mod prefs;
// Parts of it serve only the window's Settings.
#[cfg_attr(not(feature = "gui"), allow(dead_code))]
mod session;
mod sni;
mod tray;
mod tray_host;
#[cfg(feature = "gui")]
mod window;

#[cfg(not(feature = "gui"))]
pub use tray_host::window_binary;
pub use tray_host::{run as run_tray_host, Launch};
#[cfg(feature = "gui")]
pub use window::run as run_window;
