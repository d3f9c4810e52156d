//! The container-engine connection: connecting (and reconnecting), the one list call per
//! look, sorting what is listed into this host's and unclaimed containers, the engine-down
//! path, and a follower per running container feeding the LogHub. It never decides what
//! to do with a container (the plan does) and never keeps another host's.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use tokio::time::Instant;

use super::{EventStream, HostLoop};
use crate::host_state::EngineState;
use crate::reconcile::ownership::{claim, Claim};
use crate::runtime::{ContainerRuntime, ContainerStatus, ObservedContainer, RuntimeError};

impl HostLoop {
    pub(super) async fn connect(&mut self) -> bool {
        if self.runtime.is_some() {
            return true;
        }
        match self.connector.connect().await {
            Ok(runtime) => {
                if self.config.network.is_none() && self.config.network_mode.is_none() {
                    if let Some(network) = runtime.own_network().await {
                        tracing::info!(
                            network,
                            "services join this container's network, as ash does"
                        );
                        self.host.network_mode = Some(network);
                        self.desired = self.desired.take().map(|set| set.for_host(&self.host));
                    }
                }
                self.container_engine.version = runtime.version().await.ok();
                self.runtime = Some(runtime);
                true
            }
            Err(error) => {
                self.container_engine_down(&error);
                false
            }
        }
    }

    pub(super) fn container_engine_down(&mut self, error: &RuntimeError) {
        if self.container_engine.state != EngineState::Down {
            tracing::error!("{error}");
        }
        self.container_engine.state = EngineState::Down;
        self.container_engine.reason = Some(error.to_string());
        self.observed.clear();
        self.unclaimed.clear();
    }

    /// One engine call: the list of this host's service containers.
    pub(super) async fn observe(&mut self, events: &mut Option<EventStream>) {
        self.observe_at = None;
        if !self.connect().await {
            return;
        }
        let runtime = self.runtime.clone().expect("connected above");
        match runtime.list_service_containers().await {
            Ok(containers) => {
                if self.container_engine.state != EngineState::Up {
                    if self.container_engine.state == EngineState::Down {
                        tracing::info!(engine = %self.config.endpoint.uri, "the container engine is back");
                        self.container_engine.version = runtime.version().await.ok();
                    }
                    self.container_engine.state = EngineState::Up;
                    self.container_engine.reason = None;
                }
                self.place(containers);
                self.book.observed(&self.observed, Instant::now());
                self.follow_outputs(runtime.as_ref());
                if events.is_none() {
                    *events = Some(runtime.events());
                }
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

    /// Sorts the engine's service containers into this host's own and the unclaimed
    /// ones ([`crate::reconcile::ownership::claim`]); another ashtray host's are dropped.
    /// Done again whenever the answer changes: it decides which label-less ones are ours.
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
        self.observed = ours;
        self.unclaimed = unclaimed;
    }

    /// One follower per running container feeds the LogHub (and the daemon's log).
    pub(super) fn follow_outputs(&mut self, runtime: &dyn ContainerRuntime) {
        self.followers.retain(|_, task| !task.is_finished());
        for container in &self.observed {
            if container.status != ContainerStatus::Running
                || self.followers.contains_key(&container.id)
            {
                continue;
            }
            // Ours from their first line; adopted ones from their recent past.
            let tail = if self.book.started_by_us.remove(&container.id) {
                None
            } else {
                Some(100)
            };
            let mut output = runtime.follow_output(&container.id, tail);
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
}
