//! When the artist is told something on the desktop: a service starts crash-looping, the
//! server stays unreachable for a minute, and when either recovers. Pure: it reads host
//! snapshots and the time and says what to show; `mod.rs` shows it.
//!
//! Rate-limited so that a flapping host cannot storm the desktop: at most `BURST`
//! notifications per `WINDOW`; what is held back is counted into the next one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use ashtray_engine::host_state::{HostState, ServerState, ServiceState};

/// How long the server must stay away before the artist hears of it.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a crash-looping service must run before its loop counts as over. Between two
/// retries it runs for a moment each time: that is the same loop, told once.
pub const RECOVERED_AFTER: Duration = Duration::from_secs(30);
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
    /// The services told to be crash-looping, with since when each has run again.
    crash_looping: HashMap<String, Option<Instant>>,
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

        let looping: HashSet<&str> = state
            .services
            .iter()
            .filter(|s| s.state == ServiceState::CrashLooping)
            .map(|s| s.name.as_str())
            .collect();
        for service in state.services.iter().filter(|s| {
            looping.contains(s.name.as_str()) && !self.crash_looping.contains_key(&s.name)
        }) {
            notes.push(Note {
                title: format!("{} keeps crashing", service.name),
                body: service.last_error.clone().unwrap_or_else(|| {
                    "It exits right after each start; ashtray retries with backoff.".into()
                }),
            });
        }
        // A loop is over once the service has run a while, or is gone or stopped; the
        // moments it runs between retries are part of the loop.
        let mut recovered = Vec::new();
        self.crash_looping.retain(|name, running_since| {
            let Some(service) = state.service(name) else {
                return false;
            };
            match service.state {
                ServiceState::Running => {
                    let since = *running_since.get_or_insert(now);
                    if now.duration_since(since) >= RECOVERED_AFTER {
                        recovered.push(name.clone());
                        return false;
                    }
                    true
                }
                ServiceState::Stopped | ServiceState::Skipped => false,
                _ => {
                    *running_since = None;
                    true
                }
            }
        });
        for name in recovered {
            notes.push(Note {
                title: format!("{name} recovered"),
                body: "It runs again.".into(),
            });
        }
        for name in looping {
            self.crash_looping.entry(name.to_string()).or_insert(None);
        }

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
        assert!(notifier
            .observe(&running, t0 + Duration::from_secs(2))
            .is_empty());
        let recovered = notifier.observe(&running, t0 + Duration::from_secs(2) + RECOVERED_AFTER);
        assert_eq!(recovered[0].title, "a recovered");
        assert!(notifier
            .observe(&running, t0 + Duration::from_secs(3) + RECOVERED_AFTER)
            .is_empty());
    }

    /// Each retry of a crash loop starts it and runs it for a moment: one loop, one note.
    #[test]
    fn the_retries_of_one_crash_loop_are_told_once() {
        let mut notifier = Notifier::default();
        let t0 = Instant::now();
        let mut told = Vec::new();
        let retry = [
            ServiceState::CrashLooping,
            ServiceState::Waiting,
            ServiceState::Starting,
            ServiceState::Running,
            ServiceState::CrashLooping,
        ];
        for (i, each) in retry.iter().cycle().take(40).enumerate() {
            let at = t0 + Duration::from_secs(i as u64);
            told.extend(notifier.observe(&state(ServerState::Connected, &[("a", *each)]), at));
        }
        assert_eq!(
            told.iter().map(|n| n.title.as_str()).collect::<Vec<_>>(),
            ["a keeps crashing"]
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
        for after in [5, 40] {
            // Recoveries are held back too: the window is still full.
            assert!(notifier
                .observe(
                    &state(ServerState::Connected, &running),
                    t0 + Duration::from_secs(after)
                )
                .is_empty());
        }
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
