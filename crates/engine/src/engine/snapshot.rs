//! The snapshot of the host the engine publishes after every change: what each service
//! is, derived from what the server wants, what runs, what is under way and what the
//! user decided here.

use std::collections::HashMap;

use tokio::time::Instant;

use super::Engine;
use crate::host_state::{
    DesiredState, HostHealth, HostState, ServiceState, ServiceView, UnclaimedView,
};
use crate::reconcile::ownership::verdict;
use crate::runtime::{ContainerStatus, ObservedContainer};
use crate::spec::Desired;

impl Engine {
    pub(super) fn snapshot(&self) -> HostState {
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
                last_restart_reason: record
                    .and_then(|r| r.last_restart_reason)
                    .map(|reason| reason.to_string()),
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
            unclaimed: self
                .unclaimed
                .iter()
                .map(|container| {
                    let verdict = verdict(
                        container,
                        self.me(),
                        self.desired.is_some(),
                        self.catalog.list(),
                        self.catalog.failure(),
                    );
                    UnclaimedView {
                        service: container.service_name.clone(),
                        container_id: container.id.clone(),
                        container_name: container.name.clone(),
                        owner_host: verdict.owner_host().map(String::from),
                        removing: verdict.removes(),
                        reason: verdict.to_string(),
                    }
                })
                .collect(),
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
}
