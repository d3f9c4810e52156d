//! The Linux tray: a StatusNotifierItem over D-Bus through `ksni` (pure Rust, no GTK),
//! showing what `tray` says. A click on the icon (`Activate`) opens the window; the menu's
//! choices go to the host as [`Action`]s.
//!
//! A desktop without a tray host (no `org.kde.StatusNotifierWatcher` on the session bus)
//! is told once in the log and the item keeps waiting: ksni registers it with a watcher
//! that appears later (a panel that starts after ashtray).

use ashtray_engine::host_state::{HostState, Overall};
use ksni::TrayMethods as _;
use tokio::sync::mpsc::UnboundedSender;

use super::tray::{self, Action, Entry};

/// The states an icon is drawn for (`None`: not configured or starting).
const OVERALLS: [Option<Overall>; 6] = [
    None,
    Some(Overall::Ok),
    Some(Overall::Degraded),
    Some(Overall::Unreachable),
    Some(Overall::Paused),
    Some(Overall::Starting),
];

pub struct SniTray {
    actions: UnboundedSender<Action>,
    overall: Option<Overall>,
    summary: String,
    menu: Vec<Entry>,
    /// Each state's icon, decoded once.
    icons: Vec<(Option<Overall>, ksni::Icon)>,
}

/// The tray item, running; what it shows changes through [`Tray::show`].
pub struct Tray {
    handle: ksni::Handle<SniTray>,
    /// What the item shows now: an update goes out only when the state in words or the
    /// menu differs (health numbers change every tick, the tray does not show them).
    shown: tokio::sync::Mutex<(Option<Overall>, Vec<Entry>)>,
}

/// A PNG as StatusNotifierItem wants it: ARGB32, network byte order.
fn argb(png_bytes: &[u8]) -> Result<ksni::Icon, png::DecodingError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info()?;
    let mut rgba = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let frame = reader.next_frame(&mut rgba)?;
    let data = rgba[..frame.buffer_size()]
        .chunks_exact(4)
        .flat_map(|p| [p[3], p[0], p[1], p[2]])
        .collect();
    Ok(ksni::Icon {
        width: frame.width as i32,
        height: frame.height as i32,
        data,
    })
}

fn icons() -> Vec<(Option<Overall>, ksni::Icon)> {
    OVERALLS
        .iter()
        .map(|overall| {
            let icon = argb(tray::icon_png(*overall)).expect("the tray icons are valid PNGs");
            (*overall, icon)
        })
        .collect()
}

fn ksni_entries(entries: &[Entry]) -> Vec<ksni::MenuItem<SniTray>> {
    use ksni::menu::{StandardItem, SubMenu};
    entries
        .iter()
        .map(|entry| match entry {
            Entry::Label(text) => StandardItem {
                label: text.clone(),
                enabled: false,
                ..Default::default()
            }
            .into(),
            Entry::Separator => ksni::MenuItem::Separator,
            Entry::Item {
                label,
                enabled,
                action,
            } => {
                let action = action.clone();
                StandardItem {
                    label: label.clone(),
                    enabled: *enabled,
                    activate: Box::new(move |tray: &mut SniTray| {
                        let _ = tray.actions.send(action.clone());
                    }),
                    ..Default::default()
                }
                .into()
            }
            Entry::Submenu { label, items } => SubMenu {
                label: label.clone(),
                submenu: ksni_entries(items),
                ..Default::default()
            }
            .into(),
        })
        .collect()
}

impl ksni::Tray for SniTray {
    fn id(&self) -> String {
        "ashtray".into()
    }

    fn title(&self) -> String {
        "ashtray".into()
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        let _ = self.actions.send(Action::Open);
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.icons
            .iter()
            .filter(|(overall, _)| *overall == self.overall)
            .map(|(_, icon)| icon.clone())
            .collect()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.summary.clone(),
            ..Default::default()
        }
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        ksni_entries(&self.menu)
    }

    fn watcher_online(&self) {
        tracing::info!("a tray host appeared on this desktop: the tray icon shows");
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        tracing::warn!(
            "no tray host on this desktop (no StatusNotifierWatcher on the session bus: {reason:?}): the window stays the way in (launching ashtray again opens it); the icon shows once a tray host starts"
        );
        // Keep the item: ksni registers it when a watcher appears.
        true
    }
}

impl Tray {
    /// The tray item on the session bus, or why there is none (no session bus at all).
    pub async fn spawn(actions: UnboundedSender<Action>) -> Result<Tray, ksni::Error> {
        let tray = SniTray {
            actions,
            overall: None,
            summary: tray::summary(None),
            menu: tray::menu(None),
            icons: icons(),
        };
        // A missing watcher is not an error: it may start later.
        let handle = tray.assume_sni_available(true).spawn().await?;
        Ok(Tray {
            handle,
            shown: tokio::sync::Mutex::new((None, tray::menu(None))),
        })
    }

    /// Shows `state`; nothing goes over D-Bus when what the tray shows has not changed.
    pub async fn show(&self, state: Option<&HostState>) {
        let overall = state.map(|s| s.overall);
        let menu = tray::menu(state);
        let mut shown = self.shown.lock().await;
        if shown.0 == overall && shown.1 == menu {
            return;
        }
        let summary = tray::summary(state);
        let sent = menu.clone();
        self.handle
            .update(move |tray| {
                tray.overall = overall;
                tray.summary = summary;
                tray.menu = sent;
            })
            .await;
        *shown = (overall, menu);
    }

    pub async fn shutdown(&self) {
        self.handle.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_icon_decodes_to_argb_pixels() {
        for (overall, icon) in icons() {
            assert_eq!(
                icon.data.len(),
                (icon.width * icon.height * 4) as usize,
                "{overall:?}"
            );
            // Some pixel is opaque: the icon is not blank.
            assert!(
                icon.data.chunks_exact(4).any(|p| p[0] == 255),
                "{overall:?}"
            );
        }
    }
}
