//! What the engine shows the world: a snapshot of the host ([`HostState`]) after every
//! change, and the events between two snapshots ([`HostEvent`]).
//!
//! The engine is the only writer; the API, the tray and the CLI only read these.
//! Their OpenAPI schemas are mirrors in the API crate (`crates/api/src/host_schema.rs`),
//! so the engine needs no OpenAPI library; its test fails until a field added here is
//! described there too.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Unix time in milliseconds, as every `*_ms` field of the host state counts it.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The whole host at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostState {
    /// The AYON host name this host heartbeats as.
    pub hostname: String,
    pub server_url: String,
    pub server: ServerConnection,
    pub engine: EngineConnection,
    pub health: HostHealth,
    /// "Pause all" is on: every service is stopped on this host.
    pub paused: bool,
    /// One word for the tray icon: `ok`, `degraded`, `unreachable`, `engine_down`, `paused`, `starting`.
    pub overall: Overall,
    /// Services the server wants here or that run here, by name. Shared between
    /// snapshots while none of them changed: most publishes only move the heartbeat's
    /// time, and copying ten thousand views for it was most of a publish.
    pub services: Arc<[ServiceView]>,
    /// Entries of the server's answer that were not services at all.
    pub problems: Vec<String>,
    /// Containers with ash's labels that this host did not start and its server's answer
    /// does not assign to it (another host's, most likely), and what this host does
    /// about each.
    pub unclaimed: Vec<UnclaimedView>,
    /// The local services file, when one is given.
    pub local_services: Option<LocalServicesView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Starting,
    Ok,
    Degraded,
    Unreachable,
    EngineDown,
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct HostHealth {
    pub cpu: f64,
    pub mem: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConnection {
    pub state: ServerState,
    /// Why it is not connected, in words.
    pub reason: Option<String>,
    /// The service user's name, once logged in.
    pub user: Option<String>,
    /// Unix ms of the last answered heartbeat.
    pub last_heartbeat_ms: Option<u64>,
    /// Unix ms since the state is what it is.
    pub since_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// No AYON server is configured: only local services run.
    NotConfigured,
    Connecting,
    Connected,
    Unreachable,
    Unauthorized,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConnection {
    pub state: EngineState,
    /// `Docker` or `Podman`.
    pub kind: String,
    pub endpoint: String,
    pub version: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineState {
    Connecting,
    Up,
    Down,
}

/// One service on this host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub addon_name: Option<String>,
    pub addon_version: Option<String>,
    pub service: Option<String>,
    pub image: Option<String>,
    pub desired: DesiredState,
    pub state: ServiceState,
    pub container_id: Option<String>,
    pub container_name: String,
    /// Unix ms when its container was started.
    pub started_at_ms: Option<u64>,
    /// Restarts by ashtray (crash restarts, drift, by request).
    pub restarts: u32,
    /// Why ashtray last replaced its container ("its spec changed on the server", "a
    /// restart was asked for", "it had exited"), as the engine decided it.
    pub last_restart_reason: Option<String>,
    pub last_exit_code: Option<i64>,
    /// The engine's inspect said the kernel killed its last exited container for memory
    /// (`State.OOMKilled`): an exit code 137 alone may be anyone's SIGKILL.
    #[serde(default)]
    pub last_exit_oom_killed: bool,
    pub last_error: Option<String>,
    /// Last output lines before its last exit.
    pub last_output: Vec<String>,
    /// Unix ms of the next restart attempt, while waiting out a backoff. Absolute, so
    /// the snapshot stays the same while the clock runs and a reader counts down itself.
    pub next_restart_at_ms: Option<u64>,
    /// The status the service last reported through its own API.
    pub reported: Option<ReportedStatus>,
    /// What a user may ask of it now. Decided here once, so the tray, the page and the CLI
    /// never disagree on it.
    pub actions: ServiceActions,
    /// Who declares it: the server's answer, the local services file, or the server's
    /// last answer kept on disk while the server cannot be reached.
    pub source: ServiceSource,
    /// With `source: cache`: Unix ms since the server cannot be reached.
    pub unreachable_since_ms: Option<u64>,
    /// What its container's own HEALTHCHECK says, while it runs; `None` for an image
    /// without one.
    pub health: Option<ContainerHealth>,
    /// While its image is pulled: how far the pull has come (bytes and layers).
    pub pull: Option<crate::runtime::PullProgress>,
}

/// Which local commands make sense for a service in its present state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceActions {
    /// Start it again on this host: it is stopped here, or it failed and may be tried
    /// again now rather than after its backoff.
    pub start: bool,
    /// Stop it on this host until started again.
    pub stop: bool,
    /// Replace its container with a new one.
    pub restart: bool,
}

impl ServiceActions {
    /// `stopped_here` is a stop of this one service by a user; `paused` is "Pause all",
    /// which only "Resume all" ends (a single start would not run it).
    pub fn allowed(
        desired: DesiredState,
        state: ServiceState,
        stopped_here: bool,
        paused: bool,
    ) -> ServiceActions {
        let wanted = desired == DesiredState::Run;
        let retry_now = matches!(
            state,
            ServiceState::Failed | ServiceState::CrashLooping | ServiceState::Waiting
        );
        ServiceActions {
            start: !paused && (stopped_here || (wanted && retry_now)),
            stop: wanted,
            restart: wanted,
        }
    }
}

/// Where a service's spec comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServiceSource {
    /// The AYON server's heartbeat answer.
    #[default]
    Server,
    /// The local services file (`--services`).
    Local,
    /// The server's last answer, kept in the state directory, while the server is
    /// unreachable.
    Cache,
}

