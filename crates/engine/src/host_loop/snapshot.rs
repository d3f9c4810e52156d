//! The snapshot of the host the loop publishes after every change: what each service
//! is, derived from what the server wants, what runs, what is under way and what the
//! user decided here. A pure function of the loop's components and `now`; it never
//! changes them.

use std::borrow::Cow;
use std::sync::Arc;

use tokio::time::Instant;

use super::book::ServiceBook;
use super::catalog::ServerCatalog;
use super::container_engine::ContainerEngineLink;
use super::heartbeat::ServerLink;
use super::service_draft::ServiceDraft;
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
        snapshot(&self.snapshot_parts(), Instant::now())
    }

    /// The snapshot, unless it is `last` again ([`snapshot_if_changed`]).
    pub(super) fn snapshot_if_changed(&self, last: &HostState) -> Option<HostState> {
        snapshot_if_changed(&self.snapshot_parts(), Instant::now(), last)
    }

    fn snapshot_parts(&self) -> SnapshotParts<'_> {
        SnapshotParts {
            me: self.me(),
            desired: self.desired.as_ref(),
            container_engine: &self.container_engine,
            book: &self.book,
            local_stops: &self.local_stops,
            server: &self.server,
            catalog: &self.catalog,
            clock: self.clock,
            sources: &self.sources,
        }
    }
}

/// The host as the loop's components say it is at `now`. Pure: it reads, never changes.
pub(super) fn snapshot(p: &SnapshotParts<'_>, now: Instant) -> HostState {
    host_state(p, drafts(p, now).map(|draft| draft.view()).collect())
}

/// The snapshot at `now`, unless it would equal `last`: then `None`, and nothing was
/// built. Most passes change nothing, or only the time of the last heartbeat: then the
/// services' views are `last`'s, shared. Building every view to compare it was most of
/// a steady pass's cost at thousands of services.
pub(super) fn snapshot_if_changed(
    p: &SnapshotParts<'_>,
    now: Instant,
    last: &HostState,
) -> Option<HostState> {
    let HostState {
        hostname,
        server_url,
        server,
        engine,
        health: last_health,
        paused,
        overall,
        services,
        problems: last_problems,
        unclaimed: last_unclaimed,
        local_services,
    } = last;
    let mut drafts = drafts(p, now);
    let same_services = services
        .iter()
        .all(|view| drafts.next().is_some_and(|draft| draft.shows(view)))
        && drafts.next().is_none();
    if !same_services {
        return Some(snapshot(p, now));
    }
    // The services are `last`'s: so is `overall` when what else it is made of is.
    let same = hostname == p.me.hostname
        && server_url == p.me.server_url
        && *server == p.server.connection
        && *engine == p.container_engine.connection
        && *last_health == health(p)
        && *paused == p.local_stops.paused_all
        && *overall
            == HostState::overall_of(
                p.server.connection.state,
                p.container_engine.connection.state,
                p.local_stops.paused_all,
                services,
            )
        && last_problems.as_slice() == problems(p)
        // Few, and none on most hosts: built to be compared.
        && *last_unclaimed == unclaimed(p)
        && *local_services == p.sources.local.as_ref().map(|local| local.view());
    (!same).then(|| host_state(p, services.clone()))
}

/// The host with these services.
fn host_state(p: &SnapshotParts<'_>, services: Arc<[ServiceView]>) -> HostState {
    let paused = p.local_stops.paused_all;
    HostState {
        hostname: p.me.hostname.to_string(),
        server_url: p.me.server_url.to_string(),
        server: p.server.connection.clone(),
        engine: p.container_engine.connection.clone(),
        health: health(p),
        paused,
        overall: HostState::overall_of(
            p.server.connection.state,
            p.container_engine.connection.state,
            paused,
            &services,
        ),
        services,
        problems: problems(p).to_vec(),
        unclaimed: unclaimed(p),
        local_services: p.sources.local.as_ref().map(|local| local.view()),
    }
}

fn health(p: &SnapshotParts<'_>) -> HostHealth {
    HostHealth {
        cpu: p.server.health.cpu,
        mem: p.server.health.mem,
    }
}

fn problems<'a>(p: &SnapshotParts<'a>) -> &'a [String] {
    p.desired.map_or(&[], DesiredSet::problems)
}

fn unclaimed(p: &SnapshotParts<'_>) -> Vec<UnclaimedView> {
    p.container_engine
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
        .collect()
}

