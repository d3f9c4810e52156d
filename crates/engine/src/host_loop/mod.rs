//! The host loop: ashtray's own reconcile loop (not to be confused with the container
//! engine, Docker or Podman, which it reaches through [`crate::runtime`]). [`HostLoop`]
//! wires the components that each own one job — the desired set
//! ([`crate::reconcile::desired`]), the service book (`book.rs`), the server connection
//! (`heartbeat.rs`, `catalog.rs`), the container-engine connection
//! (`container_engine.rs`) — and is the only writer of runtime state. The rest of the
//! program holds a [`Handle`]: commands go in, snapshots ([`HostState`]) and events come
//! out. It never decides what runs (the plan does) and never waits on the network
//! inside the loop (heartbeats and actions run in tasks of their own).
//!
//! One tick: observe this host's containers (kept from the engine's event stream: no
//! engine call on a steady tick), heartbeat (in its own task,
//! with a timeout, so a slow server never stalls the loop), validate the answer, plan, and
//! hand the actions to the executor, which runs them concurrently under a bound. Docker's
//! event stream wakes the loop early when a container starts or dies. `docs/architecture.md`
//! lists the hops.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc, watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ayon::{AyonClient, ServerApi};
use crate::container::{HostSettings, ServiceApiSettings};
use crate::host_state::{
    changes, now_ms, EngineConnection, EngineState, EventEnvelope, HostHealth, HostState,
    ServerConnection, ServerState,
};
use crate::limits::HostLimits;
use crate::local_stops::{LocalStops, LocalStopsError};
use crate::logs::{LogHub, LogLimits};
use crate::reconcile::desired::DesiredSet;
use crate::reconcile::executor::Outcome;
use crate::reconcile::ownership::Me;
use crate::reconcile::plan::{plan, unclaimed_verdicts, PlanInput};
use crate::runtime::{Connect, ContainerEvent, Endpoint, PullPolicy, PullProgress, RuntimeError};
use crate::secret::Secret;
use book::ServiceBook;
use catalog::{CatalogReply, ServerCatalog};
use container_engine::ContainerEngineLink;
use heartbeat::{HeartbeatReply, ServerLink};
use local_source::LocalSource;
use sources::DesiredSources;

mod actions;
mod book;
mod catalog;
mod commands;
mod container_engine;
mod handle;
mod heartbeat;
mod local_source;
mod service_draft;
mod snapshot;
mod sources;
#[cfg(test)]
mod tests;
#[cfg(any(test, feature = "memory-runtime"))]
pub mod tick_cost;

use handle::Command;
pub use handle::{CommandError, Handle, Metrics, ServiceDetails};

/// Everything the engine needs to run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub server_url: String,
    pub api_key: Secret,
    pub hostname: String,
    pub poll_interval: Duration,
    /// Longest wait for one answer of the server.
    pub request_timeout: Duration,
    pub endpoint: Endpoint,
    pub network: Option<String>,
    pub network_mode: Option<String>,
    /// Where the services stopped on this host are kept.
    pub state_dir: PathBuf,
    /// Containers started at once, at most, and stopped at once, at most: each its own
    /// bound, so a stop waiting out the grace of a container that ignores SIGTERM never
    /// holds a start's place.
    pub concurrency: usize,
    /// SIGTERM to SIGKILL when a service container is stopped.
    pub stop_grace: Duration,
    pub stop_services_on_exit: bool,
    /// Print every service's output through `tracing` (the daemon does).
    pub print_service_output: bool,
    pub log_limits: LogLimits,
    pub service_api: Option<ServiceApiSettings>,
    /// The local services file (`--services`), watched; `None` for none.
    pub local_services: Option<PathBuf>,
    /// Keep the server's last answer in `state_dir` and run it after a restart while the
    /// server cannot be reached (`--no-cache` turns it off).
    pub answer_cache: bool,
    /// A running container its own HEALTHCHECK calls unhealthy this long is replaced;
    /// `None` leaves it alone.
    pub unhealthy_restart_after: Option<Duration>,
    /// CPU limits and GPU requests of the services, by name pattern.
    pub limits: HostLimits,
    /// When images are pulled: when missing (the default) or before every create.
    pub pull_policy: PullPolicy,
    /// Take pull credentials from the engine client's configuration (`DOCKER_CONFIG`);
    /// off only in tests, which must not read this machine's.
    pub registry_auth: bool,
    /// How often the containers are listed again although the event stream keeps them
    /// (a safety net, as kube-runtime's reflector relists).
    pub relist_interval: Duration,
    /// List the containers on every look instead of keeping them from the event stream:
    /// the mode before event-kept observation, kept as the benchmarks' baseline (and
    /// always the mode with Podman, see `HostLoop::relists_every_tick`).
    pub relist_every_tick: bool,
}

