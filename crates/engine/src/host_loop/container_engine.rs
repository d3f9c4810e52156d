//! The container-engine connection: connecting (and reconnecting), the engine's service
//! containers kept from its event stream ([`ObservedSet`]) and listed only when that
//! cannot be trusted (see [`ContainerEngineLink::list_due`]), sorting them into this
//! host's and unclaimed containers, the engine-down path, and a follower per running
//! container feeding the LogHub. It never decides what to do with a container (the plan
//! does) and never keeps another host's.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use std::time::Duration;

use tokio::time::Instant;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{EventStream, HostLoop};
use crate::container::storage_binds;
use crate::host_state::{EngineConnection, EngineState};
use crate::reconcile::ownership::{claim, Claim};
use crate::runtime::{Connect, OwnContainer};
use crate::runtime::{
    ContainerEvent, ContainerRuntime, ContainerStatus, ObservedContainer, ObservedSet, OutputFrom,
    ReadMark, RuntimeError,
};

/// The container engine as the loop sees it: the way to reach it, the runtime once
/// reached, the state of the connection, this host's containers as last listed, and the
/// output followers.
pub(super) struct ContainerEngineLink {
    connector: Arc<dyn Connect>,
    pub(super) runtime: Option<Arc<dyn ContainerRuntime>>,
    pub(super) connection: EngineConnection,
    /// This host's service containers, sorted by service (see `HostLoop::place`).
    pub(super) observed: Vec<ObservedContainer>,
    /// Label-less containers this host's answer does not name (see `reconcile::ownership`).
    pub(super) unclaimed: Vec<ObservedContainer>,
    pub(super) followers: HashMap<String, tokio::task::JoinHandle<()>>,
    /// One stats stream per running container, by container id (see `crate::stats`).
    pub(super) stats_followers: HashMap<String, tokio::task::JoinHandle<()>>,
    /// How far each listed container's output has been read, kept past its follower's
    /// end: a follower attaching again reads on from there, never the same lines twice.
    read_marks: HashMap<String, Arc<Mutex<Option<ReadMark>>>>,
    /// Every service container of the engine (any host's), as the last list showed and
    /// the events since have changed it; `None` until listed, and whenever the events
    /// since may have a gap.
    kept: Option<ObservedSet>,
    /// When the engine was last listed.
    listed_at: Option<Instant>,
    /// Whether `observed` and `unclaimed` may no longer be what the kept set, corrected
    /// by the deaths announced and placed, makes of it: an event came (it may have
    /// changed the set or the deaths), or the answer re-placed them in another order.
    /// While it is `false` a look skips copying and placing the whole set again, which
    /// at ten thousand services was most of a steady tick's look.
    placed_stale: bool,
}

impl ContainerEngineLink {
    pub(super) fn new(connector: Arc<dyn Connect>, connection: EngineConnection) -> Self {
        ContainerEngineLink {
            connector,
            runtime: None,
            connection,
            observed: Vec::new(),
            unclaimed: Vec::new(),
            followers: HashMap::new(),
            stats_followers: HashMap::new(),
            read_marks: HashMap::new(),
            kept: None,
            listed_at: None,
            placed_stale: true,
        }
    }

    /// A container event applied to the kept set; `true` when that changed it, or when
    /// it told of a new container too little to keep (the next look then lists).
    pub(super) fn apply(&mut self, event: &ContainerEvent) -> bool {
        // Any event, even one that leaves the set as it is: it may announce a death
        // (`ServiceBook::container_event`), which corrects what is placed.
        self.placed_stale = true;
        let Some(kept) = self.kept.as_mut() else {
            return false;
        };
        if kept.needs_a_list(event) {
            self.kept = None;
            return true;
        }
        kept.apply(event)
    }

    /// The kept set cannot be trusted any more (the stream broke, an action of ours
    /// changed what events may not have reported yet): the next look lists.
    pub(super) fn forget_kept(&mut self) {
        self.kept = None;
        self.placed_stale = true;
    }

