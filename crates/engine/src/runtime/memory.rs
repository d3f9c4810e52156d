//! An in-memory container engine: the [`ContainerRuntime`] the loop's tests (and the
//! benchmarks of many services) run against, where no Docker should be needed.
//!
//! Owns a table of containers (id, name, labels, status, exit code, created and started
//! times) and the subscribers of its event stream; answers like Docker does, emits the same
//! [`ContainerEvent`]s, and counts every request. A test drives it from outside: kill a
//! container, run one as `ash` would have, take the engine down, make creates fail. It
//! must never sleep or read the wall clock for anything a test asserts: times come from
//! `tokio::time`, so `tokio::time::pause()` governs them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::container_runtime::{Connect, ContainerRuntime};
use super::{
    ContainerEvent, ContainerStatus, ExitInfo, ObservedContainer, OutputFrom, OutputLine,
    OwnContainer, PullProgress, RegistryAuth, RuntimeError,
};
use crate::container::{
    AppliedConfig, ContainerConfig, LABEL_HOST, LABEL_SERVICE_NAME, LABEL_SPEC_HASH,
};
use crate::host_state::ContainerHealth;

/// One container as the in-memory engine keeps it.
#[derive(Debug, Clone)]
pub struct MemoryContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    pub status: ContainerStatus,
    pub exit_code: Option<i64>,
    /// Order of creation, standing in for Docker's creation time in seconds.
    pub created: i64,
    pub started_at: Option<Instant>,
    pub finished_at: Option<Instant>,
    /// `ash` starts its containers with auto-remove: they vanish when they die.
    pub auto_remove: bool,
    pub applied: AppliedConfig,
    /// The network it was put on.
    pub network_mode: Option<String>,
    pub output: Vec<OutputLine>,
    /// Its HEALTHCHECK's verdict, once [`MemoryRuntime::set_health`] gave it one.
    pub health: Option<ContainerHealth>,
}

/// How the next creates fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateFault {
    /// The engine refuses them (a bad image, a name taken...), until told otherwise.
    Refused(String),
    /// The engine itself dies during the next create, and stays down until
    /// [`MemoryRuntime::come_back`].
    EngineDies,
}

#[derive(Default)]
struct World {
    containers: BTreeMap<String, MemoryContainer>,
    next_id: u64,
    down: bool,
    create_fault: Option<CreateFault>,
    /// Images this engine does not have (every other one it has).
    missing_images: BTreeSet<String>,
    /// Why pulls fail, the registry's words, until told otherwise.
    pull_fault: Option<String>,
    requests: BTreeMap<&'static str, u64>,
    /// Lists show a container that died as still running (dockerd's race).
    list_lags_deaths: bool,
    subscribers: Vec<mpsc::UnboundedSender<Result<ContainerEvent, RuntimeError>>>,
    /// The container ashtray runs in, as [`MemoryRuntime::run_inside`] set it.
    own: Option<OwnContainer>,
}

/// The in-memory engine. Cheap to clone; clones share one world.
#[derive(Clone, Default)]
pub struct MemoryRuntime {
    world: Arc<Mutex<World>>,
    calls: Arc<AtomicU64>,
}

fn unreachable() -> RuntimeError {
    RuntimeError::Unreachable {
        kind: "in-memory",
        uri: "memory://".to_string(),
        source: bollard::errors::Error::IOError {
            err: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "the engine is down"),
        },
    }
}

fn refused(operation: &'static str, target: &str, status_code: u16, message: &str) -> RuntimeError {
    RuntimeError::Api {
        operation,
        target: target.to_string(),
        source: bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.to_string(),
        },
    }
}

impl World {
    fn emit(&mut self, action: &str, container: &MemoryContainer) {
        let event = ContainerEvent {
            action: action.to_string(),
            container_id: container.id.clone(),
            service_name: container.labels.get(LABEL_SERVICE_NAME).cloned(),
            exit_code: (action == "die").then(|| container.exit_code.unwrap_or(-1)),
            made_by_ashtray: container.labels.contains_key(LABEL_SPEC_HASH),
            name: Some(container.name.clone()),
            image: Some(container.image.clone()),
            spec_hash: container.labels.get(LABEL_SPEC_HASH).cloned(),
            host: container.labels.get(LABEL_HOST).cloned(),
            // Its clock is the creation counter that stands in for creation times.
            time: container.created,
            replayed: false,
        };
        self.subscribers
            .retain(|subscriber| subscriber.send(Ok(event.clone())).is_ok());
    }