impl ServiceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceSource::Server => "server",
            ServiceSource::Local => "local",
            ServiceSource::Cache => "cache",
        }
    }
}

/// The local services file, as last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalServicesView {
    pub path: String,
    /// Services it declares (the last good reading).
    pub services: usize,
    /// Why the file as it is now cannot be used (its line and field); the last good
    /// set stays in force meanwhile.
    pub error: Option<String>,
}

/// A container's own HEALTHCHECK verdict, as the container engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerHealth {
    /// Within its start period, or no check has passed or failed enough times yet.
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredState {
    /// The server wants it running here.
    Run,
    /// Stopped on this host by the user (or "pause all").
    StoppedLocally,
    /// The server does not want it here (any more).
    NotWanted,
    /// The server's spec of it is invalid.
    Invalid,
    /// The server gives it no image: skipped.
    NoImage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Running,
    Starting,
    Stopping,
    Stopped,
    /// It exited; a restart is due after its backoff.
    Waiting,
    CrashLooping,
    Failed,
    Skipped,
    /// Wanted, not running yet (for example while the server cannot be heard).
    Pending,
}

/// A container this host does not count as its own (see [`HostState::unclaimed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnclaimedView {
    /// Its `io.ayon.service.service_name` label.
    pub service: String,
    pub container_id: String,
    pub container_name: String,
    /// The AYON host the server assigns the service to, when that is another host.
    pub owner_host: Option<String>,
    /// Whether this host removes it (the server no longer has the service, or has it
    /// here with `shouldRun` false); otherwise it is left alone.
    pub removing: bool,
    /// What is done and why, in words: "left alone: ash runs it for host sw-07".
    pub reason: String,
}

/// A service's own word on how it is doing (`POST /api/v1/self/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedStatus {
    pub state: ReportedState,
    #[serde(default)]
    pub message: Option<String>,
    /// 0 to 100.
    #[serde(default)]
    pub progress: Option<f64>,
    /// Unix ms when it was reported (set by ashtray).
    #[serde(default)]
    pub at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedState {
    Ok,
    Busy,
    Error,
}

/// Something that changed, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventEnvelope {
    /// Increases by one per event; a gap means a slow reader missed some.
    pub seq: u64,
    pub at_ms: u64,
    #[serde(flatten)]
    pub event: HostEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostEvent {
    /// A service's state changed: started (`to: running`), stopped, failed, ...
    ServiceState {
        service: String,
        from: Option<ServiceState>,
        to: ServiceState,
        message: Option<String>,
    },
    /// ashtray replaced a service's container.
    ServiceRestarted {
        service: String,
        reason: String,
    },
    /// The service reported its own status.
    ServiceStatus {
        service: String,
        status: ReportedStatus,
    },
    /// The service is no longer on this host.
    ServiceRemoved {
        service: String,
    },
    ServerConnection {
        state: ServerState,
        reason: Option<String>,
    },
    EngineConnection {
        state: EngineState,
        reason: Option<String>,
    },
    Paused {
        paused: bool,
    },
}

