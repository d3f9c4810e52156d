//! Heartbeats: one at a time, in its own task with a timeout, so a slow server never
//! stalls the loop; and what the engine learns from the answer (or its absence).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{now_ms, HostLoop};
use crate::ayon::wire::{HeartbeatRequest, HeartbeatResponse};
use crate::ayon::AyonError;
use crate::host_state::{EngineState, ServerState};
use crate::reconcile::desired::DesiredSet;
use crate::runtime::ContainerStatus;
use crate::spec::Desired;

impl HostLoop {
    pub(super) fn running_services(&self) -> Vec<String> {
        // Before the first answer, label-less containers cannot be placed yet: reported
        // too, so a host switching from ash keeps `isRunning` true (the server ignores
        // names that are not this host's services).
        let unplaced = self.desired.is_none().then_some(&self.unclaimed);
        let mut names: Vec<String> = self
            .observed
            .iter()
            .chain(unplaced.into_iter().flatten())
            .filter(|c| c.status == ContainerStatus::Running)
            .map(|c| c.service_name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub(super) fn send_heartbeat(&mut self) {
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
            services: if self.container_engine.state == EngineState::Up {
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

    pub(super) fn on_heartbeat(
        &mut self,
        result: Result<HeartbeatResponse, AyonError>,
        latency: Duration,
    ) {
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
                let answer = DesiredSet::from_answer(&answer.services, &self.host);
                self.take_answer(answer);
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

    /// A new answer replaces the last one, and decides again which label-less
    /// containers are this host's.
    fn take_answer(&mut self, answer: DesiredSet) {
        let before = self.desired.as_ref();
        if before.map_or(&[][..], DesiredSet::problems) != answer.problems() {
            for problem in answer.problems() {
                tracing::warn!("{problem}");
            }
        }
        log_spec_changes(before, &answer);
        self.desired = Some(answer);
        self.answer_fresh = true;
        let containers: Vec<_> = std::mem::take(&mut self.observed)
            .into_iter()
            .chain(std::mem::take(&mut self.unclaimed))
            .collect();
        self.place(containers);
    }
}

/// Says once when a service's spec becomes invalid, or valid again.
fn log_spec_changes(before: Option<&DesiredSet>, answer: &DesiredSet) {
    for item in answer.items() {
        let previous = before.and_then(|set| set.get(item.name()));
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
