//! The Handle: how the rest of the program talks to the engine. Commands go in through
//! a channel (each with its own reply); snapshots, events and logs come out.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::history::HistoryEntry;
use crate::host_state::{EventEnvelope, HostState, ReportedStatus};
use crate::local_stops::LocalStopsError;
use crate::logs::LogHub;
use crate::secret::Secret;
use crate::spec::ServiceSpec;
use std::sync::atomic::AtomicU64;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("there is no service {0:?} on this host")]
    UnknownService(String),
    #[error("service {0:?} is stopped on this host: start it first")]
    StoppedLocally(String),
    #[error(transparent)]
    Save(#[from] LocalStopsError),
    #[error("the engine has stopped")]
    EngineGone,
}

pub(super) type Reply = oneshot::Sender<Result<(), CommandError>>;

pub(super) enum Command {
    Stop(String, Reply),
    Start(String, Reply),
    Restart(String, Reply),
    PauseAll(bool, Reply),
    ReportStatus(String, ReportedStatus, Reply),
    /// The validated spec of a service the server (or another source) wants here.
    Spec(String, oneshot::Sender<Option<ServiceSpec>>),
    /// What a detail view shows beyond the snapshot.
    Details(String, oneshot::Sender<ServiceDetails>),
}

/// What a service's detail view shows beyond the snapshot, asked of the loop on request:
/// its spec (whose env may hold what only the service should see: a reader hides it),
/// the image its container runs, and its recent history.
#[derive(Debug, Clone, Default)]
pub struct ServiceDetails {
    pub spec: Option<ServiceSpec>,
    /// The id of the image of its container (the running one, else the newest), when the
    /// engine says.
    pub image_id: Option<String>,
    /// Oldest first, at most [`crate::history::HISTORY_LEN`].
    pub history: Vec<HistoryEntry>,
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
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) state: watch::Receiver<Arc<HostState>>,
    pub(super) events: broadcast::Sender<EventEnvelope>,
    pub(super) logs: LogHub,
    pub(super) stats: crate::stats::StatsHub,
    pub(super) metrics: Arc<Metrics>,
    pub(super) token_key: Option<Secret>,
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

    /// Each running service's CPU and memory readings (from the engine's stats streams).
    pub fn stats(&self) -> &crate::stats::StatsHub {
        &self.stats
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

    /// Sends a command and waits for the loop's answer to it.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| CommandError::EngineGone)?;
        answer.await.map_err(|_| CommandError::EngineGone)
    }

    /// Stops the service on this host until [`Handle::start_service`]; remembered across
    /// restarts of ashtray.
    pub async fn stop_service(&self, name: &str) -> Result<(), CommandError> {
        self.ask(|reply| Command::Stop(name.to_string(), reply))
            .await?
    }

    pub async fn start_service(&self, name: &str) -> Result<(), CommandError> {
        self.ask(|reply| Command::Start(name.to_string(), reply))
            .await?
    }

    /// Replaces the service's container with a new one.
    pub async fn restart_service(&self, name: &str) -> Result<(), CommandError> {
        self.ask(|reply| Command::Restart(name.to_string(), reply))
            .await?
    }

    pub async fn pause_all(&self, paused: bool) -> Result<(), CommandError> {
        self.ask(|reply| Command::PauseAll(paused, reply)).await?
    }

    /// The validated spec of `name`, while it is wanted here with a valid one. Asked of
    /// the loop rather than carried in every snapshot: a spec's env may hold what the
    /// service alone should see, and most snapshots have no reader for it.
    pub async fn spec(&self, name: &str) -> Result<Option<ServiceSpec>, CommandError> {
        self.ask(|reply| Command::Spec(name.to_string(), reply))
            .await
    }

    /// The spec, image id and history of `name` (empty for a service never seen).
    pub async fn details(&self, name: &str) -> Result<ServiceDetails, CommandError> {
        self.ask(|reply| Command::Details(name.to_string(), reply))
            .await
    }

    pub async fn report_status(
        &self,
        name: &str,
        status: ReportedStatus,
    ) -> Result<(), CommandError> {
        self.ask(|reply| Command::ReportStatus(name.to_string(), status, reply))
            .await?
    }
}
