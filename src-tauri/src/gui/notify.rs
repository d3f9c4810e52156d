//! When the artist is told something on the desktop: a service starts crash-looping, the
//! server stays unreachable for a minute, and when either recovers. Pure: it reads host
//! snapshots and the time and says what to show; `mod.rs` shows it.
//!
//! Rate-limited so that a flapping host cannot storm the desktop: at most `BURST`
//! notifications per `WINDOW`; what is held back is counted into the next one.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use ashtray_engine::host_state::{HostState, ServerState, ServiceState};

/// How long the server must stay away before the artist hears of it.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(60);
const WINDOW: Duration = Duration::from_secs(60);
const BURST: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Default)]
pub struct Notifier {
    away_since: Option<Instant>,
    told_away: bool,
    crash_looping: HashSet<String>,
    sent: VecDeque<Instant>,
    held_back: usize,
}

impl Notifier {
    pub fn observe(&mut self, state: &HostState, now: Instant) -> Vec<Note> {
        let mut notes = Vec::new();

        let away = matches!(
            state.server.state,
            ServerState::Unreachable | ServerState::Unauthorized
        );
        if away {
            let since = *self.away_since.get_or_insert(now);
            if !self.told_away && now.duration_since(since) >= UNREACHABLE_AFTER {
                self.told_away = true;
                notes.push(Note {
                    title: "AYON server unreachable".into(),
                    body: format!(
                        "{} for a minute: {}",
                        state.server_url,
                        state.server.reason.as_deref().unwrap_or("no answer")
                    ),
                });
            }
        } else if state.server.state == ServerState::Connected {
            self.away_since = None;
            if std::mem::take(&mut self.told_away) {
                notes.push(Note {
                    title: "AYON server back".into(),
                    body: format!("Connected to {} again.", state.server_url),
                });
            }
        }

        let looping: HashSet<String> = state
            .services
            .iter()
            .filter(|s| s.state == ServiceState::CrashLooping)
            .map(|s| s.name.clone())
            .collect();
        for service in state
            .services
            .iter()
            .filter(|s| looping.contains(&s.name) && !self.crash_looping.contains(&s.name))
        {
            notes.push(Note {
                title: format!("{} keeps crashing", service.name),
                body: service.last_error.clone().unwrap_or_else(|| {
                    "It exits right after each start; ashtray retries with backoff.".into()
                }),
            });
        }
        for name in self.crash_looping.difference(&looping) {
            if state
                .service(name)
                .is_some_and(|s| s.state == ServiceState::Running)
            {
                notes.push(Note {
                    title: format!("{name} recovered"),
                    body: "It runs again.".into(),
                });
            }
        }
        self.crash_looping = looping;

        self.limit(notes, now)
    }

    fn limit(&mut self, notes: Vec<Note>, now: Instant) -> Vec<Note> {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        let mut shown = Vec::new();
        for mut note in notes {
            if self.sent.len() >= BURST {
                self.held_back += 1;
                continue;
            }
            if self.held_back > 0 {
                note.body.push_str(&format!(
                    " ({} more not shown: see ashtray's window)",
                    std::mem::take(&mut self.held_back)
                ));
            }
            self.sent.push_back(now);
            shown.push(note);
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ashtray_engine::fixtures;

    /// `services` by name and state; a server that is away says why.
    fn state(server: ServerState, services: &[(&str, ServiceState)]) -> HostState {
        let services = services
            .iter()
            .map(|(name, state)| fixtures::service(name, *state))
            .collect();
        let mut state = fixtures::host(server, services);
        state.server.reason = Some("refused".into());
        state
    }

    #[test]
    fn an_unreachable_server_is_told_after_a_minute_and_its_return_once() {
        let mut notifier = Notifier::default();
        let t0 = Instant::now();
        let away = state(ServerState::Unreachable, &[]);
        assert!(notifier.observe(&away, t0).is_empty());
        assert!(notifier
            .observe(&away, t0 + Duration::from_secs(59))
            .is_empty());
        let notes = notifier.observe(&away, t0 + Duration::from_secs(61));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].body.contains("refused"), "{notes:?}");
        assert!(notifier
            .observe(&away, t0 + Duration::from_secs(120))
            .is_empty());
        let back = notifier.observe(
            &state(ServerState::Connected, &[]),
            t0 + Duration::from_secs(130),
        );
        assert_eq!(back[0].title, "AYON server back");
        assert!(notifier
            .observe(
                &state(ServerState::Connected, &[]),
                t0 + Duration::from_secs(131)
            )
            .is_empty());
    }

    #[test]
    fn a_short_outage_says_nothing() {
        let mut notifier = Notifier::default();
        let t0 = Instant::now();
        notifier.observe(&state(ServerState::Unreachable, &[]), t0);
        assert!(notifier
            .observe(
                &state(ServerState::Connected, &[]),
                t0 + Duration::from_secs(30)
            )
            .is_empty());
    }

    #[test]
    fn crash_loops_and_recoveries_are_told_once_each() {
        let mut notifier = Notifier::default();
        let t0 = Instant::now();
        let looping = state(ServerState::Connected, &[("a", ServiceState::CrashLooping)]);
        assert_eq!(notifier.observe(&looping, t0)[0].title, "a keeps crashing");
        assert!(notifier
            .observe(&looping, t0 + Duration::from_secs(1))
            .is_empty());
        let running = state(ServerState::Connected, &[("a", ServiceState::Running)]);
        assert_eq!(
            notifier.observe(&running, t0 + Duration::from_secs(2))[0].title,
            "a recovered"
        );
    }

    #[test]
    fn a_storm_is_cut_to_a_few_and_the_rest_counted() {
        let mut notifier = Notifier::default();
        let t0 = Instant::now();
        let names: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
        let looping: Vec<(&str, ServiceState)> = names
            .iter()
            .map(|n| (n.as_str(), ServiceState::CrashLooping))
            .collect();
        let notes = notifier.observe(&state(ServerState::Connected, &looping), t0);
        assert_eq!(notes.len(), BURST);
        let running: Vec<(&str, ServiceState)> = names
            .iter()
            .map(|n| (n.as_str(), ServiceState::Running))
            .collect();
        assert!(notifier
            .observe(
                &state(ServerState::Connected, &running),
                t0 + Duration::from_secs(5)
            )
            .is_empty());
        let later = notifier.observe(
            &state(
                ServerState::Connected,
                &[("s0", ServiceState::CrashLooping)],
            ),
            t0 + Duration::from_secs(61),
        );
        assert_eq!(later.len(), 1);
        assert!(later[0].body.contains("more not shown"), "{later:?}");
    }
}