    /// `observed` and `unclaimed` were placed from something else than the kept set
    /// (the answer changed): the next look places the kept set again.
    pub(super) fn placed_elsewhere(&mut self) {
        self.placed_stale = true;
    }

    /// Whether the next look must list rather than read the kept set: on the first look
    /// and after a reconnect (nothing kept), without an event stream, on the safety
    /// timer, and always in the list-per-tick mode.
    fn list_due(
        &self,
        streaming: bool,
        every_tick: bool,
        interval: Duration,
        now: Instant,
    ) -> bool {
        every_tick
            || !streaming
            || self.kept.is_none()
            || self.listed_at.is_none_or(|at| now >= at + interval)
    }

    /// The runtime, connecting first if it is not reached yet; `true` with it the first
    /// time. A runtime once reached is kept: bollard reconnects per request.
    async fn connect(&mut self) -> Option<(Arc<dyn ContainerRuntime>, bool)> {
        if let Some(runtime) = &self.runtime {
            return Some((runtime.clone(), false));
        }
        match self.connector.connect().await {
            Ok(runtime) => {
                self.connection.version = runtime.version().await.ok();
                self.runtime = Some(runtime.clone());
                Some((runtime, true))
            }
            Err(error) => {
                self.down(&error);
                None
            }
        }
    }

    /// The engine is gone: said once, shown, and nothing it listed counts any more.
    pub(super) fn down(&mut self, error: &RuntimeError) {
        if self.connection.state != EngineState::Down {
            tracing::error!("{error}");
        }
        self.connection.state = EngineState::Down;
        self.connection.reason = Some(error.to_string());
        self.observed.clear();
        self.unclaimed.clear();
        self.kept = None;
        self.placed_stale = true;
    }
}

impl HostLoop {
    /// Reaches the container engine; on the first contact, learns what services inherit
    /// from the container ashtray runs in, if it runs in one, as ash does: its network
    /// when none is configured, and its `/storage*` mounts.
    pub(super) async fn connect(&mut self) -> bool {
        let Some((runtime, first)) = self.container_engine.connect().await else {
            return false;
        };
        if first {
            if let Some(own) = runtime.own_container().await {
                self.inherit(&own);
            }
        }
        true
    }

    fn inherit(&mut self, own: &OwnContainer) {
        if self.config.network.is_none() && self.config.network_mode.is_none() {
            if let Some(network) = own.first_network() {
                tracing::info!(
                    network,
                    "services join this container's network, as ash does"
                );
                self.host.network_mode = Some(network.to_string());
            }
        }
        self.host.storage_binds = storage_binds(&own.mounts);
        if !self.host.storage_binds.is_empty() {
            tracing::info!(
                mounts = ?self.host.storage_binds,
                "services get this container's /storage mounts, as ash does"
            );
        }
        self.sources.for_host(&self.host);
        self.desired = self.desired.take().map(|set| set.for_host(&self.host));
    }

    /// Whether the containers are listed on every look instead of kept from the event
    /// stream. Always with Podman: its event stream cannot be trusted to carry anything.
    /// A rootless Podman 4.3 whose events go to a journal its user cannot read sent none
    /// at all here (not for create, kill or rm), and the loop would have been blind to a
    /// kill until the safety list minutes later (`tests/tests/rootless.rs` showed it).
    pub(super) fn relists_every_tick(&self) -> bool {
        self.config.relist_every_tick || self.config.endpoint.podman
    }

    pub(super) fn container_engine_down(&mut self, error: &RuntimeError) {
        self.container_engine.down(error);
    }

