//! The Engine owns the loop and every piece of runtime state; the rest of the program
//! holds a [`Handle`]: commands go in, snapshots ([`HostState`]) and events come out.
//!
//! One tick: observe this host's containers (one engine call), heartbeat (in its own task,
//! with a timeout, so a slow server never stalls the loop), validate the answer, plan, and
//! hand the actions to the executor, which runs them concurrently under a bound. Docker's
//! event stream wakes the loop early when a container starts or dies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ayon::wire::{Health, HeartbeatRequest, HeartbeatResponse};
use crate::ayon::{AyonClient, AyonError};
use crate::container::{ContainerConfig, HostSettings, ServiceApiSettings};
use crate::health::HealthProbe;
use crate::host_state::{
    changes, DesiredState, EngineConnection, EngineState, EventEnvelope, HostHealth, HostState,
    ReportedStatus, ServerConnection, ServerState, ServiceState, ServiceView,
};
use crate::logs::{LogHub, LogLimits};
use crate::overrides::{Overrides, OverridesError};
use crate::reconcile::backoff::CrashBackoff;
use crate::reconcile::executor::{execute, Outcome};
use crate::reconcile::plan::{plan, Action, PlanInput, RemoveReason};
use crate::runtime::{
    ContainerEvent, ContainerStatus, Endpoint, ObservedContainer, Runtime, RuntimeError,
};
use crate::secret::Secret;
use crate::spec::{read_answer, Desired};

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
    /// Where the local overrides are kept.
    pub state_dir: PathBuf,
    /// Containers started or stopped at once, at most.
    pub concurrency: usize,
    /// SIGTERM to SIGKILL when a service container is stopped.
    pub stop_grace: Duration,
    pub stop_services_on_exit: bool,
    /// Print every service's output through `tracing` (the daemon does).
    pub print_service_output: bool,
    pub log_limits: LogLimits,
    pub service_api: Option<ServiceApiSettings>,
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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("there is no service {0:?} on this host")]
    UnknownService(String),
    #[error("service {0:?} is stopped on this host: start it first")]
    StoppedLocally(String),
    #[error(transparent)]
    Save(#[from] OverridesError),
    #[error("the engine has stopped")]
    EngineGone,
}

type Reply = oneshot::Sender<Result<(), CommandError>>;

enum Command {
    Stop(String, Reply),
    Start(String, Reply),
    Restart(String, Reply),
    PauseAll(bool, Reply),
    ReportStatus(String, ReportedStatus, Reply),
}

/// Counters for `/metrics`. Written by the engine, read by anyone.
#[derive(Debug, Default)]
pub struct Metrics {
    pub heartbeats_ok: AtomicU64,
    pub heartbeats_failed: AtomicU64,
    pub heartbeat_latency_ms_total: AtomicU64,
    pub last_heartbeat_latency_ms: AtomicU64,
    pub reconciles: AtomicU64,
    pub reconcile_micros_total: AtomicU64,
    pub restarts: AtomicU64,
    pub engine_api_calls: AtomicU64,
}

/// The program's way to the engine. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<Arc<HostState>>,
    events: broadcast::Sender<EventEnvelope>,
    logs: LogHub,
    metrics: Arc<Metrics>,
    token_key: Option<Secret>,
}

impl Handle {
    /// The latest snapshot.
    pub fn state(&self) -> Arc<HostState> {
        self.state.borrow().clone()
    }

    /// Snapshots as they change.
    pub fn watch(&self) -> watch::Receiver<Arc<HostState>> {
        self.state.clone()
    }

    /// Every change from now on, in order.
    pub fn events(&self) -> broadcast::Receiver<EventEnvelope> {
        self.events.subscribe()
    }

