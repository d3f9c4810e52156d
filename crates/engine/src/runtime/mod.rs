//! The container engine, Docker or Podman, through bollard. Podman serves the same API on
//! its own socket, so one implementation serves both.
//!
//! This module only translates: it decides nothing about which container should run.
//! Every request is counted, so a benchmark can show how many calls a tick costs.

mod archive;
mod container_runtime;
mod gateway;
#[cfg(any(test, feature = "memory-runtime"))]
pub mod memory;
mod observe;
mod observed_set;
mod output_mark;
mod own_container;
mod pull;
pub mod registry_auth;
pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, DeviceRequest, EventMessage, HostConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, InspectContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::{Stream, StreamExt};

use crate::container::{AppliedConfig, ContainerConfig, LABEL_SERVICE_NAME};
use crate::limits::Gpus;

pub use archive::ArchiveError;
pub use container_runtime::{Connect, ContainerRuntime};
pub use gateway::{
    host_address, interface_addresses, rootless_host_address, running_as_user, InterfaceAddress,
    BRIDGE_NAME_OPTION,
};
pub use observe::{ContainerStatus, ObservedContainer};
pub use observed_set::ObservedSet;
pub use output_mark::{OutputFrom, ReadMark};
pub use own_container::{container_id_from_mountinfo, OwnContainer};
pub use pull::{PullPolicy, PullProgress, PullTally, PROGRESS_EVERY};
pub use registry_auth::{ClientConfig, RegistryAuth, RegistryAuthError};

/// Where the engine listens and which kind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///var/run/docker.sock`, `tcp://host:2375`, ...
    pub uri: String,
    pub podman: bool,
}

impl Endpoint {
    /// `DOCKER_HOST` / `CONTAINER_HOST` as given, else the engine's usual socket.
    pub fn resolve(given: Option<&str>, podman: bool) -> Endpoint {
        let uri = match given.filter(|uri| !uri.trim().is_empty()) {
            Some(uri) => uri.trim().to_string(),
            None if podman => default_podman_socket(),
            None => "unix:///var/run/docker.sock".to_string(),
        };
        Endpoint { uri, podman }
    }

    pub fn kind(&self) -> &'static str {
        if self.podman {
            "Podman"
        } else {
            "Docker"
        }
    }
}