    fn insert(
        &mut self,
        config: &ContainerConfig,
        labels: BTreeMap<String, String>,
        auto_remove: bool,
    ) -> String {
        self.next_id += 1;
        let id = format!("{:064x}", self.next_id);
        let container = MemoryContainer {
            id: id.clone(),
            name: config.name.clone(),
            labels,
            image: config.image.clone(),
            status: ContainerStatus::Running,
            exit_code: None,
            created: self.next_id as i64,
            started_at: Some(Instant::now()),
            finished_at: None,
            auto_remove,
            applied: AppliedConfig {
                image: config.image.clone(),
                env: config.env.clone(),
                binds: config.binds.clone(),
                memory: config.memory,
                user: config.user.clone(),
                port_keys: config.ports.iter().map(|p| p.container_key()).collect(),
            },
            network_mode: config.network_mode.clone(),
            output: Vec::new(),
            health: None,
        };
        self.emit("create", &container);
        self.emit("start", &container);
        self.containers.insert(id.clone(), container);
        id
    }

    fn stop(&mut self, id: &str, exit_code: i64) {
        let Some(container) = self.containers.get_mut(id) else {
            return;
        };
        if container.status != ContainerStatus::Running {
            return;
        }
        container.status = ContainerStatus::Exited;
        container.exit_code = Some(exit_code);
        container.finished_at = Some(Instant::now());
        let container = container.clone();
        // Docker says it sent the signal before it says the process died.
        if exit_code > 128 {
            self.emit("kill", &container);
        }
        self.emit("die", &container);
        if container.auto_remove {
            self.containers.remove(id);
            self.emit("destroy", &container);
        }
    }
}

impl MemoryRuntime {
    pub fn new() -> MemoryRuntime {
        MemoryRuntime::default()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .expect("no test panics while holding the world")
    }

    /// Counts one request; refuses it while the engine is down.
    fn request(&self, operation: &'static str) -> Result<MutexGuard<'_, World>, RuntimeError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut world = self.world();
        *world.requests.entry(operation).or_default() += 1;
        if world.down {
            return Err(unreachable());
        }
        Ok(world)
    }

    /// Requests of one kind made so far (`create`, `stop`, `list`, `inspect`, ...).
    pub fn requests(&self, operation: &str) -> u64 {
        self.world().requests.get(operation).copied().unwrap_or(0)
    }

    /// Every container, oldest first.
    pub fn containers(&self) -> Vec<MemoryContainer> {
        let mut all: Vec<_> = self.world().containers.values().cloned().collect();
        all.sort_by_key(|c| c.created);
        all
    }

    /// The running containers of one service.
    pub fn running(&self, service: &str) -> Vec<MemoryContainer> {
        self.containers()
            .into_iter()
            .filter(|c| c.status == ContainerStatus::Running)
            .filter(|c| c.labels.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(service))
            .collect()
    }

    /// The engine goes away (dockerd stopped): every request fails as unreachable and
    /// open event streams end.
    pub fn go_down(&self) {
        let mut world = self.world();
        world.down = true;
        world.subscribers.clear();
    }

    /// The engine is back, with the containers it had.
    pub fn come_back(&self) {
        self.world().down = false;
    }

    /// Lists show containers that died as running still, as dockerd's list may right
    /// after it sent their `die` event.
    pub fn list_lags_deaths(&self, lag: bool) {
        self.world().list_lags_deaths = lag;
    }

    /// From now on ashtray runs inside `own` (a container of this engine).
    pub fn run_inside(&self, own: OwnContainer) {
        self.world().own = Some(own);
    }

    /// Makes the next creates fail (`None`: they succeed again).
    pub fn fail_creates(&self, fault: Option<CreateFault>) {
        self.world().create_fault = fault;
    }

    /// The engine no longer has `image` (`docker rmi`): the next create pulls it.
    pub fn lose_image(&self, image: &str) {
        self.world().missing_images.insert(image.to_string());
    }

    /// Makes pulls fail with the registry's `message` (`None`: they succeed again).
    pub fn fail_pulls(&self, message: Option<&str>) {
        self.world().pull_fault = message.map(str::to_string);
    }

    /// The running container of `service` dies with `exit_code`, as if its process ended.
    pub fn kill(&self, service: &str, exit_code: i64) {
        let ids: Vec<String> = self.running(service).into_iter().map(|c| c.id).collect();
        let mut world = self.world();
        for id in ids {
            world.stop(&id, exit_code);
        }
    }