    pub fn logs(&self) -> &LogHub {
        &self.logs
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The service a service token belongs to, if any.
    pub fn service_of_token(&self, token: &str) -> Option<String> {
        let key = self.token_key.as_ref()?;
        let state = self.state();
        state
            .services
            .iter()
            .map(|s| &s.name)
            .find(|name| crate::tokens::verify_service_token(key, name, token))
            .cloned()
    }

    async fn ask(&self, make: impl FnOnce(Reply) -> Command) -> Result<(), CommandError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| CommandError::EngineGone)?;
        answer.await.map_err(|_| CommandError::EngineGone)?
    }

    /// Stops the service on this host until [`Handle::start_service`]; remembered across
    /// restarts of ashtray.
    pub async fn stop_service(&self, name: &str) -> Result<(), CommandError> {
        self.ask(|reply| Command::Stop(name.to_string(), reply))
            .await
    }

    pub async fn start_service(&self, name: &str) -> Result<(), CommandError> {
        self.ask(|reply| Command::Start(name.to_string(), reply))
            .await
    }

    /// Replaces the service's container with a new one.
    pub async fn restart_service(&self, name: &str) -> Result<(), CommandError> {
        self.ask(|reply| Command::Restart(name.to_string(), reply))
            .await
    }

    pub async fn pause_all(&self, paused: bool) -> Result<(), CommandError> {
        self.ask(|reply| Command::PauseAll(paused, reply)).await
    }

    pub async fn report_status(
        &self,
        name: &str,
        status: ReportedStatus,
    ) -> Result<(), CommandError> {
        self.ask(|reply| Command::ReportStatus(name.to_string(), status, reply))
            .await
    }
}