impl EngineConfig {
    /// Defaults for everything but what identifies the host and its server.
    pub fn new(
        server_url: &str,
        api_key: Secret,
        hostname: &str,
        endpoint: Endpoint,
        state_dir: PathBuf,
    ) -> EngineConfig {
        EngineConfig {
            server_url: server_url.trim_end_matches('/').to_string(),
            api_key,
            hostname: hostname.to_string(),
            poll_interval: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            endpoint,
            network: None,
            network_mode: None,
            state_dir,
            concurrency: 8,
            stop_grace: Duration::from_secs(10),
            stop_services_on_exit: false,
            print_service_output: true,
            log_limits: LogLimits::default(),
            service_api: None,
            local_services: None,
            answer_cache: true,
            unhealthy_restart_after: Some(DEFAULT_UNHEALTHY_RESTART_AFTER),
            limits: HostLimits::default(),
            pull_policy: PullPolicy::default(),
            registry_auth: true,
            relist_interval: DEFAULT_RELIST_INTERVAL,
            relist_every_tick: false,
        }
    }
}

/// How often the containers are listed although the event stream keeps them, unless
/// configured.
pub const DEFAULT_RELIST_INTERVAL: Duration = Duration::from_secs(300);

/// How long a container may stay unhealthy before it is replaced, unless configured.
pub const DEFAULT_UNHEALTHY_RESTART_AFTER: Duration = Duration::from_secs(60);

type EventStream = Pin<Box<dyn Stream<Item = Result<ContainerEvent, RuntimeError>> + Send>>;

struct HostLoop {
    config: EngineConfig,
    host: HostSettings,
    // What is wanted: the sources (the server's answer or its cache, the local services
    // file) and the one set merged from them, which the plan reads.
    sources: DesiredSources,
    desired: Option<DesiredSet>,
    catalog: ServerCatalog,
    // What is under way, and what the loop remembers of each service.
    book: ServiceBook,
    local_stops: LocalStops,
    local_stops_path: PathBuf,
    // Connections.
    server: ServerLink,
    /// What runs, and the connection to the container engine it runs on.
    container_engine: ContainerEngineLink,
    observe_at: Option<Instant>,
    // Channels.
    semaphore: Arc<Semaphore>,
    /// The bound of stops, apart from the starts' (see [`EngineConfig::concurrency`]).
    stop_semaphore: Arc<Semaphore>,
    outcomes_tx: mpsc::UnboundedSender<Outcome>,
    /// Pulls under way tell how far they are through here.
    pulls_tx: mpsc::UnboundedSender<(String, PullProgress)>,
    state_tx: watch::Sender<Arc<HostState>>,
    events_tx: broadcast::Sender<EventEnvelope>,
    event_seq: u64,
    logs: LogHub,
    /// Each running service's CPU and memory, written by its stats stream.
    stats: crate::stats::StatsHub,
    metrics: Arc<Metrics>,
    /// Turns instants into the Unix ms the host state shows.
    clock: snapshot::WallClock,
    /// Commands taken, whose answers wait for the next publish.
    answer_after_publish: Vec<(handle::Reply, Result<(), CommandError>)>,
}

/// Starts the engine on the current tokio runtime. It runs until `cancel` fires; the
/// returned task ends after the shutdown work (stopping services if configured).
pub fn spawn(
    config: EngineConfig,
    cancel: CancellationToken,
) -> Result<(Handle, tokio::task::JoinHandle<()>), LocalStopsError> {
    let ayon = AyonClient::new(
        &config.server_url,
        config.api_key.clone(),
        config.request_timeout,
    );
    let connections = Connections {
        container_engine: Arc::new(config.endpoint.clone()),
        server: Arc::new(ayon),
    };
    spawn_with(config, connections, cancel)
}

/// What the loop talks to: a container engine and an AYON server. [`spawn`] uses
/// bollard at `config.endpoint` and reqwest at `config.server_url`; tests hand in the
/// in-memory engine and a scripted server.
pub struct Connections {
    pub container_engine: Arc<dyn Connect>,
    pub server: Arc<dyn ServerApi>,
}

