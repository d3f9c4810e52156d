//! The snapshot of the host the loop publishes after every change: what each service
//! is, derived from what the server wants, what runs, what is under way and what the
//! user decided here. A pure function of the loop's components and `now`; it never
//! changes them.

use tokio::time::Instant;

use super::book::ServiceBook;
use super::catalog::ServerCatalog;
use super::container_engine::ContainerEngineLink;
use super::heartbeat::ServerLink;
use super::sources::DesiredSources;
use super::HostLoop;
use crate::host_state::{
    DesiredState, HostHealth, HostState, ServerState, ServiceActions, ServiceSource, ServiceState,
    ServiceView, UnclaimedView,
};
use crate::local_stops::LocalStops;
use crate::reconcile::desired::DesiredSet;
use crate::reconcile::ownership::{verdict, Me};
use crate::runtime::{ContainerStatus, ObservedContainer};
use crate::sorted_walk::SortedWalk;
use crate::spec::Desired;

/// What the snapshot is made of: the loop's components, borrowed.
pub(super) struct SnapshotParts<'a> {
    pub(super) me: Me<'a>,
    pub(super) desired: Option<&'a DesiredSet>,
    pub(super) container_engine: &'a ContainerEngineLink,
    pub(super) book: &'a ServiceBook,
    pub(super) local_stops: &'a LocalStops,
    pub(super) server: &'a ServerLink,
    pub(super) catalog: &'a ServerCatalog,
    pub(super) sources: &'a DesiredSources,
    pub(super) clock: WallClock,
}

/// Turns the loop's monotonic instants into Unix ms for the host state. One anchor,
/// taken when the loop starts, so an instant always becomes the same number: reading the
/// wall clock afresh for every snapshot would move each countdown by a millisecond or so
/// and make every snapshot look like news.
#[derive(Debug, Clone, Copy)]
pub(super) struct WallClock {
    instant: Instant,
    unix_ms: u64,
}

impl WallClock {
    pub(super) fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            unix_ms: crate::host_state::now_ms(),
        }
    }

    pub(super) fn unix_ms(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_ms + after.as_millis() as u64,
            None => self
                .unix_ms
                .saturating_sub(self.instant.duration_since(at).as_millis() as u64),
        }
    }
}

impl HostLoop {
    pub(super) fn snapshot(&self) -> HostState {
        let parts = SnapshotParts {
            me: self.me(),
            desired: self.desired.as_ref(),
            container_engine: &self.container_engine,
            book: &self.book,
            local_stops: &self.local_stops,
            server: &self.server,
            catalog: &self.catalog,
            clock: self.clock,
            sources: &self.sources,
        };
        snapshot(&parts, Instant::now())
    }
}