/// Per-service memory of the engine.
#[derive(Debug, Default)]
struct ServiceRecord {
    backoff: CrashBackoff,
    restarts: u32,
    last_exit_code: Option<i64>,
    last_error: Option<String>,
    last_output: Vec<String>,
    reported: Option<ReportedStatus>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<ContainerEvent, RuntimeError>> + Send>>;

struct Engine {
    config: EngineConfig,
    ayon: AyonClient,
    runtime: Option<Runtime>,
    host: HostSettings,
    // What the server wants.
    desired: Option<Vec<Desired>>,
    wanted: BTreeMap<String, ContainerConfig>,
    answer_fresh: bool,
    problems: Vec<String>,
    // What runs.
    observed: Vec<ObservedContainer>,
    adopted_hashes: HashMap<String, String>,
    exits_recorded: HashSet<String>,
    started_by_us: HashSet<String>,
    followers: HashMap<String, tokio::task::JoinHandle<()>>,
    // What is under way.
    in_flight: HashMap<String, (usize, bool)>,
    settling: HashSet<String>,
    restart_requested: HashSet<String>,
    records: BTreeMap<String, ServiceRecord>,
    overrides: Overrides,
    overrides_path: PathBuf,
    // Connections.
    server: ServerConnection,
    engine_conn: EngineConnection,
    health_probe: HealthProbe,
    health: Health,
    heartbeat_in_flight: bool,
    observe_at: Option<Instant>,
    // Channels.
    semaphore: Arc<Semaphore>,
    outcomes_tx: mpsc::UnboundedSender<Outcome>,
    heartbeat_tx: mpsc::UnboundedSender<(Result<HeartbeatResponse, AyonError>, Duration)>,
    state_tx: watch::Sender<Arc<HostState>>,
    events_tx: broadcast::Sender<EventEnvelope>,
    event_seq: u64,
    logs: LogHub,
    metrics: Arc<Metrics>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Starts the engine on the current tokio runtime. It runs until `cancel` fires; the
/// returned task ends after the shutdown work (stopping services if configured).
pub fn spawn(
    config: EngineConfig,
    cancel: CancellationToken,
) -> Result<(Handle, tokio::task::JoinHandle<()>), OverridesError> {
    let overrides_path = Overrides::path(&config.state_dir, &config.hostname);
    let overrides = Overrides::load(&overrides_path)?;
    let (commands_tx, commands_rx) = mpsc::channel(64);
    let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
    let (heartbeat_tx, heartbeat_rx) = mpsc::unbounded_channel();
    let (events_tx, _) = broadcast::channel(1024);
    let logs = LogHub::new(config.log_limits);
    let metrics = Arc::new(Metrics::default());
    let ayon = AyonClient::new(
        &config.server_url,
        config.api_key.clone(),
        config.request_timeout,
    );
    let host = HostSettings {
        server_url: config.server_url.clone(),
        api_key: config.api_key.clone(),
        ayon_hostname: config.hostname.clone(),
        network_mode: config
            .network_mode
            .clone()
            .or_else(|| config.network.clone()),
        service_api: config.service_api.clone(),
    };
    let server = ServerConnection {
        state: ServerState::Connecting,
        reason: None,
        user: None,
        last_heartbeat_ms: None,
        since_ms: now_ms(),
    };
    let engine_conn = EngineConnection {
        state: EngineState::Connecting,
        kind: config.endpoint.kind().to_string(),
        endpoint: config.endpoint.uri.clone(),
        version: None,
        reason: None,
    };
    let engine = Engine {
        ayon,
        runtime: None,
        host,
        desired: None,
        wanted: BTreeMap::new(),
        answer_fresh: false,
        problems: Vec::new(),
        observed: Vec::new(),
        adopted_hashes: HashMap::new(),
        exits_recorded: HashSet::new(),
        started_by_us: HashSet::new(),
        followers: HashMap::new(),
        in_flight: HashMap::new(),
        settling: HashSet::new(),
        restart_requested: HashSet::new(),
        records: BTreeMap::new(),
        overrides,
        overrides_path,
        server,
        engine_conn,
        health_probe: HealthProbe::new(),
        health: Health::default(),
        heartbeat_in_flight: false,
        observe_at: None,
        semaphore: Arc::new(Semaphore::new(config.concurrency.max(1))),
        outcomes_tx,
        heartbeat_tx,
        state_tx: watch::channel(Arc::new(placeholder_state(&config))).0,
        events_tx: events_tx.clone(),
        event_seq: 0,
        logs: logs.clone(),
        metrics: metrics.clone(),
        config: config.clone(),
    };
    engine.state_tx.send_replace(Arc::new(engine.snapshot()));
    let handle = Handle {
        commands: commands_tx,
        state: engine.state_tx.subscribe(),
        events: events_tx,
        logs,
        metrics,
        token_key: config.service_api.as_ref().map(|api| api.token_key.clone()),
    };
    let task = tokio::spawn(engine.run(cancel, commands_rx, outcomes_rx, heartbeat_rx));
    Ok((handle, task))
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
        services: Vec::new(),
        problems: Vec::new(),
        specs: BTreeMap::new(),
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

impl Engine {
    async fn run(
        mut self,
        cancel: CancellationToken,
        mut commands: mpsc::Receiver<Command>,
        mut outcomes: mpsc::UnboundedReceiver<Outcome>,
        mut heartbeats: mpsc::UnboundedReceiver<(Result<HeartbeatResponse, AyonError>, Duration)>,
    ) {
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut events: Option<EventStream> = None;
        loop {
            let wake = self.next_wake();
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    self.observe(&mut events).await;
                    self.send_heartbeat();
                }
                Some((result, latency)) = heartbeats.recv() => self.on_heartbeat(result, latency),
                Some(outcome) = outcomes.recv() => {
                    self.on_outcome(outcome);
                    while let Ok(outcome) = outcomes.try_recv() {
                        self.on_outcome(outcome);
                    }
                }
                Some(command) = commands.recv() => self.on_command(command),
                event = next_event(&mut events) => match event {
                    Some(Ok(event)) => {
                        self.on_container_event(event);
                        self.observe_soon(EVENT_DEBOUNCE);
                    }
                    _ => events = None,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if self.observe_at.is_some_and(|at| at <= Instant::now()) {
                        self.observe(&mut events).await;
                    }
                }
            }
            self.reconcile();
            self.publish();
        }
        self.shut_down().await;
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let backoff = self
            .records
            .values()
            .filter_map(|r| r.backoff.waiting_until(now))
            .min();
        [backoff, self.observe_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600))
    }

    fn observe_soon(&mut self, delay: Duration) {
        let at = Instant::now() + delay;
        self.observe_at = Some(self.observe_at.map_or(at, |current| current.min(at)));
    }

    async fn connect(&mut self) -> bool {
        if self.runtime.is_some() {
            return true;
        }
        match Runtime::connect(&self.config.endpoint).await {
            Ok(runtime) => {
                if self.config.network.is_none() && self.config.network_mode.is_none() {
                    if let Some(network) = runtime.own_network().await {
                        tracing::info!(
                            network,
                            "services join this container's network, as ash does"
                        );
                        self.host.network_mode = Some(network);
                        self.recompute_wanted();
                    }
                }
                self.engine_conn.version = runtime.version().await.ok();
                self.runtime = Some(runtime);
                true
            }
            Err(error) => {
                self.engine_down(&error);
                false
            }
        }
    }