    /// The running container of `service` reports `health`, with the engine's
    /// `health_status` event, as its HEALTHCHECK would.
    pub fn set_health(&self, service: &str, health: ContainerHealth) {
        let ids: Vec<String> = self.running(service).into_iter().map(|c| c.id).collect();
        let mut world = self.world();
        for id in ids {
            if let Some(container) = world.containers.get_mut(&id) {
                container.health = Some(health);
                let container = container.clone();
                let word = match health {
                    ContainerHealth::Starting => "starting",
                    ContainerHealth::Healthy => "healthy",
                    ContainerHealth::Unhealthy => "unhealthy",
                };
                world.emit(&format!("health_status: {word}"), &container);
            }
        }
    }

    /// A running container as `ash` started it: ash's labels, no spec hash, no host
    /// label, auto-remove. Returns its id.
    pub fn run_as_ash(&self, config: &ContainerConfig) -> String {
        let labels = config
            .labels
            .iter()
            .filter(|(key, _)| key.as_str() != LABEL_SPEC_HASH && key.as_str() != LABEL_HOST)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.world().insert(config, labels, true)
    }

    /// `docker start` of a container that exited: it runs again, under the same id, and
    /// its HEALTHCHECK (if any) starts over.
    pub fn start_again(&self, id: &str) {
        let mut world = self.world();
        let Some(container) = world.containers.get_mut(id) else {
            return;
        };
        if container.status != ContainerStatus::Exited {
            return;
        }
        container.status = ContainerStatus::Running;
        container.exit_code = None;
        container.started_at = Some(Instant::now());
        container.finished_at = None;
        if container.health.is_some() {
            container.health = Some(ContainerHealth::Starting);
        }
        let container = container.clone();
        world.emit("start", &container);
    }

    /// `docker rename`: the `rename` event carries the new name.
    pub fn rename(&self, id: &str, name: &str) {
        let mut world = self.world();
        let Some(container) = world.containers.get_mut(id) else {
            return;
        };
        container.name = name.to_string();
        let container = container.clone();
        world.emit("rename", &container);
    }

    /// A health check ran inside it (`docker exec`'s events, as a HEALTHCHECK makes them
    /// every interval): no change of its state.
    pub fn exec(&self, id: &str) {
        let mut world = self.world();
        if let Some(container) = world.containers.get(id).cloned() {
            for action in [
                "exec_create: /bin/true",
                "exec_start: /bin/true",
                "exec_die",
            ] {
                world.emit(action, &container);
            }
        }
    }

    /// A line the container printed.
    pub fn print(&self, id: &str, text: &str) {
        if let Some(container) = self.world().containers.get_mut(id) {
            container.output.push(OutputLine {
                stderr: false,
                text: text.to_string(),
                at: Some(std::time::SystemTime::now()),
            });
        }
    }
}

#[async_trait]
impl Connect for MemoryRuntime {
    async fn connect(&self) -> Result<Arc<dyn ContainerRuntime>, RuntimeError> {
        drop(self.request("connect")?);
        Ok(Arc::new(self.clone()))
    }
}

#[async_trait]
impl ContainerRuntime for MemoryRuntime {
    fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn version(&self) -> Result<String, RuntimeError> {
        drop(self.request("version")?);
        Ok("in-memory".to_string())
    }

    async fn list_service_containers(&self) -> Result<Vec<ObservedContainer>, RuntimeError> {
        let world = self.request("list")?;
        let mut all: Vec<ObservedContainer> = world
            .containers
            .values()
            .filter_map(|c| {
                Some(ObservedContainer {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    service_name: c.labels.get(LABEL_SERVICE_NAME)?.clone(),
                    spec_hash: c.labels.get(LABEL_SPEC_HASH).cloned(),
                    host: c.labels.get(LABEL_HOST).cloned(),
                    image: c.image.clone(),
                    image_id: None,
                    status: match c.status {
                        ContainerStatus::Exited if world.list_lags_deaths => {
                            ContainerStatus::Running
                        }
                        status => status,
                    },
                    created: c.created,
                    health: c.health,
                })
            })
            .collect();
        all.sort_by_key(|c| c.created);
        Ok(all)
    }