/// The events that lead from `old` to `new`, derived rather than announced by hand so
/// that no change can go unreported.
pub fn changes(old: &HostState, new: &HostState) -> Vec<HostEvent> {
    let mut events = Vec::new();
    if old.server.state != new.server.state
        || (new.server.state != ServerState::Connected && old.server.reason != new.server.reason)
    {
        events.push(HostEvent::ServerConnection {
            state: new.server.state,
            reason: new.server.reason.clone(),
        });
    }
    if old.engine.state != new.engine.state {
        events.push(HostEvent::EngineConnection {
            state: new.engine.state,
            reason: new.engine.reason.clone(),
        });
    }
    if old.paused != new.paused {
        events.push(HostEvent::Paused { paused: new.paused });
    }
    // The same views, shared: nothing changed in any service.
    if Arc::ptr_eq(&old.services, &new.services) {
        return events;
    }
    // The snapshot lists the same services in the same order on most publishes: then
    // each one's previous view is the one at its index, with no map of ten thousand
    // names made on every publish to find it.
    let same_names = old.services.len() == new.services.len()
        && old
            .services
            .iter()
            .zip(new.services.iter())
            .all(|(o, n)| o.name == n.name);
    let before: BTreeMap<&str, &ServiceView> = if same_names {
        BTreeMap::new()
    } else {
        old.services.iter().map(|s| (s.name.as_str(), s)).collect()
    };
    for (index, service) in new.services.iter().enumerate() {
        let previous = if same_names {
            old.services.get(index)
        } else {
            before.get(service.name.as_str()).copied()
        };
        if previous.map(|p| p.state) != Some(service.state) {
            events.push(HostEvent::ServiceState {
                service: service.name.clone(),
                from: previous.map(|p| p.state),
                to: service.state,
                message: service.last_error.clone(),
            });
        }
        if previous.is_some_and(|p| service.restarts > p.restarts) {
            events.push(HostEvent::ServiceRestarted {
                service: service.name.clone(),
                reason: service
                    .last_restart_reason
                    .clone()
                    .unwrap_or_else(|| "restarted".into()),
            });
        }
        if let Some(status) = &service.reported {
            if previous.is_none_or(|p| p.reported.as_ref() != Some(status)) {
                events.push(HostEvent::ServiceStatus {
                    service: service.name.clone(),
                    status: status.clone(),
                });
            }
        }
    }
    if same_names {
        return events;
    }
    let names: std::collections::HashSet<&str> =
        new.services.iter().map(|s| s.name.as_str()).collect();
    for name in before.keys().filter(|name| !names.contains(*name)) {
        events.push(HostEvent::ServiceRemoved {
            service: name.to_string(),
        });
    }
    events
}

impl HostState {
    /// The one word for the tray, from the parts.
    pub fn overall_of(
        server: ServerState,
        engine: EngineState,
        paused: bool,
        services: &[ServiceView],
    ) -> Overall {
        if paused {
            Overall::Paused
        } else if matches!(server, ServerState::Unreachable | ServerState::Unauthorized) {
            Overall::Unreachable
        } else if engine == EngineState::Down {
            Overall::EngineDown
        } else if server == ServerState::Connecting || engine == EngineState::Connecting {
            // (NotConfigured counts as connected: the local services are all there is.)
            Overall::Starting
        } else if services.iter().any(|s| {
            matches!(
                s.state,
                ServiceState::Failed | ServiceState::CrashLooping | ServiceState::Waiting
            )
        }) {
            Overall::Degraded
        } else {
            Overall::Ok
        }
    }

