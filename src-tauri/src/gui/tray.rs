//! The tray icon: the host's overall state as an icon and in words, and a menu to open the
//! window, pause or resume everything, start, stop or restart one service, and quit.
//!
//! On Linux `tray-icon` loads libappindicator when the tray is built and panics when it
//! is missing; a desktop without a tray must still get the window. So the library is
//! looked for first, and the build itself is caught: no tray is a log line, never a crash.

use ashtray_engine::host_state::{HostState, Overall, ServiceState};
use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

pub const OPEN: &str = "open";
pub const PAUSE: &str = "pause";
pub const RESUME: &str = "resume";
pub const SETTINGS: &str = "settings";
pub const QUIT: &str = "quit";
const STATUS: &str = "status";

/// A menu entry's id for an action on one service: `service:<action>:<name>`.
pub fn service_action(id: &str) -> Option<(&str, &str)> {
    let rest = id.strip_prefix("service:")?;
    rest.split_once(':')
}

pub fn icon(overall: Option<Overall>) -> Image<'static> {
    let bytes: &'static [u8] = match overall {
        Some(Overall::Ok) => include_bytes!("../../../icons/tray-ok.png"),
        Some(Overall::Degraded) => include_bytes!("../../../icons/tray-degraded.png"),
        Some(Overall::Unreachable | Overall::EngineDown) => {
            include_bytes!("../../../icons/tray-unreachable.png")
        }
        Some(Overall::Paused) => include_bytes!("../../../icons/tray-paused.png"),
        Some(Overall::Starting) | None => include_bytes!("../../../icons/tray-starting.png"),
    };
    Image::from_bytes(bytes).expect("the tray icons are valid PNGs")
}

/// The state in words, for the tooltip and the menu's first line.
pub fn summary(state: Option<&HostState>) -> String {
    let Some(state) = state else {
        return "ashtray: not configured (open Settings)".into();
    };
    let running = state
        .services
        .iter()
        .filter(|s| s.state == ServiceState::Running)
        .count();
    let failing = state
        .services
        .iter()
        .filter(|s| {
            matches!(
                s.state,
                ServiceState::Failed | ServiceState::CrashLooping | ServiceState::Waiting
            )
        })
        .count();
    let total = state.services.len();
    match state.overall {
        Overall::Ok => format!("ashtray: all {total} services running"),
        Overall::Degraded => {
            format!("ashtray: {failing} of {total} services failing, {running} running")
        }
        Overall::Unreachable => format!(
            "ashtray: AYON server unreachable ({})",
            state.server.reason.as_deref().unwrap_or("no answer")
        ),
        Overall::EngineDown => format!(
            "ashtray: container engine down ({})",
            state.engine.reason.as_deref().unwrap_or("no answer")
        ),
        Overall::Paused => "ashtray: paused, no service runs here".into(),
        Overall::Starting => "ashtray: starting".into(),
    }
}

/// What the menu shows; the menu is rebuilt only when this changes, not on every
/// snapshot (health numbers change every tick).
pub fn menu_key(state: Option<&HostState>) -> String {
    let Some(state) = state else {
        return String::from("-");
    };
    let mut key = format!(
        "{:?}|{}|{}",
        state.overall,
        state.paused,
        summary(Some(state))
    );
    for s in &state.services {
        key.push_str(&format!("|{}={:?}/{:?}", s.name, s.state, s.desired));
    }
    key
}

fn state_word(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Running => "running",
        ServiceState::Starting => "starting",
        ServiceState::Stopping => "stopping",
        ServiceState::Stopped => "stopped",
        ServiceState::Waiting => "restarting soon",
        ServiceState::CrashLooping => "crash looping",
        ServiceState::Failed => "failed",
        ServiceState::Skipped => "skipped",
        ServiceState::Pending => "pending",
    }
}

