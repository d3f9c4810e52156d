//! The container engine, Docker or Podman, through bollard. Podman serves the same API on
//! its own socket, so one implementation serves both.
//!
//! This module only translates: it decides nothing about which container should run.
//! Every request is counted, so a benchmark can show how many calls a tick costs.

mod container_runtime;
mod gateway;
#[cfg(any(test, feature = "memory-runtime"))]
pub mod memory;
mod observe;
mod output_mark;
pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, EventMessage, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, InspectContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::{Stream, StreamExt};

use crate::container::{AppliedConfig, ContainerConfig, LABEL_SERVICE_NAME};

pub use container_runtime::{Connect, ContainerRuntime};
pub use gateway::{host_address, interface_addresses, InterfaceAddress, BRIDGE_NAME_OPTION};
pub use observe::{ContainerStatus, ObservedContainer};
pub use output_mark::{OutputFrom, ReadMark};

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
    #[error("image {image:?} is not on this host and could not be pulled: {reason}")]
    ImageMissing { image: String, reason: String },
    #[error("the {kind} network {network:?} shows no address of this machine (no address on its bridge interface, no gateway, no IPv4 subnet): see what `{cli} network inspect {network}` shows")]
    NoHostAddress {
        kind: &'static str,
        cli: &'static str,
        network: String,
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
            RuntimeError::ImageMissing { .. } | RuntimeError::NoHostAddress { .. } => false,
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
}

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

    /// Creates and starts the container. A leftover container with the same name (one
    /// that exited, or a stranger) is removed first: the name belongs to the service.
    pub async fn create_and_start(&self, config: &ContainerConfig) -> Result<String, RuntimeError> {
        let body = create_body(config);
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
                self.pull(&config.image).await?;
                self.count();
                self.docker
                    .create_container(Some(options), body)
                    .await
                    .map_err(self.api_error("creating container", &config.name))?
            }
            Err(error) => return Err(self.api_error("creating container", &config.name)(error)),
        };
        self.count();
        if let Err(error) = self.docker.start_container(&created.id, None).await {
            // Do not leave a created-but-never-started container behind.
            let _ = self.remove(&created.id).await;
            return Err(self.api_error("starting container", &config.name)(error));
        }
        Ok(created.id)
    }

    async fn pull(&self, image: &str) -> Result<(), RuntimeError> {
        use bollard::query_parameters::CreateImageOptions;
        self.count();
        let mut progress = self.docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(image.to_string()),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(step) = progress.next().await {
            if let Err(error) = step {
                return Err(RuntimeError::ImageMissing {
                    image: image.to_string(),
                    reason: error.to_string(),
                });
            }
        }
        Ok(())
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

    /// The first network of the container this process runs in, if it runs in one (the
    /// engine knows a container by its hostname): `ash` puts services there by default.
    pub async fn own_network(&self) -> Option<String> {
        let hostname = std::fs::read_to_string("/etc/hostname").ok()?;
        self.count();
        let inspect = self
            .docker
            .inspect_container(hostname.trim(), None::<InspectContainerOptions>)
            .await
            .ok()?;
        let networks = inspect.network_settings?.networks?;
        let mut names: Vec<String> = networks.into_keys().collect();
        names.sort();
        names.into_iter().next()
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

    /// Container events of service containers, to wake the loop early.
    pub fn events(
        &self,
    ) -> impl Stream<Item = Result<ContainerEvent, RuntimeError>> + Send + 'static {
        self.count();
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![LABEL_SERVICE_NAME.to_string()]),
        ]);
        let endpoint = self.endpoint.clone();
        self.docker
            .events(Some(EventsOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .map(move |event| match event {
                Ok(EventMessage { action, actor, .. }) => {
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

fn status_of(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn create_body(config: &ContainerConfig) -> ContainerCreateBody {
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
            // No restart policy and no auto-remove: ashtray restarts with backoff itself,
            // and keeps an exited container until it has read its exit code and output.
            ..Default::default()
        }),
        ..Default::default()
    }
}