/// [`spawn`] with the connections given.
pub fn spawn_with(
    config: EngineConfig,
    connections: Connections,
    cancel: CancellationToken,
) -> Result<(Handle, tokio::task::JoinHandle<()>), LocalStopsError> {
    let (host_loop, handle, inbox) = build(config, connections)?;
    let task = tokio::spawn(host_loop.run(cancel, inbox));
    Ok((handle, task))
}

/// Where the loop's inputs arrive, besides its timers and the container events.
struct Inbox {
    commands: mpsc::Receiver<Command>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    pulls: mpsc::UnboundedReceiver<(String, PullProgress)>,
    heartbeats: mpsc::UnboundedReceiver<HeartbeatReply>,
    catalog_replies: mpsc::UnboundedReceiver<CatalogReply>,
    /// The local services file changed.
    local_changes: mpsc::UnboundedReceiver<()>,
}

/// The loop and its Handle, wired but not running.
fn build(
    config: EngineConfig,
    connections: Connections,
) -> Result<(HostLoop, Handle, Inbox), LocalStopsError> {
    let local_stops_path = LocalStops::path(&config.state_dir, &config.hostname);
    let local_stops = LocalStops::load(&local_stops_path)?;
    let (commands_tx, commands_rx) = mpsc::channel(64);
    let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
    let (pulls_tx, pulls_rx) = mpsc::unbounded_channel();
    let (heartbeat_tx, heartbeat_rx) = mpsc::unbounded_channel();
    let (catalog_tx, catalog_rx) = mpsc::unbounded_channel();
    let (local_tx, local_rx) = mpsc::unbounded_channel();
    let (events_tx, _) = broadcast::channel(1024);
    let logs = LogHub::new(config.log_limits);
    let stats = crate::stats::StatsHub::default();
    let metrics = Arc::new(Metrics::default());
    let host = HostSettings {
        server_url: config.server_url.clone(),
        api_key: config.api_key.clone(),
        ayon_hostname: config.hostname.clone(),
        network_mode: config
            .network_mode
            .clone()
            .or_else(|| config.network.clone()),
        service_api: config.service_api.clone(),
        limits: config.limits.clone(),
        storage_binds: Vec::new(),
    };
    let server = ServerLink::new(connections.server, &config.server_url, heartbeat_tx);
    let mut sources = DesiredSources {
        local: config
            .local_services
            .as_deref()
            .map(|path| LocalSource::new(path, local_tx)),
        ..DesiredSources::default()
    };
    if config.answer_cache && server.configured() {
        let mut cache = crate::answer_cache::AnswerCache::new(&config.state_dir, &config.hostname);
        sources.held = sources::load_cache(&mut cache, &config.server_url, &host);
        sources.cache = Some(cache);
    }
    let container_engine = EngineConnection {
        state: EngineState::Connecting,
        kind: config.endpoint.kind().to_string(),
        endpoint: config.endpoint.uri.clone(),
        version: None,
        reason: None,
    };
    let mut host_loop = HostLoop {
        host,
        sources,
        desired: None,
        catalog: ServerCatalog::new(catalog_tx),
        book: ServiceBook::default(),
        local_stops,
        local_stops_path,
        server,
        container_engine: ContainerEngineLink::new(connections.container_engine, container_engine),
        observe_at: None,
        semaphore: Arc::new(Semaphore::new(config.concurrency.max(1))),
        stop_semaphore: Arc::new(Semaphore::new(config.concurrency.max(1))),
        outcomes_tx,
        pulls_tx,
        state_tx: watch::channel(Arc::new(placeholder_state(&config))).0,
        events_tx: events_tx.clone(),
        event_seq: 0,
        logs: logs.clone(),
        stats: stats.clone(),
        metrics: metrics.clone(),
        clock: snapshot::WallClock::now(),
        answer_after_publish: Vec::new(),
        config: config.clone(),
    };
    if !host_loop.server.configured() {
        tracing::info!("no AYON server configured: running the local services alone");
    }
    host_loop.reload_local();
    host_loop
        .state_tx
        .send_replace(Arc::new(host_loop.snapshot()));
    let handle = Handle {
        commands: commands_tx,
        state: host_loop.state_tx.subscribe(),
        events: events_tx,
        logs,
        stats,
        metrics,
        token_key: config.service_api.as_ref().map(|api| api.token_key.clone()),
    };
    let inbox = Inbox {
        commands: commands_rx,
        outcomes: outcomes_rx,
        pulls: pulls_rx,
        heartbeats: heartbeat_rx,
        catalog_replies: catalog_rx,
        local_changes: local_rx,
    };
    Ok((host_loop, handle, inbox))
}