fn default_podman_socket() -> String {
    let rootless = std::env::var("XDG_RUNTIME_DIR")
        .ok()
        .map(|dir| format!("{dir}/podman/podman.sock"))
        .filter(|path| std::path::Path::new(path).exists());
    let path = rootless.unwrap_or_else(|| "/run/podman/podman.sock".to_string());
    format!("unix://{path}")
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot reach the {kind} engine at {uri}: {source}. Is it running, and may this user use its socket?")]
    Unreachable {
        kind: &'static str,
        uri: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("could not pull image {image:?}: {reason}. Check the image's name and tag, that this machine reaches its registry, and its credentials (`docker login`, or DOCKER_CONFIG)")]
    ImageMissing { image: String, reason: String },
    #[error(transparent)]
    RegistryAuth(#[from] RegistryAuthError),
    #[error("the {kind} network {network:?} shows no address of this machine (no address on its bridge interface, no gateway, no IPv4 subnet): see what `{cli} network inspect {network}` shows")]
    NoHostAddress {
        kind: &'static str,
        cli: &'static str,
        network: String,
    },
    #[error("{container} asks for GPUs ({gpus}, from --gpus) but the {kind} engine has no GPU runtime for them: install the NVIDIA Container Toolkit and set it up for {kind} (`nvidia-ctk runtime configure` for Docker, `nvidia-ctk cdi generate` for Podman), or take the service out of --gpus. The engine said: {message}")]
    NoGpuRuntime {
        container: String,
        gpus: String,
        kind: &'static str,
        message: String,
    },
    #[error("{operation} {target}: {source}")]
    Api {
        operation: &'static str,
        target: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl RuntimeError {
    /// Whether the engine itself is gone (as opposed to one request being refused).
    pub fn engine_down(&self) -> bool {
        match self {
            RuntimeError::Unreachable { .. } => true,
            RuntimeError::Api { source, .. } => is_connection_error(source),
            RuntimeError::ImageMissing { .. }
            | RuntimeError::RegistryAuth(_)
            | RuntimeError::NoHostAddress { .. }
            | RuntimeError::NoGpuRuntime { .. } => false,
        }
    }
}

fn is_connection_error(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    matches!(
        error,
        E::HyperResponseError { .. }
            | E::IOError { .. }
            | E::RequestTimeoutError
            | E::SocketNotFoundError(_)
            | E::HyperLegacyError { .. }
    )
}

/// Why a container stopped, read from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    pub exit_code: i64,
    pub oom_killed: bool,
    /// How long it ran, when the engine says.
    pub ran_for: Option<Duration>,
    /// Its last output lines.
    pub last_lines: Vec<String>,
}

/// A container event worth waking the loop for.
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    pub action: String,
    pub container_id: String,
    pub service_name: Option<String>,
    /// On `die`: the exit code.
    pub exit_code: Option<i64>,
    /// Whether the container carries ashtray's spec hash (ashtray made it).
    pub made_by_ashtray: bool,
    /// What the event carries of the container, for [`ObservedSet::apply`]: its name
    /// (`rename`: the new one), image, spec hash and host labels.
    pub name: Option<String>,
    pub image: Option<String>,
    pub spec_hash: Option<String>,
    pub host: Option<String>,
    /// When it happened, Unix seconds (a `create`'s is the container's creation time).
    pub time: i64,
    /// From before the stream was asked for ([`EVENTS_REPLAY`]): it keeps the set right,
    /// but what it reports was seen already, or happened before this look began.
    pub replayed: bool,
}

/// How far back Docker's event stream is asked to begin: bollard sends the request only
/// once the stream is first polled, after the list it must not miss anything of.
pub const EVENTS_REPLAY: Duration = Duration::from_secs(2);

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stderr: bool,
    pub text: String,
    /// The engine's stamp, when the line was asked for with one.
    pub at: Option<std::time::SystemTime>,
}

/// The engine connection. Cheap to clone; clones share the call counter.
#[derive(Clone)]
pub struct Runtime {
    docker: Docker,
    endpoint: Endpoint,
    calls: Arc<AtomicU64>,
}

/// How long a single engine request may take before it counts as failed. Long enough for
/// a stop with its grace period; streams (logs, events) are not limited by it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many output lines of a crashed container are kept with its exit code.
pub const CRASH_TAIL_LINES: usize = 20;