    /// A look at this host's containers: the kept set, with no engine request, or one
    /// list when [`ContainerEngineLink::list_due`] says so.
    pub(super) async fn observe(&mut self, events: &mut Option<EventStream>) {
        self.observe_at = None;
        if !self.connect().await {
            return;
        }
        let runtime = self
            .container_engine
            .runtime
            .clone()
            .expect("connected above");
        let now = Instant::now();
        let list_due = self.container_engine.list_due(
            events.is_some(),
            self.relists_every_tick(),
            self.config.relist_interval,
            now,
        );
        if !list_due {
            if self.container_engine.placed_stale {
                let containers = self
                    .container_engine
                    .kept
                    .as_ref()
                    .map(ObservedSet::to_list)
                    .unwrap_or_default();
                self.take_observed(containers, runtime.as_ref());
            } else {
                // Nothing came since the set was last placed: what is placed stands.
                self.looked(runtime.as_ref(), false);
            }
            return;
        }
        // Asked for before the list, so nothing between the two is missed.
        if events.is_none() {
            *events = Some(runtime.events());
        }
        match runtime.list_service_containers().await {
            Ok(containers) => {
                if self.container_engine.connection.state != EngineState::Up {
                    if self.container_engine.connection.state == EngineState::Down {
                        tracing::info!(engine = %self.config.endpoint.uri, "the container engine is back");
                        self.container_engine.connection.version = runtime.version().await.ok();
                    }
                    self.container_engine.connection.state = EngineState::Up;
                    self.container_engine.connection.reason = None;
                }
                self.container_engine.kept = Some(ObservedSet::from_list(containers.clone()));
                self.container_engine.listed_at = Some(now);
                self.take_observed(containers, runtime.as_ref());
            }
            Err(error) if error.engine_down() => {
                self.container_engine_down(&error);
                *events = None;
            }
            Err(error) => tracing::warn!("{error}"),
        }
        self.metrics
            .engine_api_calls
            .store(runtime.api_calls(), Ordering::Relaxed);
    }

    /// What a look found becomes what the loop knows: corrected by the deaths announced,
    /// placed, noted in the book, and followed.
    fn take_observed(
        &mut self,
        mut containers: Vec<ObservedContainer>,
        runtime: &dyn ContainerRuntime,
    ) {
        self.book.correct(&mut containers);
        self.place(containers);
        self.container_engine.placed_stale = false;
        self.looked(runtime, true);
    }

    /// A look is done: the book notes what runs (settling ends, backoffs are forgiven
    /// over time), and the followers follow what runs now. `placed_changed` is `false`
    /// when the containers are the ones of the last look: then only the followers that
    /// ended are looked for, not every one against the whole list.
    fn looked(&mut self, runtime: &dyn ContainerRuntime, placed_changed: bool) {
        self.book.observed(
            &self.container_engine.observed,
            Instant::now(),
            !placed_changed,
        );
        self.follow_outputs(runtime, placed_changed);
        self.follow_stats(runtime, placed_changed);
    }

    /// Sorts the engine's service containers into this host's own and the unclaimed
    /// ones ([`crate::reconcile::ownership::claim`]); another ashtray host's are dropped.
    /// Done again whenever the answer changes: it decides which label-less ones are ours.
    ///
    /// This host's own are kept sorted by service (stable: each service's containers
    /// stay in the order listed), so that the snapshot walks them beside the answer as
    /// they are and the plan's sort finds them in order: one sort per change, not two per
    /// pass.
    pub(super) fn place(&mut self, containers: Vec<ObservedContainer>) {
        let answer: Option<HashSet<&str>> = self
            .desired
            .as_ref()
            .map(|desired| desired.names().collect());
        let (mut ours, mut unclaimed) = (Vec::new(), Vec::new());
        for container in containers {
            match claim(&container, &self.config.hostname, answer.as_ref()) {
                Claim::Ours => ours.push(container),
                Claim::Unclaimed => unclaimed.push(container),
                Claim::Theirs => {}
            }
        }
        ours.sort_by(|a, b| a.service_name.cmp(&b.service_name));
        self.container_engine.observed = ours;
        self.container_engine.unclaimed = unclaimed;
    }

