//! What the tray shows, whatever draws it: the host's overall state as an icon and in
//! words, and a menu to open the window, pause or resume everything, start, stop or
//! restart one service, and quit. Pure: `sni` puts it on the desktop (StatusNotifierItem),
//! the host runs the chosen [`Action`].

use ashtray_engine::host_state::{HostState, Overall, ServiceState};

/// What a click in the tray asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Open,
    Settings,
    Quit,
    /// Pause (`true`) or resume (`false`) every service.
    Pause(bool),
    /// `start`, `stop` or `restart` one service.
    Service {
        action: &'static str,
        name: String,
    },
}

/// One line of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Text only, greyed: the state in words.
    Label(String),
    Separator,
    Item {
        label: String,
        enabled: bool,
        action: Action,
    },
    Submenu {
        label: String,
        items: Vec<Entry>,
    },
}

/// The icon for a state, as PNG bytes.
pub fn icon_png(overall: Option<Overall>) -> &'static [u8] {
    match overall {
        Some(Overall::Ok) => include_bytes!("../../../icons/tray-ok.png"),
        Some(Overall::Degraded) => include_bytes!("../../../icons/tray-degraded.png"),
        Some(Overall::Unreachable | Overall::EngineDown) => {
            include_bytes!("../../../icons/tray-unreachable.png")
        }
        Some(Overall::Paused) => include_bytes!("../../../icons/tray-paused.png"),
        Some(Overall::Starting) | None => include_bytes!("../../../icons/tray-starting.png"),
    }
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

fn item(label: impl Into<String>, enabled: bool, action: Action) -> Entry {
    Entry::Item {
        label: label.into(),
        enabled,
        action,
    }
}

/// The menu for a state. The tray compares it with the one shown and redraws only when it
/// differs, not on every snapshot (health numbers change every tick).
pub fn menu(state: Option<&HostState>) -> Vec<Entry> {
    let mut entries = vec![
        Entry::Label(summary(state)),
        Entry::Separator,
        item("Open ashtray", true, Action::Open),
    ];
    if let Some(state) = state {
        entries.push(if state.paused {
            // Undoes nothing a user could lose: no question.
            item("Resume all", true, Action::Pause(false))
        } else {
            confirm(
                "Pause all…",
                "Stops every service on this host until Resume all",
                "Pause all now",
                Action::Pause(true),
            )
        });
        if !state.services.is_empty() {
            entries.push(Entry::Separator);
        }
        for service in state.services.iter() {
            // The engine decides what is allowed, for the page and the CLI alike.
            let allowed = service.actions;
            let act = |action: &'static str| Action::Service {
                action,
                name: service.name.clone(),
            };
            entries.push(Entry::Submenu {
                label: format!("{} — {}", service.name, state_word(service.state)),
                items: vec![
                    item("Start", allowed.start, act("start")),
                    item("Stop", allowed.stop, act("stop")),
                    item("Restart", allowed.restart, act("restart")),
                ],
            });
        }
    }
    entries.push(Entry::Separator);
    entries.push(item("Settings…", true, Action::Settings));
    entries.push(confirm(
        "Quit ashtray…",
        "Its services keep running, with nothing watching them",
        "Quit now",
        Action::Quit,
    ));
    entries
}

/// An action a user would not want by a slip of the mouse, asked as a submenu: its label
/// ends in "…", and opens the consequence in words and the one item that does it. The
/// window asks such questions in a dialog; the tray host loads no toolkit that could draw
/// one, and a submenu is the second, deliberate step a dialog would be.
fn confirm(label: &str, consequence: &str, confirm_label: &str, action: Action) -> Entry {
    Entry::Submenu {
        label: label.into(),
        items: vec![
            Entry::Label(consequence.into()),
            item(confirm_label, true, action),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ashtray_engine::fixtures;
    use ashtray_engine::host_state::ServerState;

    #[test]
    fn an_unconfigured_host_offers_open_settings_and_quit() {
        let entries = menu(None);
        assert_eq!(entries[0], Entry::Label(summary(None)));
        let actions: Vec<&Action> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Item { action, .. } => Some(action),
                _ => None,
            })
            .collect();
        assert_eq!(actions, [&Action::Open, &Action::Settings]);
        assert_eq!(
            entries.last(),
            Some(&confirm(
                "Quit ashtray…",
                "Its services keep running, with nothing watching them",
                "Quit now",
                Action::Quit
            ))
        );
    }

    /// Quit and Pause all are never one click away: each is the one item of a submenu
    /// that says what it does; Resume all is.
    #[test]
    fn quit_and_pause_all_take_a_second_deliberate_click() {
        let running = fixtures::service("alpha", ServiceState::Running);
        let state = fixtures::host(ServerState::Connected, vec![running]);
        let entries = menu(Some(&state));
        for action in [Action::Quit, Action::Pause(true)] {
            let first_level = entries
                .iter()
                .any(|e| matches!(e, Entry::Item { action: a, .. } if *a == action));
            assert!(!first_level, "{action:?} is one click away: {entries:?}");
            let asked = entries.iter().any(|e| match e {
                Entry::Submenu { label, items } => {
                    label.ends_with('…')
                        && matches!(items.first(), Some(Entry::Label(words)) if !words.is_empty())
                        && items
                            .iter()
                            .any(|i| matches!(i, Entry::Item { action: a, .. } if *a == action))
                }
                _ => false,
            });
            assert!(asked, "no question before {action:?}: {entries:?}");
        }
        let paused = ashtray_engine::host_state::HostState {
            paused: true,
            ..state
        };
        assert!(menu(Some(&paused)).contains(&item("Resume all", true, Action::Pause(false))));
    }

    #[test]
    fn each_service_gets_its_actions_as_the_engine_allows_them() {
        let mut running = fixtures::service("alpha", ServiceState::Running);
        running.actions.start = false;
        running.actions.stop = true;
        let state = fixtures::host(ServerState::Connected, vec![running]);
        let entries = menu(Some(&state));
        let Some(Entry::Submenu { label, items }) = entries
            .iter()
            .find(|e| matches!(e, Entry::Submenu { label, .. } if label.starts_with("alpha")))
        else {
            panic!("no submenu for the service: {entries:?}");
        };
        assert_eq!(label, "alpha — running");
        assert_eq!(
            items[0],
            item(
                "Start",
                false,
                Action::Service {
                    action: "start",
                    name: "alpha".into()
                }
            )
        );
        assert!(matches!(&items[1], Entry::Item { enabled: true, .. }));
    }
}