impl Runtime {
    /// Connects and agrees on an API version (Debian's dockerd speaks 1.41 at most).
    pub async fn connect(endpoint: &Endpoint) -> Result<Runtime, RuntimeError> {
        let unreachable = |source| RuntimeError::Unreachable {
            kind: endpoint.kind(),
            uri: endpoint.uri.clone(),
            source,
        };
        let uri = if endpoint.uri.starts_with('/') {
            format!("unix://{}", endpoint.uri)
        } else {
            endpoint.uri.clone()
        };
        let docker = Docker::connect_with_host(&uri)
            .map_err(unreachable)?
            .with_timeout(REQUEST_TIMEOUT)
            .negotiate_version()
            .await
            .map_err(unreachable)?;
        Ok(Runtime {
            docker,
            endpoint: endpoint.clone(),
            calls: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Engine API requests made so far (streams count once, when opened).
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn api_error(
        &self,
        operation: &'static str,
        target: &str,
    ) -> impl Fn(bollard::errors::Error) -> RuntimeError + '_ {
        let target = target.to_string();
        move |source| {
            if is_connection_error(&source) {
                RuntimeError::Unreachable {
                    kind: self.endpoint.kind(),
                    uri: self.endpoint.uri.clone(),
                    source,
                }
            } else {
                RuntimeError::Api {
                    operation,
                    target: target.clone(),
                    source,
                }
            }
        }
    }

    /// The engine's version, e.g. `20.10.24` (its kind is [`Endpoint::kind`]).
    pub async fn version(&self) -> Result<String, RuntimeError> {
        self.count();
        let version = self
            .docker
            .version()
            .await
            .map_err(self.api_error("asking the version of", "the engine"))?;
        Ok(version.version.unwrap_or_default())
    }

    /// Every service container on this engine (running or not), in ONE request.
    pub async fn list_service_containers(&self) -> Result<Vec<ObservedContainer>, RuntimeError> {
        self.count();
        let filters = HashMap::from([("label".to_string(), vec![LABEL_SERVICE_NAME.to_string()])]);
        let summaries = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(self.api_error("listing", "service containers"))?;
        Ok(summaries
            .into_iter()
            .filter_map(ObservedContainer::from_summary)
            .collect())
    }

    /// Whose client configuration holds the pull credentials: Podman's auth files (then
    /// the docker CLI's) for Podman, the docker CLI's for Docker.
    pub fn client_config(&self) -> ClientConfig {
        match self.endpoint.podman {
            true => ClientConfig::Podman,
            false => ClientConfig::Docker,
        }
    }

    /// Creates and starts the container. A leftover container with the same name (one
    /// that exited, or a stranger) is removed first: the name belongs to the service.
    pub async fn create_and_start(&self, config: &ContainerConfig) -> Result<String, RuntimeError> {
        let body = create_body(config, self.endpoint.podman);
        let options = CreateContainerOptions {
            name: Some(config.name.clone()),
            ..Default::default()
        };
        self.count();
        let created = match self
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Ok(created) => created,
            Err(error) if status_of(&error) == Some(409) => {
                self.remove(&config.name).await?;
                self.count();
                self.docker
                    .create_container(Some(options), body)
                    .await
                    .map_err(self.api_error("creating container", &config.name))?
            }
            Err(error) if status_of(&error) == Some(404) => {
                let auth = registry_auth::lookup(&config.image, self.client_config()).await?;
                self.pull_image(&config.image, auth.as_ref(), &|_| {})
                    .await?;
                self.count();
                self.docker
                    .create_container(Some(options), body)
                    .await
                    .map_err(self.api_error("creating container", &config.name))?
            }
            Err(error) => {
                return Err(self
                    .gpu_refusal(config, &error)
                    .unwrap_or_else(|| self.api_error("creating container", &config.name)(error)))
            }
        };
        self.count();
        if let Err(error) = self.docker.start_container(&created.id, None).await {
            // Do not leave a created-but-never-started container behind: a service that
            // asked for GPUs never runs without them.
            let _ = self.remove(&created.id).await;
            return Err(self
                .gpu_refusal(config, &error)
                .unwrap_or_else(|| self.api_error("starting container", &config.name)(error)));
        }
        Ok(created.id)
    }

    /// The engine's refusal of a container that asks for GPUs, when it is about them
    /// (Docker: "could not select device driver "nvidia""; Podman: an unknown CDI device).
    fn gpu_refusal(
        &self,
        config: &ContainerConfig,
        error: &bollard::errors::Error,
    ) -> Option<RuntimeError> {
        let gpus = config.gpus.as_ref()?;
        let bollard::errors::Error::DockerResponseServerError { message, .. } = error else {
            return None;
        };
        let lower = message.to_lowercase();
        let about_gpus = ["device driver", "nvidia", "cdi", "gpu"]
            .iter()
            .any(|word| lower.contains(word));
        about_gpus.then(|| RuntimeError::NoGpuRuntime {
            container: config.name.clone(),
            gpus: gpus.to_string(),
            kind: self.endpoint.kind(),
            message: message.clone(),
        })
    }

    /// Stops the container (SIGTERM, then SIGKILL after `grace`) and removes it.
    pub async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.count();
        let stopped = self
            .docker
            .stop_container(
                id,
                Some(StopContainerOptions {
                    t: Some(grace.as_secs().try_into().unwrap_or(i32::MAX)),
                    ..Default::default()
                }),
            )
            .await;
        match stopped {
            Ok(()) => {}
            Err(error) if matches!(status_of(&error), Some(304 | 404)) => {}
            Err(error) => return Err(self.api_error("stopping container", id)(error)),
        }
        self.remove(id).await
    }