    /// One follower per running container feeds the LogHub (and the daemon's log).
    pub(super) fn follow_outputs(&mut self, runtime: &dyn ContainerRuntime, placed_changed: bool) {
        let link = &mut self.container_engine;
        let following = link.followers.len();
        link.followers.retain(|_, task| !task.is_finished());
        // The same containers as at the last look, which gave each running one a
        // follower, and none of them ended: every one is followed.
        if !placed_changed && link.followers.len() == following {
            return;
        }
        // Marks are made for listed containers only: with the same list, none is gone.
        if placed_changed {
            let listed: HashSet<&str> = link.observed.iter().map(|c| c.id.as_str()).collect();
            link.read_marks.retain(|id, _| listed.contains(id.as_str()));
        }
        for container in &link.observed {
            if container.status != ContainerStatus::Running
                || link.followers.contains_key(&container.id)
            {
                continue;
            }
            let mark = link.read_marks.entry(container.id.clone()).or_default();
            let read_up_to = *mark.lock().expect("a read mark's lock is never poisoned");
            // Ours from their first line; adopted ones from their recent past; one whose
            // follower ended while it still runs (around a stop) from where that one was.
            let from = match read_up_to {
                Some(mark) => OutputFrom::After(mark),
                None if self.book.started_by_us.remove(&container.id) => OutputFrom::Start,
                None => OutputFrom::Tail(100),
            };
            let mut output = runtime.follow_output(&container.id, from);
            let logs = self.logs.clone();
            let service = container.service_name.clone();
            let print = self.config.print_service_output;
            let mark = mark.clone();
            let task = tokio::spawn(async move {
                while let Some(line) = output.next().await {
                    // Prefixed in the message for people reading text logs; the field is
                    // there for log collectors filtering JSON.
                    if print {
                        if line.stderr {
                            tracing::warn!(target: "service", service = %service, "[{service}] {}", line.text);
                        } else {
                            tracing::info!(target: "service", service = %service, "[{service}] {}", line.text);
                        }
                    }
                    if let Some(at) = line.at {
                        let mut mark = mark.lock().expect("a read mark's lock is never poisoned");
                        *mark = Some(ReadMark::advance(*mark, at));
                    }
                    logs.push(&service, line.stderr, line.text);
                }
            });
            link.followers.insert(container.id.clone(), task);
        }
    }

    /// One stats stream per running container, opened when it is first seen running and
    /// dropped once it no longer runs: the engine pushes readings, nothing is asked per
    /// tick. The readings of services gone from the list are forgotten.
    pub(super) fn follow_stats(&mut self, runtime: &dyn ContainerRuntime, placed_changed: bool) {
        let link = &mut self.container_engine;
        let running = || {
            link.observed
                .iter()
                .filter(|c| c.status == ContainerStatus::Running)
        };
        if placed_changed {
            let ids: HashSet<&str> = running().map(|c| c.id.as_str()).collect();
            link.stats_followers.retain(|id, task| {
                let keep = ids.contains(id.as_str()) && !task.is_finished();
                if !keep {
                    task.abort();
                }
                keep
            });
        } else {
            // The same containers run as at the last look, whose streams were kept only
            // for running ones: only the streams that ended go, and with none ended,
            // every running one has its stream.
            let streams = link.stats_followers.len();
            link.stats_followers.retain(|_, task| !task.is_finished());
            if link.stats_followers.len() == streams {
                return;
            }
        }
        for container in running() {
            if link.stats_followers.contains_key(&container.id) {
                continue;
            }
            let mut readings = runtime.follow_stats(&container.id);
            let stats = self.stats.clone();
            let service = container.service_name.clone();
            let task = tokio::spawn(async move {
                while let Some(sample) = readings.next().await {
                    stats.push(&service, sample);
                }
            });
            link.stats_followers.insert(container.id.clone(), task);
        }
        // Readings come from the streams of running services only: with the same
        // containers running, none is of a service gone.
        if placed_changed {
            let services: HashSet<&str> = running().map(|c| c.service_name.as_str()).collect();
            self.stats.retain(|service| services.contains(service));
        }
    }
}