/// The menu's entries for a state.
fn entries(
    app: &AppHandle,
    state: Option<&HostState>,
) -> tauri::Result<Vec<Box<dyn IsMenuItem<Wry>>>> {
    let mut items: Vec<Box<dyn IsMenuItem<Wry>>> = vec![
        Box::new(MenuItem::with_id(
            app,
            STATUS,
            summary(state),
            false,
            None::<&str>,
        )?),
        Box::new(PredefinedMenuItem::separator(app)?),
        Box::new(MenuItem::with_id(
            app,
            OPEN,
            "Open ashtray",
            true,
            None::<&str>,
        )?),
    ];
    if let Some(state) = state {
        items.push(Box::new(if state.paused {
            MenuItem::with_id(app, RESUME, "Resume all", true, None::<&str>)?
        } else {
            MenuItem::with_id(app, PAUSE, "Pause all", true, None::<&str>)?
        }));
        if !state.services.is_empty() {
            items.push(Box::new(PredefinedMenuItem::separator(app)?));
        }
        for service in &state.services {
            // The engine decides what is allowed, for the page and the CLI alike.
            let allowed = service.actions;
            let id = |action: &str| format!("service:{action}:{}", service.name);
            let start = MenuItem::with_id(app, id("start"), "Start", allowed.start, None::<&str>)?;
            let stop = MenuItem::with_id(app, id("stop"), "Stop", allowed.stop, None::<&str>)?;
            let restart =
                MenuItem::with_id(app, id("restart"), "Restart", allowed.restart, None::<&str>)?;
            let label = format!("{} — {}", service.name, state_word(service.state));
            items.push(Box::new(Submenu::with_items(
                app,
                label,
                true,
                &[&start, &stop, &restart],
            )?));
        }
    }
    items.push(Box::new(PredefinedMenuItem::separator(app)?));
    items.push(Box::new(MenuItem::with_id(
        app,
        SETTINGS,
        "Settings…",
        true,
        None::<&str>,
    )?));
    items.push(Box::new(MenuItem::with_id(
        app,
        QUIT,
        "Quit ashtray (services keep running)",
        true,
        None::<&str>,
    )?));
    Ok(items)
}

pub struct Tray {
    icon: TrayIcon,
    menu: Menu<Wry>,
    shown_key: String,
    shown_overall: Option<Option<Overall>>,
}

/// Why this desktop gets no tray, if it gets none.
fn missing_library() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        const LIBRARIES: [&str; 2] = ["libayatana-appindicator3.so.1", "libappindicator3.so.1"];
        // SAFETY: loading a system library runs its initialisers; these are the very
        // libraries tray-icon would load a moment later anyway.
        let found = LIBRARIES
            .iter()
            .any(|name| unsafe { libloading::Library::new(name) }.is_ok());
        if !found {
            return Some(format!(
                "neither {} nor {} can be loaded (install libayatana-appindicator3-1)",
                LIBRARIES[0], LIBRARIES[1]
            ));
        }
    }
    None
}

impl Tray {
    /// The tray, or why there is none (logged once by the caller).
    pub fn build(app: &AppHandle) -> Result<Tray, String> {
        if let Some(why) = missing_library() {
            return Err(why);
        }
        let build = || -> tauri::Result<Tray> {
            let items = entries(app, None)?;
            let refs: Vec<&dyn IsMenuItem<Wry>> = items.iter().map(|b| b.as_ref()).collect();
            let menu = Menu::with_items(app, &refs)?;
            let icon = TrayIconBuilder::with_id("ashtray")
                .icon(icon(None))
                .tooltip(summary(None))
                .menu(&menu)
                .build(app)?;
            Ok(Tray {
                icon,
                menu,
                shown_key: String::new(),
                shown_overall: None,
            })
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
            Ok(Ok(tray)) => Ok(tray),
            Ok(Err(error)) => Err(format!("the tray icon cannot be made: {error}")),
            Err(_) => Err("the tray icon library panicked (no tray on this desktop?)".into()),
        }
    }

    /// Shows `state`; cheap when nothing the tray shows has changed.
    pub fn show(&mut self, app: &AppHandle, state: Option<&HostState>) -> tauri::Result<()> {
        let overall = state.map(|s| s.overall);
        if self.shown_overall != Some(overall) {
            self.icon.set_icon(Some(icon(overall)))?;
            self.shown_overall = Some(overall);
        }
        let key = menu_key(state);
        if key == self.shown_key {
            return Ok(());
        }
        self.icon.set_tooltip(Some(summary(state)))?;
        // On Linux a tray's menu cannot be swapped, only its content.
        while self.menu.remove_at(0)?.is_some() {}
        for item in entries(app, state)? {
            self.menu.append(item.as_ref())?;
        }
        self.shown_key = key;
        Ok(())
    }
}

/// Brings the main window up (from the tray, a second launch, a notification), making it
/// anew when it was closed.
pub fn open_window(app: &AppHandle) {
    let window = match app.get_webview_window("main") {
        Some(window) => window,
        None => {
            let Some(config) = app.config().app.windows.iter().find(|w| w.label == "main") else {
                return;
            };
            match tauri::WebviewWindowBuilder::from_config(app, config)
                .and_then(|builder| builder.build())
            {
                Ok(window) => window,
                Err(error) => {
                    tracing::warn!("cannot open the window: {error}");
                    return;
                }
            }
        }
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_menu_ids_carry_action_and_name() {
        assert_eq!(
            service_action("service:stop:ticker-a"),
            Some(("stop", "ticker-a"))
        );
        assert_eq!(
            service_action("service:restart:a:b"),
            Some(("restart", "a:b"))
        );
        assert_eq!(service_action("open"), None);
    }
}