/// Every service the snapshot lists at `now`, in name order, borrowed.
///
/// The names come from three lists, each sorted by name and walked side by side: the
/// answer's items (sorted by the set), this host's containers (kept sorted by service
/// where they are placed) and the actions under way (few, sorted here). A map of the
/// answer and a set of all names, made on every publish, were a hash and a string
/// search per service.
fn drafts<'a>(p: &'a SnapshotParts<'a>, now: Instant) -> impl Iterator<Item = ServiceDraft<'a>> {
    let items: &[Desired] = p.desired.map_or(&[], DesiredSet::items);
    let configs = p.desired.map_or(&[][..], DesiredSet::configs);
    let sources = p.desired.map_or(&[][..], DesiredSet::sources);
    let mut next_item = 0;
    let mut containers_rest: &[ObservedContainer] = &p.container_engine.observed;
    debug_assert!(
        containers_rest.is_sorted_by(|a, b| a.service_name <= b.service_name),
        "this host's containers are kept sorted by service"
    );
    let mut in_flight: Vec<&str> = p.book.in_flight.keys().map(String::as_str).collect();
    in_flight.sort_unstable();
    let mut in_flight_next = 0;
    // The book's records are kept by name too: walked beside, not searched. The
    // answer's containers and sources are beside its items.
    let mut records = SortedWalk::new(&p.book.records);
    std::iter::from_fn(move || {
        let name = [
            items.get(next_item).map(Desired::name),
            containers_rest.first().map(|c| c.service_name.as_str()),
            in_flight.get(in_flight_next).copied(),
        ]
        .into_iter()
        .flatten()
        .min()?;
        // Of two entries of one name the second is the refusal ("appears twice"): the
        // one shown.
        // Counted from the front, not searched: the run is one entry long, mostly.
        let same = items[next_item..]
            .iter()
            .take_while(|d| d.name() == name)
            .count();
        let entries = next_item..next_item + same;
        next_item = entries.end;
        let item = items[entries.clone()].last();
        // A name's container is its runnable entry's, its source its first entry's.
        let config = configs[entries.clone()].iter().flatten().next();
        let count = containers_rest
            .iter()
            .take_while(|c| c.service_name == name)
            .count();
        let (containers, after) = containers_rest.split_at(count);
        containers_rest = after;
        if in_flight.get(in_flight_next) == Some(&name) {
            in_flight_next += 1;
        }
        let record = records.get(name);
        let keeper = containers
            .iter()
            .find(|c| c.status == ContainerStatus::Running)
            .or_else(|| containers.first());
        let stopped_here = p.local_stops.stopped.contains(name);
        let stopped_locally = p.local_stops.paused_all || stopped_here;
        let desired = match item {
            Some(Desired::Run(_)) if stopped_locally => DesiredState::StoppedLocally,
            Some(Desired::Run(_)) => DesiredState::Run,
            Some(Desired::Invalid(_)) => DesiredState::Invalid,
            Some(Desired::NoImage { .. }) => DesiredState::NoImage,
            None if p.desired.is_none() => DesiredState::Run,
            None => DesiredState::NotWanted,
        };
        let source = sources
            .get(entries.start)
            .filter(|_| item.is_some())
            .copied()
            .unwrap_or_default();
        let waiting = record.and_then(|r| r.backoff.waiting_until(now));
        let state = service_state(&ServiceFacts {
            in_flight: p.book.in_flight.get(name).map(|f| f.starting),
            desired,
            stopped_locally,
            container: keeper.map(|k| k.status),
            crash_looping: record.is_some_and(|r| r.backoff.crash_looping()),
            waiting: waiting.is_some(),
            failed_before: record.is_some_and(|r| r.last_error.is_some()),
        });
        Some(ServiceDraft {
            name,
            spec: match item {
                Some(Desired::Run(spec)) => Some(spec.as_ref()),
                _ => None,
            },
            keeper,
            record,
            refused: match item {
                Some(Desired::Invalid(error)) => Some(error),
                _ => None,
            },
            desired,
            state,
            // The container config made it already: no slug made again per publish.
            container_name: config.map_or_else(
                || Cow::Owned(crate::slug::container_name(name)),
                |c| Cow::Borrowed(c.name.as_str()),
            ),
            next_restart_at_ms: waiting.map(|at| p.clock.unix_ms(at)),
            actions: ServiceActions::allowed(
                desired,
                state,
                stopped_here,
                p.local_stops.paused_all,
            ),
            source,
            unreachable_since_ms: (source == ServiceSource::Cache
                && p.server.connection.state != ServerState::Connected)
                .then_some(p.server.connection.since_ms),
            pull: p.book.pulls.get(name),
        })
    })
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
        sources: DesiredSources,
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
                sources: DesiredSources::default(),
            }
        }

        fn runs(&mut self, service: &str, status: ContainerStatus) {
            let observed = &mut self.container_engine.observed;
            observed.push(ObservedContainer {
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
            // As `HostLoop::place` keeps them.
            observed.sort_by(|a, b| a.service_name.cmp(&b.service_name));
        }

        fn parts(&self) -> SnapshotParts<'_> {
            SnapshotParts {
                me: Me {
                    hostname: "h",
                    server_url: "http://s",
                },
                desired: self.desired.as_ref(),
                container_engine: &self.container_engine,
                book: &self.book,
                local_stops: &self.local_stops,
                server: &self.server,
                catalog: &self.catalog,
                clock: self.clock,
                sources: &self.sources,
            }
        }

        fn snapshot(&self, now: Instant) -> HostState {
            snapshot(&self.parts(), now)
        }

        fn snapshot_if_changed(&self, now: Instant, last: &HostState) -> Option<HostState> {
            snapshot_if_changed(&self.parts(), now, last)
        }
    }

    /// A publish builds a snapshot exactly when it would differ from the last one, and
    /// then the one `snapshot` builds: checked between every two of these hosts, each a
    /// small change from the first.
    #[tokio::test(start_paused = true)]
    async fn a_snapshot_is_built_exactly_when_it_differs_from_the_last() {
        let now = Instant::now();
        let a = || Some(vec![entry("a", "img:1"), entry("b", "img:1")]);
        type Setup = fn(&mut Components, Instant);
        #[rustfmt::skip]
        let worlds: Vec<(&str, Option<Vec<serde_json::Value>>, Setup)> = vec![
            ("no answer yet", None, |c, _| c.runs("a", C::Running)),
            ("nothing runs", a(), |_, _| {}),
            ("a runs", a(), |c, _| c.runs("a", C::Running)),
            ("both run", a(), |c, _| { c.runs("a", C::Running); c.runs("b", C::Running) }),
            ("a has exited", a(), |c, _| c.runs("a", C::Exited)),
            ("a is stopped here", a(), |c, _| { c.runs("a", C::Running); c.local_stops.stopped.insert("a".into()); }),
            ("all paused", a(), |c, _| { c.runs("a", C::Running); c.local_stops.paused_all = true; }),
            ("b is refused", Some(vec![entry("a", "img:1"), entry("b", "Not An Image")]), |c, _| c.runs("a", C::Running)),
            ("a start is under way", a(), |c, _| { c.runs("a", C::Running); c.book.begin("b", true) }),
            ("a restarted once", a(), |c, _| { c.runs("a", C::Running); c.book.record("a").restarts = 1; }),
            ("a said it is fine", a(), |c, _| {
                c.runs("a", C::Running);
                c.book.record("a").reported = Some(crate::host_state::ReportedStatus {
                    state: crate::host_state::ReportedState::Ok, message: None, progress: None, at_ms: 1,
                });
            }),
            ("b failed and waits", a(), |c, now| {
                c.runs("a", C::Running);
                let record = c.book.record("b");
                record.backoff.record_failure(now, None);
                record.last_error = Some("refused".into());
            }),
            ("the server is away", a(), |c, _| { c.runs("a", C::Running); c.server.connection.state = ServerState::Unreachable; }),
            ("the engine is down", a(), |c, _| { c.runs("a", C::Running); c.container_engine.connection.state = EngineState::Down; }),
            ("the host is busier", a(), |c, _| { c.runs("a", C::Running); c.server.health.cpu = 50.0; }),
            ("an ash container is unclaimed", a(), |c, _| {
                c.runs("a", C::Running);
                c.container_engine.unclaimed.push(crate::testing::running_container("x", "elsewhere"));
            }),
        ];
        // One clock and one moment of connection for all: built apart, the same world
        // gives the same snapshot.
        let clock = WallClock::now();
        let build = |(_, answer, setup): &(&str, Option<Vec<serde_json::Value>>, Setup)| {
            let mut components = Components::new(answer.clone());
            components.clock = clock;
            components.server.connection.since_ms = 1;
            setup(&mut components, now);
            components
        };
        let mut unchanged = 0;
        for last_world in &worlds {
            let components = build(last_world);
            let last = components.snapshot(now);
            assert!(
                components.snapshot_if_changed(now, &last).is_none(),
                "{}: built again with nothing changed",
                last_world.0
            );
            for world in &worlds {
                let components = build(world);
                let full = components.snapshot(now);
                let (from, to) = (last_world.0, world.0);
                match components.snapshot_if_changed(now, &last) {
                    None => {
                        assert_eq!(full, last, "from {from:?} to {to:?}: a change unseen");
                        unchanged += 1;
                    }
                    Some(built) => {
                        assert_ne!(full, last, "from {from:?} to {to:?}: built for nothing");
                        assert_eq!(built, full, "from {from:?} to {to:?}");
                    }
                }
            }
        }
        assert_eq!(
            unchanged,
            worlds.len(),
            "only a world and itself give one snapshot"
        );
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