    fn engine_down(&mut self, error: &RuntimeError) {
        if self.engine_conn.state != EngineState::Down {
            tracing::error!("{error}");
        }
        self.engine_conn.state = EngineState::Down;
        self.engine_conn.reason = Some(error.to_string());
        self.observed.clear();
    }

    /// One engine call: the list of this host's service containers.
    async fn observe(&mut self, events: &mut Option<EventStream>) {
        self.observe_at = None;
        if !self.connect().await {
            return;
        }
        let runtime = self.runtime.clone().expect("connected above");
        match runtime.list_service_containers().await {
            Ok(containers) => {
                if self.engine_conn.state != EngineState::Up {
                    if self.engine_conn.state == EngineState::Down {
                        tracing::info!(engine = %self.config.endpoint.uri, "the container engine is back");
                        self.engine_conn.version = runtime.version().await.ok();
                    }
                    self.engine_conn.state = EngineState::Up;
                    self.engine_conn.reason = None;
                }
                let hostname = &self.config.hostname;
                self.observed = containers
                    .into_iter()
                    .filter(|c| c.belongs_to(hostname))
                    .collect();
                self.settling.clear();
                let present: HashSet<&str> = self.observed.iter().map(|c| c.id.as_str()).collect();
                self.adopted_hashes
                    .retain(|id, _| present.contains(id.as_str()));
                self.exits_recorded
                    .retain(|id| present.contains(id.as_str()));
                let now = Instant::now();
                for container in &self.observed {
                    if container.status == ContainerStatus::Running {
                        self.records
                            .entry(container.service_name.clone())
                            .or_default()
                            .backoff
                            .note_running(now);
                    }
                }
                self.follow_outputs(&runtime);
                if events.is_none() {
                    *events = Some(Box::pin(runtime.events()));
                }
            }
            Err(error) if error.engine_down() => {
                self.engine_down(&error);
                *events = None;
            }
            Err(error) => tracing::warn!("{error}"),
        }
        self.metrics
            .engine_api_calls
            .store(runtime.api_calls(), Ordering::Relaxed);
    }