    async fn create_and_start(&self, config: &ContainerConfig) -> Result<String, RuntimeError> {
        let mut world = self.request("create")?;
        if world.missing_images.contains(&config.image) {
            return Err(refused(
                "creating container",
                &config.name,
                404,
                "No such image",
            ));
        }
        match world.create_fault.clone() {
            Some(CreateFault::Refused(message)) => {
                return Err(refused("creating container", &config.name, 500, &message))
            }
            Some(CreateFault::EngineDies) => {
                world.create_fault = None;
                world.down = true;
                world.subscribers.clear();
                return Err(unreachable());
            }
            None => {}
        }
        // The name belongs to the service: a leftover of that name is removed first.
        let leftover: Vec<String> = world
            .containers
            .values()
            .filter(|c| c.name == config.name)
            .map(|c| c.id.clone())
            .collect();
        for id in leftover {
            world.stop(&id, 137);
            if let Some(container) = world.containers.remove(&id) {
                world.emit("destroy", &container);
            }
        }
        Ok(world.insert(config, config.labels.clone(), false))
    }

    async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        let world = self.request("inspect_image")?;
        Ok(!world.missing_images.contains(image))
    }

    async fn pull_image(
        &self,
        image: &str,
        _auth: Option<&RegistryAuth>,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<(), RuntimeError> {
        let mut world = self.request("pull")?;
        if let Some(reason) = world.pull_fault.clone() {
            return Err(RuntimeError::ImageMissing {
                image: image.to_string(),
                reason,
            });
        }
        world.missing_images.remove(image);
        drop(world);
        // One layer, fetched at once: enough for a reader to see a pull happen.
        progress(PullProgress {
            image: image.to_string(),
            bytes_done: 1,
            bytes_total: 1,
            layers_done: 1,
            layers_total: 1,
        });
        Ok(())
    }

    async fn stop_and_remove(&self, id: &str, _grace: Duration) -> Result<(), RuntimeError> {
        let mut world = self.request("stop")?;
        // SIGTERM: the container's process ends as a well-behaved one does.
        world.stop(id, 143);
        if let Some(container) = world.containers.remove(id) {
            world.emit("destroy", &container);
        }
        Ok(())
    }

    async fn exit_info(&self, id: &str) -> Result<ExitInfo, RuntimeError> {
        let world = self.request("inspect")?;
        let container = world
            .containers
            .get(id)
            .ok_or_else(|| refused("inspecting container", id, 404, "no such container"))?;
        let ran_for = match (container.started_at, container.finished_at) {
            (Some(started), Some(finished)) => Some(finished.duration_since(started)),
            _ => None,
        };
        let skip = container
            .output
            .len()
            .saturating_sub(super::CRASH_TAIL_LINES);
        Ok(ExitInfo {
            exit_code: container.exit_code.unwrap_or(-1),
            oom_killed: false,
            ran_for,
            last_lines: container.output[skip..]
                .iter()
                .map(|l| l.text.clone())
                .collect(),
        })
    }

    async fn applied_config(&self, id: &str) -> Result<AppliedConfig, RuntimeError> {
        let world = self.request("inspect")?;
        world
            .containers
            .get(id)
            .map(|c| c.applied.clone())
            .ok_or_else(|| refused("inspecting container", id, 404, "no such container"))
    }

    async fn own_container(&self) -> Option<OwnContainer> {
        self.world().own.clone()
    }

    /// From now on: the subscriber is added at once, so nothing is missed between this
    /// call and a list after it, and nothing is replayed.
    fn events(&self) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>> {
        let (tx, rx) = mpsc::unbounded_channel();
        match self.request("events") {
            Ok(mut world) => world.subscribers.push(tx),
            Err(error) => {
                let _ = tx.send(Err(error));
            }
        }
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed()
    }

    fn follow_output(&self, id: &str, from: OutputFrom) -> BoxStream<'static, OutputLine> {
        let lines = match self.request("logs") {
            Ok(world) => world
                .containers
                .get(id)
                .map(|c| c.output.clone())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let skip = match from {
            OutputFrom::Tail(n) => lines.len().saturating_sub(n),
            _ => 0,
        };
        let mut read_before = super::output_mark::SkipRead::new(from);
        let lines: Vec<OutputLine> = lines
            .into_iter()
            .skip(skip)
            .filter(|line| read_before.is_new(line.at))
            .collect();
        // What is printed later is not followed: a test reads output through exit_info.
        futures::stream::iter(lines)
            .chain(futures::stream::pending())
            .boxed()
    }
}
