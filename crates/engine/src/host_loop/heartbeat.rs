//! The server connection: heartbeats one at a time, each in its own task with a timeout,
//! so a slow server never stalls the loop; what state the connection is in; and handing
//! the answer on to become the desired set. It never decides what an answer's services
//! mean for the containers (the plan does).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{now_ms, HostLoop, Metrics};
use crate::ayon::wire::{Health, HeartbeatRequest, HeartbeatResponse};
use crate::ayon::{AyonError, ServerApi};
use crate::health::HealthProbe;
use crate::host_state::{EngineState, ServerConnection, ServerState, ServiceSource};
use crate::reconcile::answer_fingerprint::AnswerFingerprint;
use crate::reconcile::desired::DesiredSet;
use crate::runtime::ContainerStatus;
use crate::spec::Desired;

impl HostLoop {
    pub(super) fn running_services(&self) -> Vec<String> {
        // Before the first answer, label-less containers cannot be placed yet: reported
        // too, so a host switching from ash keeps `isRunning` true (the server ignores
        // names that are not this host's services).
        let unplaced =
            (!self.sources.server_answered()).then_some(&self.container_engine.unclaimed);
        // Local services are not the server's to know about.
        let local = |name: &str| {
            self.desired
                .as_ref()
                .is_some_and(|d| d.source(name) == ServiceSource::Local)
        };
        let mut names: Vec<String> = self
            .container_engine
            .observed
            .iter()
            .chain(unplaced.into_iter().flatten())
            .filter(|c| c.status == ContainerStatus::Running && !local(&c.service_name))
            .map(|c| c.service_name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub(super) fn send_heartbeat(&mut self) {
        // While the container engine is down nothing can be vouched for.
        let services = if self.container_engine.connection.state == EngineState::Up {
            self.running_services()
        } else {
            Vec::new()
        };
        self.server.send(&self.config.hostname, services);
    }

    /// The answer goes on, as a value, to become the desired set; a fault is the
    /// server connection's to keep.
    pub(super) fn on_heartbeat(&mut self, reply: HeartbeatReply) {
        match self.server.on_reply(reply, &self.metrics) {
            Some(answer) => self.take_server_answer(answer),
            None if self.server.connection.state == ServerState::Unreachable => {
                self.server_unreachable()
            }
            None => {}
        }
    }
}

/// Says once when a service's spec becomes invalid, or valid again.
pub(super) fn log_spec_changes(before: Option<&DesiredSet>, answer: &DesiredSet) {
    for item in answer.items() {
        let previous = before.and_then(|set| set.get(item.name()));
        let fix_where = match answer.source(item.name()) {
            ServiceSource::Local => "in the local services file",
            _ => "on the server",
        };
        match item {
            Desired::Invalid(error) if previous != Some(item) => {
                tracing::error!(
                    "{error}; the service is not started until its spec is fixed {fix_where}"
                )
            }
            Desired::NoImage { name } if previous != Some(item) => {
                tracing::warn!(service = %name, "the service has no image: skipped")
            }
            _ => {}
        }
    }
}

/// A heartbeat's answer as its task hands it to the loop: what it asks, as a
/// fingerprint, and its entries unless they repeat the answer the loop holds.
pub(super) struct Answer {
    pub(super) fingerprint: AnswerFingerprint,
    /// `None` when `fingerprint` is the one the loop said it holds
    /// ([`ServerLink::hold`]): the task dropped the repeated JSON, off the loop.
    pub(super) entries: Option<Vec<Value>>,
}

impl Answer {
    /// The answer judged against the fingerprint of the one the loop holds. Done in the
    /// heartbeat's task: the digest walks every entry, and dropping ten thousand
    /// entries' JSON is itself a few milliseconds the loop need not spend.
    pub(super) fn judge(response: HeartbeatResponse, held: Option<AnswerFingerprint>) -> Answer {
        let fingerprint = AnswerFingerprint::of(&response.services);
        let entries = (held != Some(fingerprint)).then_some(response.services);
        Answer {
            fingerprint,
            entries,
        }
    }
}

/// What one heartbeat came to, and how long it took.
pub(super) struct HeartbeatReply {
    result: Result<Answer, AyonError>,
    latency: Duration,
    /// The service user's name, when this heartbeat was the first answered one of a
    /// connection and the server said who the key belongs to.
    user: Option<String>,
}

impl HeartbeatReply {
    /// An answer as the heartbeat's task hands it on, at once (for measuring the loop
    /// alone).
    #[cfg(any(test, feature = "memory-runtime"))]
    pub(super) fn answered(answer: Answer) -> HeartbeatReply {
        HeartbeatReply {
            result: Ok(answer),
            latency: Duration::ZERO,
            user: None,
        }
    }
}

/// The AYON server as the loop sees it.
pub(super) struct ServerLink {
    api: Arc<dyn ServerApi>,
    server_url: String,
    pub(super) connection: ServerConnection,
    /// Whether the last answer is the server's latest word: when it cannot be heard,
    /// nothing is created, stopped or recreated on its behalf.
    pub(super) answer_fresh: bool,
    waiting: bool,
    /// Whether this connection asked who the key belongs to already: once per
    /// connection, not on every tick, even if the server would not say.
    user_asked: bool,
    health_probe: HealthProbe,
    /// The host health sent with the last heartbeat.
    pub(super) health: Health,
    replies: mpsc::UnboundedSender<HeartbeatReply>,
    /// The fingerprint of the server's answer the loop holds (`None` while it holds
    /// none, or the cached one, which a heard answer must always replace). Written by
    /// the loop, read by each heartbeat's task to drop a repeated answer there; one
    /// heartbeat at a time, so it cannot change while a task reads it.
    held: Arc<Mutex<Option<AnswerFingerprint>>>,
}

impl ServerLink {
    pub(super) fn new(
        api: Arc<dyn ServerApi>,
        server_url: &str,
        replies: mpsc::UnboundedSender<HeartbeatReply>,
    ) -> ServerLink {
        ServerLink {
            api,
            server_url: server_url.to_string(),
            connection: ServerConnection {
                state: if server_url.is_empty() {
                    ServerState::NotConfigured
                } else {
                    ServerState::Connecting
                },
                reason: None,
                user: None,
                last_heartbeat_ms: None,
                since_ms: now_ms(),
            },
            answer_fresh: false,
            waiting: false,
            user_asked: false,
            health_probe: HealthProbe::new(),
            health: Health::default(),
            replies,
            held: Arc::default(),
        }
    }

    /// The loop now holds the server's answer of this fingerprint (`None`: none that a
    /// heard answer may repeat).
    pub(super) fn hold(&self, fingerprint: Option<AnswerFingerprint>) {
        *self
            .held
            .lock()
            .expect("the held fingerprint's lock is never poisoned") = fingerprint;
    }

    /// The fingerprint [`ServerLink::hold`] last set.
    #[cfg(any(test, feature = "memory-runtime"))]
    pub(super) fn held(&self) -> Option<AnswerFingerprint> {
        *self
            .held
            .lock()
            .expect("the held fingerprint's lock is never poisoned")
    }

    /// Whether there is a server at all: without one only local services run.
    pub(super) fn configured(&self) -> bool {
        !self.server_url.is_empty()
    }

    pub(super) fn api(&self) -> Arc<dyn ServerApi> {
        self.api.clone()
    }

    /// Sends a heartbeat, unless the last one still waits for its answer.
    fn send(&mut self, hostname: &str, services: Vec<String>) {
        if !self.configured() {
            return;
        }
        if self.waiting {
            tracing::debug!("the previous heartbeat is still waiting for its answer");
            return;
        }
        self.waiting = true;
        self.health = self.health_probe.sample();
        let request = HeartbeatRequest {
            hostname: hostname.to_string(),
            health: self.health,
            services,
        };
        let api = self.api.clone();
        let replies = self.replies.clone();
        let held = self.held.clone();
        // The login happens before the loop starts (or not at all, in the tray until a key
        // is saved); the snapshot shows the user, so the loop asks once it is answered.
        let ask_user = !self.user_asked;
        tokio::spawn(async move {
            let started = Instant::now();
            let result = api.heartbeat(&request).await;
            let latency = started.elapsed();
            let result = result.map(|response| {
                let held = *held
                    .lock()
                    .expect("the held fingerprint's lock is never poisoned");
                Answer::judge(response, held)
            });
            let user = match &result {
                Ok(_) if ask_user => match api.service_user().await {
                    Ok(user) => Some(user),
                    Err(error) => {
                        tracing::debug!(
                            "the server does not say who the API key belongs to: {error}"
                        );
                        None
                    }
                },
                _ => None,
            };
            let _ = replies.send(HeartbeatReply {
                result,
                latency,
                user,
            });
        });
    }

    /// Takes a heartbeat's result: the answer, to be handed on, or `None` after a fault,
    /// whose kind and reason the connection keeps.
    fn on_reply(
        &mut self,
        HeartbeatReply {
            result,
            latency,
            user,
        }: HeartbeatReply,
        metrics: &Metrics,
    ) -> Option<Answer> {
        self.waiting = false;
        let latency_ms = latency.as_millis() as u64;
        metrics
            .last_heartbeat_latency_ms
            .store(latency_ms, Ordering::Relaxed);
        metrics
            .heartbeat_latency_ms_total
            .fetch_add(latency_ms, Ordering::Relaxed);
        let server = &mut self.connection;
        match result {
            Ok(answer) => {
                metrics.heartbeats_ok.fetch_add(1, Ordering::Relaxed);
                if server.state != ServerState::Connected {
                    tracing::info!(server = %self.server_url, "heartbeats are answered");
                    server.state = ServerState::Connected;
                    server.reason = None;
                    server.since_ms = now_ms();
                }
                server.last_heartbeat_ms = Some(now_ms());
                if user.is_some() {
                    server.user = user;
                }
                self.user_asked = true;
                self.answer_fresh = true;
                Some(answer)
            }
            Err(error) => {
                metrics.heartbeats_failed.fetch_add(1, Ordering::Relaxed);
                self.answer_fresh = false;
                let state = match error {
                    AyonError::Unauthorized { .. }
                    | AyonError::NotServiceAccount { .. }
                    | AyonError::Refused { status: 403, .. } => ServerState::Unauthorized,
                    _ => ServerState::Unreachable,
                };
                let reason = error.to_string();
                if state == ServerState::Unauthorized {
                    // The key was changed or revoked: whoever it was is not logged in now.
                    server.user = None;
                    self.user_asked = false;
                }
                if server.state != state || server.reason.as_deref() != Some(&reason) {
                    tracing::warn!("heartbeat failed: {reason}; services are left as they are until the server answers");
                    server.since_ms = now_ms();
                }
                server.state = state;
                server.reason = Some(reason);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::entry;

    fn response(services: Vec<Value>) -> HeartbeatResponse {
        HeartbeatResponse { services }
    }

    #[test]
    fn the_task_drops_an_answer_that_repeats_the_one_held_and_hands_on_any_other() {
        let first = Answer::judge(response(vec![entry("a", "img:1")]), None);
        assert!(
            first.entries.is_some(),
            "nothing held: the whole answer goes on"
        );
        let held = Some(first.fingerprint);
        let mut seen = entry("a", "img:1");
        seen["isRunning"] = serde_json::json!(true);
        let again = Answer::judge(response(vec![seen]), held);
        assert_eq!(again.fingerprint, first.fingerprint);
        assert!(again.entries.is_none(), "a repeat is dropped in the task");
        let changed = Answer::judge(response(vec![entry("a", "img:2")]), held);
        assert_ne!(changed.fingerprint, first.fingerprint);
        assert_eq!(changed.entries.map(|e| e.len()), Some(1));
    }
}