    pub fn service(&self, name: &str) -> Option<&ServiceView> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, state: ServiceState, restarts: u32) -> ServiceView {
        ServiceView {
            restarts,
            ..crate::fixtures::service(name, state)
        }
    }

    fn host(services: Vec<ServiceView>, server: ServerState) -> HostState {
        crate::fixtures::host(server, services)
    }

    #[test]
    fn changes_name_every_transition_in_order() {
        let old = host(
            vec![
                view("a", ServiceState::Starting, 0),
                view("gone", ServiceState::Running, 0),
            ],
            ServerState::Connected,
        );
        let restarted = ServiceView {
            last_restart_reason: Some("its spec changed on the server".into()),
            ..view("a", ServiceState::Running, 1)
        };
        let new = host(
            vec![restarted, view("b", ServiceState::Starting, 0)],
            ServerState::Unreachable,
        );
        let events = changes(&old, &new);
        assert_eq!(events.len(), 5, "{events:?}");
        assert!(matches!(
            &events[0],
            HostEvent::ServerConnection {
                state: ServerState::Unreachable,
                ..
            }
        ));
        assert!(
            matches!(&events[1], HostEvent::ServiceState { service, from: Some(ServiceState::Starting), to: ServiceState::Running, .. } if service == "a")
        );
        assert!(
            matches!(&events[2], HostEvent::ServiceRestarted { service, reason } if service == "a" && reason == "its spec changed on the server")
        );
        assert!(
            matches!(&events[3], HostEvent::ServiceState { service, from: None, .. } if service == "b")
        );
        assert!(matches!(&events[4], HostEvent::ServiceRemoved { service } if service == "gone"));
        assert!(changes(&new, &new).is_empty());
    }

    #[test]
    fn the_same_services_in_the_same_order_are_each_compared_with_their_own_last_view() {
        let a_and_b = |b: ServiceState, b_restarts| {
            let services = vec![
                view("a", ServiceState::Running, 0),
                view("b", b, b_restarts),
            ];
            host(services, ServerState::Connected)
        };
        let old = a_and_b(ServiceState::Running, 2);
        let new = a_and_b(ServiceState::Waiting, 3);
        let events = changes(&old, &new);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(&events[0], HostEvent::ServiceState { service, from: Some(ServiceState::Running), to: ServiceState::Waiting, .. } if service == "b")
        );
        assert!(
            matches!(&events[1], HostEvent::ServiceRestarted { service, .. } if service == "b")
        );
        // The same names in another order are matched by name, not by place.
        let swapped = host(
            vec![
                view("b", ServiceState::Running, 2),
                view("a", ServiceState::Running, 0),
            ],
            ServerState::Connected,
        );
        assert!(changes(&old, &swapped).is_empty());
    }

    #[test]
    fn actions_follow_what_the_engine_would_do_with_them() {
        use DesiredState as D;
        use ServiceState as S;
        let allowed = |desired, state, stopped_here, paused| {
            let a = ServiceActions::allowed(desired, state, stopped_here, paused);
            (a.start, a.stop, a.restart)
        };
        // (desired, state, stopped here, paused) → (start, stop, restart)
        let table = [
            ((D::Run, S::Running, false, false), (false, true, true)),
            ((D::Run, S::Starting, false, false), (false, true, true)),
            ((D::Run, S::Pending, false, false), (false, true, true)),
            ((D::Run, S::Waiting, false, false), (true, true, true)),
            ((D::Run, S::CrashLooping, false, false), (true, true, true)),
            ((D::Run, S::Failed, false, false), (true, true, true)),
            (
                (D::StoppedLocally, S::Stopped, true, false),
                (true, false, false),
            ),
            // Paused: only "Resume all" runs it again.
            (
                (D::StoppedLocally, S::Stopped, true, true),
                (false, false, false),
            ),
            (
                (D::StoppedLocally, S::Stopped, false, true),
                (false, false, false),
            ),
            (
                (D::NotWanted, S::Stopping, false, false),
                (false, false, false),
            ),
            ((D::Invalid, S::Failed, false, false), (false, false, false)),
            (
                (D::NoImage, S::Skipped, false, false),
                (false, false, false),
            ),
        ];
        for ((desired, state, stopped_here, paused), expected) in table {
            assert_eq!(
                allowed(desired, state, stopped_here, paused),
                expected,
                "{desired:?} {state:?} stopped here {stopped_here} paused {paused}"
            );
        }
    }

    #[test]
    fn overall_prefers_the_most_important_word() {
        let failing = [view("a", ServiceState::CrashLooping, 0)];
        assert_eq!(
            HostState::overall_of(ServerState::Connected, EngineState::Up, false, &failing),
            Overall::Degraded
        );
        assert_eq!(
            HostState::overall_of(ServerState::Unreachable, EngineState::Up, false, &failing),
            Overall::Unreachable
        );
        assert_eq!(
            HostState::overall_of(ServerState::Connected, EngineState::Up, true, &failing),
            Overall::Paused
        );
        assert_eq!(
            HostState::overall_of(ServerState::Connected, EngineState::Down, false, &[]),
            Overall::EngineDown
        );
        assert_eq!(
            HostState::overall_of(ServerState::Connected, EngineState::Up, false, &[]),
            Overall::Ok
        );
    }
}