/// The host as the loop's components say it is at `now`. Pure: it reads, never changes.
pub(super) fn snapshot(p: &SnapshotParts<'_>, now: Instant) -> HostState {
    // Every name the snapshot lists comes from three lists, each sorted by name and
    // walked side by side: the answer's items (sorted by the set), this host's
    // containers (sorted here, stable: each service's containers stay in the order
    // listed) and the actions under way (few). A map of the answer and a set of all
    // names, made on every publish, were a hash and a string search per service.
    let items: &[Desired] = p.desired.map_or(&[], DesiredSet::items);
    let mut by_service: Vec<&ObservedContainer> = p.container_engine.observed.iter().collect();
    by_service.sort_by(|a, b| a.service_name.cmp(&b.service_name));
    let mut in_flight: Vec<&str> = p.book.in_flight.keys().map(String::as_str).collect();
    in_flight.sort_unstable();
    let (mut items_rest, mut containers_rest, mut in_flight_rest) =
        (items, by_service.as_slice(), in_flight.as_slice());
    // The book's records are kept by name too: walked beside, not searched.
    let mut records = SortedWalk::new(&p.book.records);
    let no_configs = Default::default();
    let mut configs = SortedWalk::new(p.desired.map_or(&no_configs, DesiredSet::configs));
    let no_sources = Default::default();
    let mut sources = SortedWalk::new(p.desired.map_or(&no_sources, DesiredSet::sources));
    let mut services = Vec::with_capacity(items.len().max(by_service.len()));
    loop {
        let next = [
            items_rest.first().map(Desired::name),
            containers_rest.first().map(|c| c.service_name.as_str()),
            in_flight_rest.first().copied(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(name) = next else {
            break;
        };
        // Of two entries of one name the second is the refusal ("appears twice"): the
        // one shown.
        // Counted from the front, not searched: the run is one entry long, mostly.
        let same = items_rest.iter().take_while(|d| d.name() == name).count();
        let item = items_rest[..same].last();
        items_rest = &items_rest[same..];
        let count = containers_rest
            .iter()
            .take_while(|c| c.service_name == name)
            .count();
        let (containers, after) = containers_rest.split_at(count);
        containers_rest = after;
        in_flight_rest =
            &in_flight_rest[in_flight_rest.iter().take_while(|f| **f == name).count()..];
        let record = records.get(name);
        let keeper = containers
            .iter()
            .find(|c| c.status == ContainerStatus::Running)
            .or_else(|| containers.first())
            .copied();
        let stopped_locally = p.local_stops.paused_all || p.local_stops.stopped.contains(name);
        let desired_state = match item {
            Some(Desired::Run(_)) if stopped_locally => DesiredState::StoppedLocally,
            Some(Desired::Run(_)) => DesiredState::Run,
            Some(Desired::Invalid(_)) => DesiredState::Invalid,
            Some(Desired::NoImage { .. }) => DesiredState::NoImage,
            None if p.desired.is_none() => DesiredState::Run,
            None => DesiredState::NotWanted,
        };
        let spec = match item {
            Some(Desired::Run(spec)) => Some(spec.as_ref()),
            _ => None,
        };
        let source = match item {
            Some(_) => sources.get(name).copied().unwrap_or_default(),
            None => ServiceSource::Server,
        };
        let unreachable_since_ms = (source == ServiceSource::Cache
            && p.server.connection.state != ServerState::Connected)
            .then_some(p.server.connection.since_ms);
        let waiting = record.and_then(|r| r.backoff.waiting_until(now));
        let crash_looping = record.is_some_and(|r| r.backoff.crash_looping());
        let state = service_state(&ServiceFacts {
            in_flight: p.book.in_flight.get(name).map(|f| f.starting),
            desired: desired_state,
            stopped_locally,
            container: keeper.map(|k| k.status),
            crash_looping,
            waiting: waiting.is_some(),
            failed_before: record.is_some_and(|r| r.last_error.is_some()),
        });
        let last_error = match item {
            Some(Desired::Invalid(error)) => Some(error.to_string()),
            _ => record.and_then(|r| r.last_error.clone()),
        };
        services.push(ServiceView {
            name: name.to_string(),
            addon_name: spec.map(|s| s.addon_name.clone()),
            addon_version: spec.map(|s| s.addon_version.clone()),
            service: spec.map(|s| s.service.clone()),
            image: spec
                .map(|s| s.image.clone())
                .or_else(|| keeper.map(|k| k.image.clone())),
            desired: desired_state,
            state,
            container_id: keeper.map(|k| k.id.clone()),
            // The container config made it already: no slug made again per publish.
            container_name: configs
                .get(name)
                .map_or_else(|| crate::slug::container_name(name), |c| c.name.clone()),
            started_at_ms: keeper
                .filter(|k| k.status == ContainerStatus::Running)
                .map(|k| (k.created.max(0) as u64) * 1000),
            restarts: record.map_or(0, |r| r.restarts),
            last_restart_reason: record
                .and_then(|r| r.last_restart_reason)
                .map(|reason| reason.to_string()),
            last_exit_code: record.and_then(|r| r.last_exit_code),
            last_exit_oom_killed: record.is_some_and(|r| r.last_exit_oom_killed),
            last_error,
            last_output: record.map(|r| r.last_output.clone()).unwrap_or_default(),
            next_restart_at_ms: waiting.map(|at| p.clock.unix_ms(at)),
            reported: record.and_then(|r| r.reported.clone()),
            actions: ServiceActions::allowed(
                desired_state,
                state,
                p.local_stops.stopped.contains(name),
                p.local_stops.paused_all,
            ),
            source,
            unreachable_since_ms,
            health: keeper
                .filter(|k| k.status == ContainerStatus::Running)
                .and_then(|k| k.health),
            pull: p.book.pulls.get(name).cloned(),
        });
    }
    let paused = p.local_stops.paused_all;
    HostState {
        hostname: p.me.hostname.to_string(),
        server_url: p.me.server_url.to_string(),
        server: p.server.connection.clone(),
        engine: p.container_engine.connection.clone(),
        health: HostHealth {
            cpu: p.server.health.cpu,
            mem: p.server.health.mem,
        },
        paused,
        overall: HostState::overall_of(
            p.server.connection.state,
            p.container_engine.connection.state,
            paused,
            &services,
        ),
        services,
        problems: p
            .desired
            .as_ref()
            .map_or_else(Vec::new, |set| set.problems().to_vec()),
        unclaimed: p
            .container_engine
            .unclaimed
            .iter()
            .map(|container| {
                let verdict = verdict(
                    container,
                    p.me,
                    p.desired.is_some(),
                    p.catalog.list(),
                    p.catalog.failure(),
                );
                UnclaimedView {
                    service: container.service_name.clone(),
                    container_id: container.id.clone(),
                    container_name: container.name.clone(),
                    owner_host: verdict.owner_host().map(String::from),
                    removing: verdict.removes(),
                    reason: verdict.to_string(),
                }
            })
            .collect(),
        local_services: p.sources.local.as_ref().map(|local| local.view()),
    }
}

/// What the snapshot knows of one service, to say what state it is in.
#[derive(Debug, Clone, Copy)]
struct ServiceFacts {
    /// An action under way: `Some(true)` when one of them starts a container.
    in_flight: Option<bool>,
    desired: DesiredState,
    /// Stopped on this host, or everything paused (whatever the server's spec says).
    stopped_locally: bool,
    /// The status of the container that counts (running first), if there is one.
    container: Option<ContainerStatus>,
    crash_looping: bool,
    /// Waiting out a backoff.
    waiting: bool,
    /// Its last attempt left an error.
    failed_before: bool,
}

/// The one word the tray, the page and the CLI show for a service. Pure: a table test
/// below covers each row.
fn service_state(f: &ServiceFacts) -> ServiceState {
    use ContainerStatus as C;
    match (f.in_flight, f.container) {
        (Some(true), _) => ServiceState::Starting,
        (Some(false), Some(C::Running))
            if f.stopped_locally || f.desired == DesiredState::NotWanted =>
        {
            ServiceState::Stopping
        }
        _ if f.desired == DesiredState::Invalid => ServiceState::Failed,
        _ if f.desired == DesiredState::NoImage => ServiceState::Skipped,
        (_, Some(C::Running)) if f.stopped_locally => ServiceState::Stopping,
        (_, Some(C::Running)) => ServiceState::Running,
        (_, Some(C::Starting)) => ServiceState::Starting,
        (_, Some(_)) if f.stopped_locally => ServiceState::Stopping,
        (_, Some(_)) if f.crash_looping => ServiceState::CrashLooping,
        (_, Some(_)) => ServiceState::Waiting,
        (_, None) if f.stopped_locally => ServiceState::Stopped,
        (_, None) if f.waiting && f.crash_looping => ServiceState::CrashLooping,
        (_, None) if f.waiting && f.failed_before => ServiceState::Failed,
        (_, None) => ServiceState::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ayon::AyonClient;
    use crate::host_state::{EngineConnection, EngineState};
    use crate::runtime::memory::MemoryRuntime;
    use crate::secret::Secret;
    use crate::testing::{entry, host};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::mpsc;
    use ContainerStatus as C;
    use DesiredState as D;
    use ServiceState as S;

    /// The loop's components, owned, as a test sets them up.
    struct Components {
        desired: Option<DesiredSet>,
        container_engine: ContainerEngineLink,
        book: ServiceBook,
        local_stops: LocalStops,
        server: ServerLink,
        catalog: ServerCatalog,
        clock: WallClock,
    }

    impl Components {
        fn new(answer: Option<Vec<serde_json::Value>>) -> Components {
            let connection = EngineConnection {
                state: EngineState::Up,
                kind: "Docker".into(),
                endpoint: "unix:///run/docker.sock".into(),
                version: None,
                reason: None,
            };
            let client = AyonClient::new("http://s", Secret::new("k"), Duration::from_secs(1));
            Components {
                desired: answer.map(|entries| DesiredSet::from_answer(&entries, &host())),
                container_engine: ContainerEngineLink::new(
                    Arc::new(MemoryRuntime::new()),
                    connection,
                ),
                book: ServiceBook::default(),
                local_stops: LocalStops::default(),
                server: ServerLink::new(Arc::new(client), "http://s", mpsc::unbounded_channel().0),
                catalog: ServerCatalog::new(mpsc::unbounded_channel().0),
                clock: WallClock::now(),
            }
        }

        fn runs(&mut self, service: &str, status: ContainerStatus) {
            self.container_engine.observed.push(ObservedContainer {
                id: format!("id-{service}"),
                name: crate::slug::container_name(service),
                service_name: service.into(),
                spec_hash: Some("hash".into()),
                host: Some("h".into()),
                image: "img:1".into(),
                image_id: None,
                status,
                created: 1,
                health: None,
            });
        }

        fn snapshot(&self, now: Instant) -> HostState {
            let Components {
                desired,
                container_engine,
                book,
                local_stops,
                server,
                catalog,
                clock,
            } = self;
            let me = Me {
                hostname: "h",
                server_url: "http://s",
            };
            let desired = desired.as_ref();
            let parts = SnapshotParts {
                me,
                desired,
                container_engine,
                book,
                local_stops,
                server,
                catalog,
                clock: *clock,
                sources: &DesiredSources::default(),
            };
            snapshot(&parts, now)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_snapshot_says_what_the_components_say() {
        let now = Instant::now();
        let a = || vec![entry("a", "img:1")];
        type Setup = fn(&mut Components, Instant);
        type Row = (
            &'static str,
            Option<Vec<serde_json::Value>>,
            Setup,
            ServiceState,
            DesiredState,
        );
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("before any answer, what runs is taken as wanted", None, |c, _| c.runs("a", C::Running), S::Running, D::Run),
            ("wanted, nothing runs yet", Some(a()), |_, _| {}, S::Pending, D::Run),
            ("stopped here while it runs", Some(a()), |c, _| { c.runs("a", C::Running); c.local_stops.stopped.insert("a".into()); }, S::Stopping, D::StoppedLocally),
            ("no longer in the answer", Some(vec![]), |c, _| c.runs("a", C::Running), S::Running, D::NotWanted),
            ("an invalid spec", Some(vec![entry("a", "Not An Image")]), |_, _| {}, S::Failed, D::Invalid),
            ("a start under way", Some(a()), |c, _| c.book.begin("a", true), S::Starting, D::Run),
            ("a failed start, waiting out its backoff", Some(a()), |c, now| {
                let record = c.book.record("a");
                record.backoff.record_failure(now, None);
                record.last_error = Some("refused".into());
            }, S::Failed, D::Run),
        ];
        for (case, answer, setup, state, desired) in table {
            let mut components = Components::new(answer);
            setup(&mut components, now);
            let snapshot = components.snapshot(now);
            let service = snapshot
                .service("a")
                .unwrap_or_else(|| panic!("{case}: no a"));
            assert_eq!((service.state, service.desired), (state, desired), "{case}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_restart_is_a_moment_that_stays_put_while_time_runs() {
        let mut components = Components::new(Some(vec![entry("a", "img:1")]));
        let failed_at = Instant::now();
        components
            .book
            .record("a")
            .backoff
            .record_failure(failed_at, None);
        let due = components.clock.unix_ms(failed_at + Duration::from_secs(1));
        let at = |after_ms| {
            components
                .snapshot(failed_at + Duration::from_millis(after_ms))
                .service("a")
                .unwrap()
                .next_restart_at_ms
        };
        assert_eq!(at(0), Some(due));
        // The same moment later on: a countdown is the reader's to run, not news.
        assert_eq!(at(400), Some(due));
        assert_eq!(
            components.snapshot(failed_at + Duration::from_millis(400)),
            components.snapshot(failed_at + Duration::from_millis(900))
        );
        assert_eq!(at(1000), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_stopped_here_may_only_be_started_and_pause_all_allows_nothing() {
        let mut components = Components::new(Some(vec![entry("a", "img:1")]));
        components.runs("a", C::Running);
        let actions = |c: &Components| c.snapshot(Instant::now()).service("a").unwrap().actions;
        assert_eq!(
            actions(&components),
            ServiceActions {
                start: false,
                stop: true,
                restart: true
            }
        );
        components.local_stops.stopped.insert("a".into());
        assert_eq!(
            actions(&components),
            ServiceActions {
                start: true,
                stop: false,
                restart: false
            }
        );
        components.local_stops.paused_all = true;
        assert_eq!(actions(&components), ServiceActions::default());
    }

    #[test]
    fn each_combination_of_facts_names_one_state() {
        let base = ServiceFacts {
            in_flight: None,
            desired: D::Run,
            stopped_locally: false,
            container: None,
            crash_looping: false,
            waiting: false,
            failed_before: false,
        };
        #[rustfmt::skip]
        let table: Vec<(&str, ServiceFacts, ServiceState)> = vec![
            ("nothing yet", base, S::Pending),
            ("a start under way", ServiceFacts { in_flight: Some(true), container: Some(C::Running), ..base }, S::Starting),
            ("a stop under way here", ServiceFacts { in_flight: Some(false), stopped_locally: true, container: Some(C::Running), ..base }, S::Stopping),
            ("a stop of one not wanted", ServiceFacts { in_flight: Some(false), desired: D::NotWanted, container: Some(C::Running), ..base }, S::Stopping),
            ("an inspection of a running one", ServiceFacts { in_flight: Some(false), container: Some(C::Running), ..base }, S::Running),
            ("an invalid spec, whatever runs", ServiceFacts { desired: D::Invalid, container: Some(C::Running), ..base }, S::Failed),
            ("no image", ServiceFacts { desired: D::NoImage, ..base }, S::Skipped),
            ("running", ServiceFacts { container: Some(C::Running), ..base }, S::Running),
            ("running but stopped here", ServiceFacts { stopped_locally: true, container: Some(C::Running), ..base }, S::Stopping),
            ("created", ServiceFacts { container: Some(C::Starting), ..base }, S::Starting),
            ("exited, stopped here", ServiceFacts { stopped_locally: true, container: Some(C::Exited), ..base }, S::Stopping),
            ("exited, crash-looping", ServiceFacts { crash_looping: true, container: Some(C::Exited), ..base }, S::CrashLooping),
            ("exited, waiting", ServiceFacts { container: Some(C::Exited), ..base }, S::Waiting),
            ("gone, stopped here", ServiceFacts { stopped_locally: true, ..base }, S::Stopped),
            ("gone, crash-looping", ServiceFacts { waiting: true, crash_looping: true, ..base }, S::CrashLooping),
            ("a start failed, waiting", ServiceFacts { waiting: true, failed_before: true, ..base }, S::Failed),
            ("an old error, not waiting", ServiceFacts { failed_before: true, ..base }, S::Pending),
        ];
        for (case, facts, expected) in table {
            assert_eq!(service_state(&facts), expected, "{case}: {facts:?}");
        }
    }
}