fn placeholder_state(config: &EngineConfig) -> HostState {
    HostState {
        hostname: config.hostname.clone(),
        server_url: config.server_url.clone(),
        server: ServerConnection {
            state: ServerState::Connecting,
            reason: None,
            user: None,
            last_heartbeat_ms: None,
            since_ms: now_ms(),
        },
        engine: EngineConnection {
            state: EngineState::Connecting,
            kind: config.endpoint.kind().to_string(),
            endpoint: config.endpoint.uri.clone(),
            version: None,
            reason: None,
        },
        health: HostHealth::default(),
        paused: false,
        overall: crate::host_state::Overall::Starting,
        services: Arc::from([]),
        problems: Vec::new(),
        unclaimed: Vec::new(),
        local_services: None,
    }
}

async fn next_event(
    events: &mut Option<EventStream>,
) -> Option<Result<ContainerEvent, RuntimeError>> {
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// How soon after a container event the host is looked at again: events come in bursts.
const EVENT_DEBOUNCE: Duration = Duration::from_millis(50);
/// How long the local services file must be quiet before it is read again.
const LOCAL_FILE_DEBOUNCE: Duration = Duration::from_millis(200);

impl HostLoop {
    async fn run(mut self, cancel: CancellationToken, inbox: Inbox) {
        let Inbox {
            mut commands,
            mut outcomes,
            mut pulls,
            mut heartbeats,
            mut catalog_replies,
            mut local_changes,
        } = inbox;
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut events: Option<EventStream> = None;
        loop {
            let wake = self.next_wake();
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    self.reload_local();
                    // With the engine up, the heartbeat first: its answer (the server's
                    // word on what runs) is then not kept waiting by the engine's list,
                    // and what it reports was seen at most one look ago. Otherwise the
                    // look first, so the heartbeat does not report the engine's services
                    // as none while it is being reached.
                    if self.container_engine.connection.state == EngineState::Up {
                        self.send_heartbeat();
                        self.observe(&mut events).await;
                    } else {
                        self.observe(&mut events).await;
                        self.send_heartbeat();
                    }
                }
                Some(()) = local_changes.recv() => {
                    while local_changes.try_recv().is_ok() {}
                    // An editor's save is a burst of events (truncate, write, rename):
                    // read once it is quiet, not the half-written file.
                    if let Some(local) = &mut self.sources.local {
                        local.due = Some(Instant::now() + LOCAL_FILE_DEBOUNCE);
                    }
                }
                Some(reply) = heartbeats.recv() => self.on_heartbeat(reply),
                Some(outcome) = outcomes.recv() => {
                    self.on_outcome(outcome);
                    while let Ok(outcome) = outcomes.try_recv() {
                        self.on_outcome(outcome);
                    }
                }
                Some((service, progress)) = pulls.recv() => {
                    self.book.pulled(&service, progress);
                    while let Ok((service, progress)) = pulls.try_recv() {
                        self.book.pulled(&service, progress);
                    }
                }
                Some(command) = commands.recv() => self.on_command(command),
                Some(reply) = catalog_replies.recv() => self.catalog.on_reply(reply),
                event = next_event(&mut events) => match event {
                    Some(Ok(event)) => {
                        tracing::debug!(action = %event.action, service = ?event.service_name, replayed = event.replayed, "container event");
                        let changed = self.container_engine.apply(&event);
                        if !event.replayed {
                            self.on_container_event(event);
                        }
                        if changed || self.relists_every_tick() {
                            self.observe_soon(EVENT_DEBOUNCE);
                        }
                    }
                    other => {
                        // What came between the break and the next stream is unknown:
                        // the next look lists (see `ContainerEngineLink::list_due`).
                        tracing::debug!(?other, "the container event stream ended");
                        events = None;
                        self.container_engine.forget_kept();
                    }
                },
                _ = tokio::time::sleep_until(wake) => {
                    if self.sources.local.as_ref().and_then(|l| l.due).is_some_and(|at| at <= Instant::now()) {
                        self.reload_local();
                    }
                    if self.observe_at.is_some_and(|at| at <= Instant::now()) {
                        self.observe(&mut events).await;
                    }
                }
            }
            self.reconcile();
            self.publish();
            for (reply, result) in self.answer_after_publish.drain(..) {
                let _ = reply.send(result);
            }
        }
        self.shut_down().await;
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let backoff = self.book.next_start(now);
        let unhealthy = self
            .book
            .next_unhealthy_deadline(now, self.config.unhealthy_restart_after);
        let local = self.sources.local.as_ref().and_then(|l| l.due);
        [backoff, unhealthy, self.observe_at, local]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600))
    }

    fn observe_soon(&mut self, delay: Duration) {
        let at = Instant::now() + delay;
        self.observe_at = Some(self.observe_at.map_or(at, |current| current.min(at)));
    }

    fn reconcile(&mut self) {
        if self.container_engine.connection.state != EngineState::Up
            || self.container_engine.runtime.is_none()
            || self.observe_at.is_some()
        {
            return;
        }
        // Local services wait for the server's first word (an answer or a failure): a
        // name the server declares too must never get a container from the local file.
        if self.server.configured() && self.server.connection.state == ServerState::Connecting {
            return;
        }
        let started = std::time::Instant::now();
        let now = Instant::now();
        let busy = self.book.busy();
        let start_blocked = self.book.start_blocked(now);
        let unhealthy_too_long = self
            .book
            .unhealthy_too_long(now, self.config.unhealthy_restart_after);
        let input = PlanInput {
            desired: self.desired.as_ref(),
            // Without a server, the local services file is the only word, always fresh.
            answer_fresh: self.server.answer_fresh || !self.server.configured(),
            observed: &self.container_engine.observed,
            unclaimed: &self.container_engine.unclaimed,
            me: self.me(),
            catalog: self.catalog.list(),
            catalog_failure: self.catalog.failure(),
            adoptions: &self.book.adoptions,
            paused: &self.local_stops.stopped,
            paused_all: self.local_stops.paused_all,
            in_flight: &busy,
            exits_recorded: &self.book.exits_recorded,
            start_blocked: &start_blocked,
            restart_requested: &self.book.restart_requested,
            unhealthy_too_long: &unhealthy_too_long,
        };
        let actions = plan(&input);
        let verdicts: Vec<_> = unclaimed_verdicts(&input)
            .map(|(container, verdict)| (container.clone(), verdict))
            .collect();
        self.catalog
            .say(verdicts.iter().map(|(c, v)| (c, v.clone())));
        if let (true, Some(runtime)) = (self.server.answer_fresh, &self.container_engine.runtime) {
            self.catalog.refresh_if_needed(
                self.server.api(),
                runtime.clone(),
                &self.container_engine.unclaimed,
                now,
            );
        }
        for action in actions {
            self.dispatch(action);
        }
        self.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .reconcile_micros_total
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    fn me(&self) -> Me<'_> {
        Me {
            hostname: &self.config.hostname,
            server_url: &self.config.server_url,
        }
    }

    fn publish(&mut self) {
        let old = self.state_tx.borrow().clone();
        let Some(new) = self.snapshot_if_changed(&old) else {
            return;
        };
        for event in changes(&old, &new) {
            self.event_seq += 1;
            let _ = self.events_tx.send(EventEnvelope {
                seq: self.event_seq,
                at_ms: now_ms(),
                event,
            });
        }
        self.state_tx.send_replace(Arc::new(new));
    }

    async fn shut_down(mut self) {
        for (_, task) in self.container_engine.followers.drain() {
            task.abort();
        }
        for (_, task) in self.container_engine.stats_followers.drain() {
            task.abort();
        }
        if !self.config.stop_services_on_exit {
            tracing::info!("stopped; service containers keep running (use --stop-services-on-exit to stop them)");
            return;
        }
        let Some(runtime) = self.container_engine.runtime.clone() else {
            return;
        };
        tracing::info!(
            count = self.container_engine.observed.len(),
            "stopping this host's service containers"
        );
        let grace = self.config.stop_grace;
        let stops = self.container_engine.observed.drain(..).map(|container| {
            let runtime = runtime.clone();
            async move {
                if let Err(error) = runtime.stop_and_remove(&container.id, grace).await {
                    tracing::error!(service = %container.service_name, "could not stop: {error}");
                }
            }
        });
        futures::stream::iter(stops)
            .buffer_unordered(self.config.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