    /// Removes the container, running or not; one already gone is fine.
    pub async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.count();
        match self
            .docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            // 404: already gone; 409: removal already in progress (auto-remove).
            Err(error) if matches!(status_of(&error), Some(404 | 409)) => Ok(()),
            Err(error) => Err(self.api_error("removing container", id)(error)),
        }
    }

    async fn inspect(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, RuntimeError> {
        self.count();
        self.docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(self.api_error("inspecting container", id))
    }

    /// Exit code, run time and last output of a container that stopped.
    pub async fn exit_info(&self, id: &str) -> Result<ExitInfo, RuntimeError> {
        let inspect = self.inspect(id).await?;
        let state = inspect.state.unwrap_or_default();
        let ran_for = match (state.started_at.as_deref(), state.finished_at.as_deref()) {
            (Some(started), Some(finished)) => observe::duration_between(started, finished),
            _ => None,
        };
        let last_lines = self.tail(id, CRASH_TAIL_LINES).await.unwrap_or_default();
        Ok(ExitInfo {
            exit_code: state.exit_code.unwrap_or(-1),
            oom_killed: state.oom_killed.unwrap_or(false),
            ran_for,
            last_lines,
        })
    }

    async fn tail(&self, id: &str, lines: usize) -> Result<Vec<String>, RuntimeError> {
        self.count();
        let mut stream = self.docker.logs(
            id,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                tail: lines.to_string(),
                ..Default::default()
            }),
        );
        let mut splitter = observe::LineSplitter::default();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.api_error("reading the output of", id))?;
            out.extend(splitter.push(&chunk).into_iter().map(|line| line.text));
        }
        out.extend(splitter.finish().into_iter().map(|line| line.text));
        let skip = out.len().saturating_sub(lines);
        Ok(out.split_off(skip))
    }

    /// What a running container was given, to decide whether to adopt it as it is.
    pub async fn applied_config(&self, id: &str) -> Result<AppliedConfig, RuntimeError> {
        let inspect = self.inspect(id).await?;
        let config = inspect.config.unwrap_or_default();
        let host = inspect.host_config.unwrap_or_default();
        Ok(AppliedConfig {
            image: config.image.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            binds: host.binds.unwrap_or_default(),
            memory: host.memory.filter(|bytes| *bytes > 0),
            user: config.user.filter(|user| !user.is_empty()),
            port_keys: host.port_bindings.unwrap_or_default().into_keys().collect(),
        })
    }

    /// The container this process runs in, if it runs in one (see [`own_container`] for
    /// how it is found): `ash` puts services on its network and hands its `/storage`
    /// mounts on.
    pub async fn own_container(&self) -> Option<OwnContainer> {
        let by_mount = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|text| container_id_from_mountinfo(&text));
        let by_hostname = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty());
        for candidate in by_mount.into_iter().chain(by_hostname) {
            self.count();
            if let Ok(inspect) = self
                .docker
                .inspect_container(&candidate, None::<InspectContainerOptions>)
                .await
            {
                return Some(OwnContainer::from_inspect(&inspect));
            }
        }
        None
    }

    /// Where this engine's containers reach this machine, so where the services' own API
    /// must listen: for rootless Podman the address it names `host.containers.internal`
    /// ([`rootless_host_address`]), else the gateway of `network`.
    pub async fn services_host_address(
        &self,
        network: &str,
    ) -> Result<std::net::IpAddr, RuntimeError> {
        if self.endpoint.podman && running_as_user() {
            return rootless_host_address(&interface_addresses()).ok_or_else(|| {
                RuntimeError::NoHostAddress {
                    kind: self.endpoint.kind(),
                    cli: "podman",
                    network: network.to_string(),
                }
            });
        }
        self.network_gateway(network).await
    }

    /// Where containers on `network` reach this machine, so where the services' own API
    /// must listen (see [`host_address`] for how it is found).
    pub async fn network_gateway(&self, network: &str) -> Result<std::net::IpAddr, RuntimeError> {
        use bollard::query_parameters::InspectNetworkOptions;
        self.count();
        let inspect = self
            .docker
            .inspect_network(network, None::<InspectNetworkOptions>)
            .await
            .map_err(self.api_error("inspecting network", network))?;
        host_address(&inspect, &interface_addresses()).ok_or_else(|| RuntimeError::NoHostAddress {
            kind: self.endpoint.kind(),
            cli: if self.endpoint.podman {
                "podman"
            } else {
                "docker"
            },
            network: network.to_string(),
        })
    }

    /// Container events of service containers, from [`EVENTS_REPLAY`] ago on: the stream
    /// replays those (marked [`ContainerEvent::replayed`]), then follows.
    pub fn events(
        &self,
    ) -> impl Stream<Item = Result<ContainerEvent, RuntimeError>> + Send + 'static {
        self.count();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let since = now - EVENTS_REPLAY.as_secs() as i64;
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![LABEL_SERVICE_NAME.to_string()]),
        ]);
        let endpoint = self.endpoint.clone();
        self.docker
            .events(Some(EventsOptions {
                since: Some(since.to_string()),
                filters: Some(filters),
                ..Default::default()
            }))
            .map(move |event| match event {
                Ok(EventMessage {
                    action,
                    actor,
                    time,
                    ..
                }) => {
                    let actor = actor.unwrap_or_default();
                    let mut attributes = actor.attributes.unwrap_or_default();
                    Ok(ContainerEvent {
                        action: action.unwrap_or_default(),
                        container_id: actor.id.unwrap_or_default(),
                        service_name: attributes.remove(LABEL_SERVICE_NAME),
                        exit_code: attributes
                            .get("exitCode")
                            .and_then(|code| code.parse().ok()),
                        made_by_ashtray: attributes.contains_key(crate::container::LABEL_SPEC_HASH),
                        name: attributes.remove("name"),
                        image: attributes.remove("image"),
                        spec_hash: attributes.remove(crate::container::LABEL_SPEC_HASH),
                        host: attributes.remove(crate::container::LABEL_HOST),
                        time: time.unwrap_or_default(),
                        replayed: time.is_some_and(|at| at < now),
                    })
                }
                Err(source) => Err(RuntimeError::Unreachable {
                    kind: endpoint.kind(),
                    uri: endpoint.uri.clone(),
                    source,
                }),
            })
    }

    /// Follows a container's output from `from`, line by line, until the container stops
    /// or the engine goes away. Each line carries the engine's stamp, so that a follower
    /// attaching again reads on after the last line read ([`OutputFrom::After`]).
    /// A running container's resource use, one reading about each second, until it stops
    /// (or the stream fails: a reader opens another when it sees the container again).
    pub fn follow_stats(
        &self,
        id: &str,
    ) -> impl Stream<Item = stats::StatsSample> + Send + 'static {
        self.count();
        self.docker
            .stats(
                id,
                Some(bollard::query_parameters::StatsOptions {
                    stream: true,
                    one_shot: false,
                }),
            )
            .take_while(|reading| futures::future::ready(reading.is_ok()))
            .filter_map(|reading| {
                futures::future::ready(reading.ok().as_ref().and_then(stats::sample_of))
            })
    }

    pub fn follow_output(
        &self,
        id: &str,
        from: OutputFrom,
    ) -> impl Stream<Item = OutputLine> + Send + 'static {
        self.count();
        let stream = self.docker.logs(
            id,
            Some(LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                timestamps: true,
                since: from.since_secs(),
                tail: from.tail(),
                ..Default::default()
            }),
        );
        let mut splitter = observe::LineSplitter::default();
        let mut skip = output_mark::SkipRead::new(from);
        stream
            .take_while(|chunk| futures::future::ready(chunk.is_ok()))
            .flat_map(move |chunk| {
                let lines = match chunk {
                    Ok(chunk) => splitter.push(&chunk),
                    Err(_) => Vec::new(),
                };
                let lines: Vec<OutputLine> = lines
                    .into_iter()
                    .filter_map(|line| {
                        let (at, text) = output_mark::split_stamp(&line.text);
                        skip.is_new(at).then(|| OutputLine {
                            stderr: line.stderr,
                            text: text.to_string(),
                            at,
                        })
                    })
                    .collect();
                futures::stream::iter(lines)
            })
    }
}