    /// One follower per running container feeds the LogHub (and the daemon's log).
    fn follow_outputs(&mut self, runtime: &Runtime) {
        self.followers.retain(|_, task| !task.is_finished());
        for container in &self.observed {
            if container.status != ContainerStatus::Running
                || self.followers.contains_key(&container.id)
            {
                continue;
            }
            // Ours from their first line; adopted ones from their recent past.
            let tail = if self.started_by_us.remove(&container.id) {
                None
            } else {
                Some(100)
            };
            let mut output = Box::pin(runtime.follow_output(&container.id, tail));
            let logs = self.logs.clone();
            let service = container.service_name.clone();
            let print = self.config.print_service_output;
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
                    logs.push(&service, line.stderr, line.text);
                }
            });
            self.followers.insert(container.id.clone(), task);
        }
    }

    fn running_services(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .observed
            .iter()
            .filter(|c| c.status == ContainerStatus::Running)
            .map(|c| c.service_name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn send_heartbeat(&mut self) {
        if self.heartbeat_in_flight {
            tracing::debug!("the previous heartbeat is still waiting for its answer");
            return;
        }
        self.heartbeat_in_flight = true;
        self.health = self.health_probe.sample();
        let request = HeartbeatRequest {
            hostname: self.config.hostname.clone(),
            health: self.health,
            // While the engine is down nothing can be vouched for.
            services: if self.engine_conn.state == EngineState::Up {
                self.running_services()
            } else {
                Vec::new()
            },
        };
        let client = self.ayon.clone();
        let results = self.heartbeat_tx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = client.heartbeat(&request).await;
            let _ = results.send((result, started.elapsed()));
        });
    }

    fn on_heartbeat(&mut self, result: Result<HeartbeatResponse, AyonError>, latency: Duration) {
        self.heartbeat_in_flight = false;
        let latency_ms = latency.as_millis() as u64;
        self.metrics
            .last_heartbeat_latency_ms
            .store(latency_ms, Ordering::Relaxed);
        self.metrics
            .heartbeat_latency_ms_total
            .fetch_add(latency_ms, Ordering::Relaxed);
        match result {
            Ok(answer) => {
                self.metrics.heartbeats_ok.fetch_add(1, Ordering::Relaxed);
                if self.server.state != ServerState::Connected {
                    tracing::info!(server = %self.config.server_url, "heartbeats are answered");
                    self.server.state = ServerState::Connected;
                    self.server.reason = None;
                    self.server.since_ms = now_ms();
                }
                self.server.last_heartbeat_ms = Some(now_ms());
                let (desired, malformed) = read_answer(&answer.services);
                let problems: Vec<String> = malformed.iter().map(ToString::to_string).collect();
                if problems != self.problems {
                    for problem in &problems {
                        tracing::warn!("{problem}");
                    }
                }
                self.problems = problems;
                self.log_spec_changes(&desired);
                self.desired = Some(desired);
                self.answer_fresh = true;
                self.recompute_wanted();
            }
            Err(error) => {
                self.metrics
                    .heartbeats_failed
                    .fetch_add(1, Ordering::Relaxed);
                self.answer_fresh = false;
                let state = match error {
                    AyonError::Unauthorized { .. }
                    | AyonError::NotServiceAccount { .. }
                    | AyonError::Refused { status: 403, .. } => ServerState::Unauthorized,
                    _ => ServerState::Unreachable,
                };
                let reason = error.to_string();
                if self.server.state != state || self.server.reason.as_deref() != Some(&reason) {
                    tracing::warn!("heartbeat failed: {reason}; services are left as they are until the server answers");
                    self.server.since_ms = now_ms();
                }
                self.server.state = state;
                self.server.reason = Some(reason);
            }
        }
    }

    /// Says once when a service's spec becomes invalid, or valid again.
    fn log_spec_changes(&self, desired: &[Desired]) {
        let before: HashMap<&str, &Desired> = self
            .desired
            .iter()
            .flatten()
            .map(|d| (d.name(), d))
            .collect();
        for item in desired {
            let previous = before.get(item.name()).copied();
            match item {
                Desired::Invalid(error) if previous != Some(item) => {
                    tracing::error!(
                        "{error}; the service is not started until its spec is fixed on the server"
                    )
                }
                Desired::NoImage { name } if previous != Some(item) => {
                    tracing::warn!(service = %name, "the service has no image: skipped")
                }
                _ => {}
            }
        }
    }

    fn recompute_wanted(&mut self) {
        self.wanted = self
            .desired
            .iter()
            .flatten()
            .filter_map(|d| match d {
                Desired::Run(spec) => Some((
                    spec.name.clone(),
                    ContainerConfig::for_service(spec, &self.host),
                )),
                _ => None,
            })
            .collect();
    }

    fn reconcile(&mut self) {
        if self.engine_conn.state != EngineState::Up
            || self.runtime.is_none()
            || self.observe_at.is_some()
        {
            return;
        }
        let started = std::time::Instant::now();
        let now = Instant::now();
        let busy: HashSet<String> = self
            .in_flight
            .keys()
            .chain(self.settling.iter())
            .cloned()
            .collect();
        let start_blocked: HashSet<String> = self
            .records
            .iter()
            .filter(|(_, record)| !record.backoff.may_start(now))
            .map(|(name, _)| name.clone())
            .collect();
        let actions = plan(&PlanInput {
            desired: self.desired.as_deref(),
            answer_fresh: self.answer_fresh,
            observed: &self.observed,
            wanted: &self.wanted,
            adopted_hashes: &self.adopted_hashes,
            paused: &self.overrides.stopped,
            paused_all: self.overrides.paused_all,
            in_flight: &busy,
            exits_recorded: &self.exits_recorded,
            start_blocked: &start_blocked,
            restart_requested: &self.restart_requested,
        });
        for action in actions {
            self.dispatch(action);
        }
        self.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .reconcile_micros_total
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    fn dispatch(&mut self, action: Action) {
        let service = action.service().to_string();
        let starting = match &action {
            Action::Create { config, .. } => {
                tracing::info!(service = %service, image = %config.image, container = %config.name, "starting");
                true
            }
            Action::Recreate { config, reason, .. } => {
                tracing::info!(service = %service, image = %config.image, ?reason, "recreating");
                true
            }
            Action::Restart { .. } => {
                tracing::info!(service = %service, "restarting after its backoff");
                true
            }
            Action::Remove {
                reason,
                container_id,
                ..
            } => {
                let why = match reason {
                    RemoveReason::Orphan => "the server no longer wants it on this host",
                    RemoveReason::Paused => "it is stopped on this host",
                    RemoveReason::Duplicate => "a second container of the same service",
                };
                tracing::info!(service = %service, container = %short(container_id), "stopping: {why}");
                false
            }
            Action::RecordExit { .. } | Action::Inspect { .. } => false,
        };
        if starting {
            self.restart_requested.remove(&service);
        }
        let entry = self.in_flight.entry(service).or_insert((0, starting));
        entry.0 += 1;
        entry.1 |= starting;
        let runtime = self
            .runtime
            .clone()
            .expect("reconcile runs only when connected");
        let semaphore = self.semaphore.clone();
        let outcomes = self.outcomes_tx.clone();
        let grace = self.config.stop_grace;
        tokio::spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let _ = outcomes.send(execute(&runtime, action, grace).await);
        });
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        let service = outcome.service().to_string();
        if let Some(entry) = self.in_flight.get_mut(&service) {
            entry.0 -= 1;
            if entry.0 == 0 {
                self.in_flight.remove(&service);
            }
        }
        self.settling.insert(service.clone());
        self.observe_soon(Duration::ZERO);
        let now = Instant::now();
        let record = self.records.entry(service.clone()).or_default();
        match outcome {
            Outcome::Started {
                container_id,
                replaced,
                ..
            } => {
                record.last_error = None;
                if let Some(why) = replaced {
                    record.restarts += 1;
                    self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(service = %service, container = %short(&container_id), "restarted: {why}");
                } else {
                    tracing::info!(service = %service, container = %short(&container_id), "started");
                }
                self.started_by_us.insert(container_id);
            }
            Outcome::StartFailed { error, .. } => {
                let delay = record.backoff.record_failure(now, None);
                tracing::error!(service = %service, "could not start: {error}; next try in {} s", delay.as_secs());
                record.last_error = Some(error);
            }
            Outcome::Removed { .. } => tracing::info!(service = %service, "stopped"),
            Outcome::RemoveFailed { error, .. } => {
                tracing::error!(service = %service, "could not stop: {error}");
                record.last_error = Some(error);
            }
            Outcome::ExitRecorded {
                container_id, exit, ..
            } => {
                self.exits_recorded.insert(container_id);
                match exit {
                    Ok(exit) => {
                        let delay = record.backoff.record_failure(now, exit.ran_for);
                        let oom = if exit.oom_killed {
                            " (out of memory)"
                        } else {
                            ""
                        };
                        let message = format!("exited with code {}{oom}", exit.exit_code);
                        tracing::warn!(
                            service = %service,
                            exit_code = exit.exit_code,
                            "{message}; restarting in {} s{}",
                            delay.as_secs(),
                            if record.backoff.crash_looping() { " (crash loop)" } else { "" }
                        );
                        record.last_exit_code = Some(exit.exit_code);
                        record.last_output = exit.last_lines;
                        record.last_error = Some(message);
                    }
                    Err(error) => {
                        record.backoff.record_failure(now, None);
                        tracing::warn!(service = %service, "exited; its exit code cannot be read: {error}");
                    }
                }
            }
            Outcome::Inspected {
                container_id,
                result,
                ..
            } => match result {
                Ok((true, hash)) => {
                    tracing::info!(service = %service, container = %short(&container_id), "adopted a running container started by ash: its setup matches");
                    self.adopted_hashes.insert(container_id, hash);
                }
                Ok((false, _)) => {
                    tracing::info!(service = %service, container = %short(&container_id), "a container started by ash differs from the server's spec: replacing it");
                    self.adopted_hashes.insert(container_id, "differs".into());
                }
                Err(error) => {
                    tracing::warn!(service = %service, "cannot inspect {}: {error}", short(&container_id))
                }
            },
        }
    }

    /// A container `ash` started has auto-remove: once it dies it is gone before it can
    /// be inspected, so its exit is taken from the event and its output from the
    /// LogHub. Ours are kept until their exit is read ([`Action::RecordExit`]).
    fn on_container_event(&mut self, event: ContainerEvent) {
        let (Some(service), Some(exit_code)) = (event.service_name, event.exit_code) else {
            return;
        };
        if event.action != "die" || event.made_by_ashtray || self.in_flight.contains_key(&service) {
            return;
        }
        let record = self.records.entry(service.clone()).or_default();
        let delay = record.backoff.record_failure(Instant::now(), None);
        record.last_exit_code = Some(exit_code);
        record.last_output = self
            .logs
            .tail(&service, crate::runtime::CRASH_TAIL_LINES)
            .iter()
            .map(|line| line.text.clone())
            .collect();
        record.last_error = Some(format!("exited with code {exit_code}"));
        tracing::warn!(
            service = %service,
            exit_code,
            container = %short(&event.container_id),
            "exited with code {exit_code} (a container started by ash); restarting in {} s",
            delay.as_secs()
        );
    }

    fn knows(&self, name: &str) -> bool {
        self.desired.iter().flatten().any(|d| d.name() == name)
            || self.observed.iter().any(|c| c.service_name == name)
    }

    fn on_command(&mut self, command: Command) {
        let (reply, result) = match command {
            Command::Stop(name, reply) => {
                let result = if !self.knows(&name) && !self.overrides.stopped.contains(&name) {
                    Err(CommandError::UnknownService(name))
                } else {
                    tracing::info!(service = %name, "stopped on this host by request");
                    self.overrides.stopped.insert(name);
                    self.overrides
                        .save(&self.overrides_path)
                        .map_err(CommandError::from)
                };
                (reply, result)
            }
            Command::Start(name, reply) => {
                let result = if !self.knows(&name) && !self.overrides.stopped.contains(&name) {
                    Err(CommandError::UnknownService(name))
                } else {
                    tracing::info!(service = %name, "started on this host by request");
                    self.overrides.stopped.remove(&name);
                    if let Some(record) = self.records.get_mut(&name) {
                        record.backoff.reset();
                    }
                    self.overrides
                        .save(&self.overrides_path)
                        .map_err(CommandError::from)
                };
                (reply, result)
            }
            Command::Restart(name, reply) => {
                let result = if !self.knows(&name) {
                    Err(CommandError::UnknownService(name))
                } else if self.overrides.paused_all || self.overrides.stopped.contains(&name) {
                    Err(CommandError::StoppedLocally(name))
                } else {
                    tracing::info!(service = %name, "restart requested");
                    if let Some(record) = self.records.get_mut(&name) {
                        record.backoff.reset();
                    }
                    self.restart_requested.insert(name);
                    Ok(())
                };
                (reply, result)
            }
            Command::PauseAll(paused, reply) => {
                tracing::info!(paused, "pause all");
                self.overrides.paused_all = paused;
                (
                    reply,
                    self.overrides
                        .save(&self.overrides_path)
                        .map_err(CommandError::from),
                )
            }
            Command::ReportStatus(name, mut status, reply) => {
                status.at_ms = now_ms();
                self.records.entry(name).or_default().reported = Some(status);
                (reply, Ok(()))
            }
        };
        let _ = reply.send(result);
    }

    fn snapshot(&self) -> HostState {
        let now = Instant::now();
        let desired: HashMap<&str, &Desired> = self
            .desired
            .iter()
            .flatten()
            .map(|d| (d.name(), d))
            .collect();
        let mut names: std::collections::BTreeSet<&str> = desired.keys().copied().collect();
        names.extend(self.observed.iter().map(|c| c.service_name.as_str()));
        names.extend(self.in_flight.keys().map(String::as_str));
        let mut services = Vec::new();
        for name in names {
            let item = desired.get(name).copied();
            let containers: Vec<&ObservedContainer> = self
                .observed
                .iter()
                .filter(|c| c.service_name == name)
                .collect();
            let keeper = containers
                .iter()
                .find(|c| c.status == ContainerStatus::Running)
                .or_else(|| containers.first())
                .copied();
            let record = self.records.get(name);
            let stopped_locally =
                self.overrides.paused_all || self.overrides.stopped.contains(name);
            let desired_state = match item {
                Some(Desired::Run(_)) if stopped_locally => DesiredState::StoppedLocally,
                Some(Desired::Run(_)) => DesiredState::Run,
                Some(Desired::Invalid(_)) => DesiredState::Invalid,
                Some(Desired::NoImage { .. }) => DesiredState::NoImage,
                None if self.desired.is_none() => DesiredState::Run,
                None => DesiredState::NotWanted,
            };
            let spec = match item {
                Some(Desired::Run(spec)) => Some(spec.as_ref()),
                _ => None,
            };
            let waiting = record.and_then(|r| r.backoff.waiting_until(now));
            let crash_looping = record.is_some_and(|r| r.backoff.crash_looping());
            let state = match (self.in_flight.get(name), item, keeper.map(|k| k.status)) {
                (Some((_, true)), _, _) => ServiceState::Starting,
                (Some((_, false)), _, Some(ContainerStatus::Running))
                    if stopped_locally || desired_state == DesiredState::NotWanted =>
                {
                    ServiceState::Stopping
                }
                (_, Some(Desired::Invalid(_)), _) => ServiceState::Failed,
                (_, Some(Desired::NoImage { .. }), _) => ServiceState::Skipped,
                (_, _, Some(ContainerStatus::Running)) if stopped_locally => ServiceState::Stopping,
                (_, _, Some(ContainerStatus::Running)) => ServiceState::Running,
                (_, _, Some(ContainerStatus::Starting)) => ServiceState::Starting,
                (_, _, Some(_)) if stopped_locally => ServiceState::Stopping,
                (_, _, Some(_)) if crash_looping => ServiceState::CrashLooping,
                (_, _, Some(_)) => ServiceState::Waiting,
                (_, _, None) if stopped_locally => ServiceState::Stopped,
                (_, _, None) if waiting.is_some() && crash_looping => ServiceState::CrashLooping,
                (_, _, None)
                    if waiting.is_some() && record.is_some_and(|r| r.last_error.is_some()) =>
                {
                    ServiceState::Failed
                }
                (_, _, None) => ServiceState::Pending,
            };
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
                container_name: crate::slug::container_name(name),
                started_at_ms: keeper
                    .filter(|k| k.status == ContainerStatus::Running)
                    .map(|k| (k.created.max(0) as u64) * 1000),
                restarts: record.map_or(0, |r| r.restarts),
                last_exit_code: record.and_then(|r| r.last_exit_code),
                last_error,
                last_output: record.map(|r| r.last_output.clone()).unwrap_or_default(),
                next_restart_in_ms: waiting.map(|at| at.duration_since(now).as_millis() as u64),
                reported: record.and_then(|r| r.reported.clone()),
            });
        }
        let paused = self.overrides.paused_all;
        HostState {
            hostname: self.config.hostname.clone(),
            server_url: self.config.server_url.clone(),
            server: self.server.clone(),
            engine: self.engine_conn.clone(),
            health: HostHealth {
                cpu: self.health.cpu,
                mem: self.health.mem,
            },
            paused,
            overall: HostState::overall_of(
                self.server.state,
                self.engine_conn.state,
                paused,
                &services,
            ),
            services,
            problems: self.problems.clone(),
            specs: self
                .desired
                .iter()
                .flatten()
                .filter_map(|d| match d {
                    Desired::Run(spec) => Some((spec.name.clone(), (**spec).clone())),
                    _ => None,
                })
                .collect(),
        }
    }

    fn publish(&mut self) {
        let mut new = self.snapshot();
        let old = self.state_tx.borrow().clone();
        // The countdown changes every instant; it alone is not news.
        for service in &mut new.services {
            if let Some(previous) = old.service(&service.name) {
                if previous.next_restart_in_ms.is_some()
                    && service.next_restart_in_ms.is_some()
                    && previous.state == service.state
                {
                    service.next_restart_in_ms = previous.next_restart_in_ms;
                }
            }
        }
        if *old == new {
            return;
        }
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
        for (_, task) in self.followers.drain() {
            task.abort();
        }
        if !self.config.stop_services_on_exit {
            tracing::info!("stopped; service containers keep running (use --stop-services-on-exit to stop them)");
            return;
        }
        let Some(runtime) = self.runtime.clone() else {
            return;
        };
        tracing::info!(
            count = self.observed.len(),
            "stopping this host's service containers"
        );
        let grace = self.config.stop_grace;
        let stops = self.observed.drain(..).map(|container| {
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