/// The engine's message without bollard's wrapping of a stream's error ("Docker
/// responded with status code 500: ..." is kept: the status says who refused).
fn engine_words(error: bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerStreamError { error } => error,
        other => other.to_string(),
    }
}

fn status_of(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// What the engine is asked for GPUs: Docker's `DeviceRequests` with the nvidia driver;
/// Podman's CDI devices (`nvidia.com/gpu=all`, `nvidia.com/gpu=0`), which its
/// Docker-compatible API takes as device paths.
fn gpu_request(
    gpus: &Gpus,
    podman: bool,
) -> (Option<Vec<DeviceRequest>>, Option<Vec<DeviceMapping>>) {
    if podman {
        let names: Vec<String> = match gpus {
            Gpus::All | Gpus::Count(_) => vec!["all".to_string()],
            Gpus::Devices(ids) => ids.clone(),
        };
        let devices = names
            .into_iter()
            .map(|name| DeviceMapping {
                path_on_host: Some(format!("nvidia.com/gpu={name}")),
                path_in_container: Some(String::new()),
                cgroup_permissions: Some("rwm".to_string()),
            })
            .collect();
        return (None, Some(devices));
    }
    let (count, device_ids) = match gpus {
        Gpus::All => (Some(-1), None),
        Gpus::Count(count) => (Some(i64::from(*count)), None),
        Gpus::Devices(ids) => (None, Some(ids.clone())),
    };
    let request = DeviceRequest {
        driver: Some("nvidia".to_string()),
        count,
        device_ids,
        capabilities: Some(vec![vec!["gpu".to_string()]]),
        options: None,
    };
    (Some(vec![request]), None)
}

/// The body of the create request for `config` (public so that tests can hand the very
/// same request to an engine and read back what it kept).
pub fn create_body(config: &ContainerConfig, podman: bool) -> ContainerCreateBody {
    let (device_requests, devices) = match &config.gpus {
        Some(gpus) => gpu_request(gpus, podman),
        None => (None, None),
    };
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &config.ports {
        port_bindings
            .entry(port.container_key())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: port.host_ip.clone(),
                host_port: port.host_port.map(|p| p.to_string()),
            });
    }
    let exposed: Vec<String> = port_bindings.keys().cloned().collect();
    ContainerCreateBody {
        image: Some(config.image.clone()),
        hostname: Some(config.hostname.clone()),
        env: Some(config.env.clone()),
        cmd: config.cmd.clone(),
        labels: Some(config.labels.clone().into_iter().collect()),
        user: config.user.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            binds: (!config.binds.is_empty()).then(|| config.binds.clone()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            memory: config.memory,
            network_mode: config.network_mode.clone(),
            extra_hosts: (!config.extra_hosts.is_empty()).then(|| config.extra_hosts.clone()),
            nano_cpus: config.nano_cpus,
            device_requests,
            devices,
            // No restart policy and no auto-remove: ashtray restarts with backoff itself,
            // and keeps an exited container until it has read its exit code and output.
            ..Default::default()
        }),
        ..Default::default()
    }
}
