//! The snapshot of the host the engine publishes after every change: what each service
//! is, derived from what the server wants, what runs, what is under way and what the
//! user decided here.

use std::collections::HashMap;

use tokio::time::Instant;

use super::HostLoop;
use crate::host_state::{
    DesiredState, HostHealth, HostState, ServiceState, ServiceView, UnclaimedView,
};
use crate::reconcile::ownership::verdict;
use crate::runtime::{ContainerStatus, ObservedContainer};
use crate::spec::Desired;

impl HostLoop {
    pub(super) fn snapshot(&self) -> HostState {
        let now = Instant::now();
        let desired: HashMap<&str, &Desired> = self
            .desired
            .iter()
            .flat_map(|set| set.items())
            .map(|d| (d.name(), d))
            .collect();
        let mut names: std::collections::BTreeSet<&str> = desired.keys().copied().collect();
        names.extend(
            self.container_engine
                .observed
                .iter()
                .map(|c| c.service_name.as_str()),
        );
        names.extend(self.book.in_flight.keys().map(String::as_str));
        let mut services = Vec::new();
        for name in names {
            let item = desired.get(name).copied();
            let containers: Vec<&ObservedContainer> = self
                .container_engine
                .observed
                .iter()
                .filter(|c| c.service_name == name)
                .collect();
            let keeper = containers
                .iter()
                .find(|c| c.status == ContainerStatus::Running)
                .or_else(|| containers.first())
                .copied();
            let record = self.book.records.get(name);
            let stopped_locally =
                self.local_stops.paused_all || self.local_stops.stopped.contains(name);
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
            let state = service_state(&ServiceFacts {
                in_flight: self.book.in_flight.get(name).map(|f| f.starting),
                desired: desired_state,
                stopped_locally,
                container: keeper.map(|k| k.status),
                crash_looping,
                waiting: waiting.is_some(),
                failed_before: record.is_some_and(|r| r.last_error.is_some()),
            });
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
        let paused = self.local_stops.paused_all;
        HostState {
            hostname: self.config.hostname.clone(),
            server_url: self.config.server_url.clone(),
            server: self.server.connection.clone(),
            engine: self.container_engine.connection.clone(),
            health: HostHealth {
                cpu: self.server.health.cpu,
                mem: self.server.health.mem,
            },
            paused,
            overall: HostState::overall_of(
                self.server.connection.state,
                self.container_engine.connection.state,
                paused,
                &services,
            ),
            services,
            problems: self
                .desired
                .as_ref()
                .map_or_else(Vec::new, |set| set.problems().to_vec()),
            unclaimed: self
                .container_engine
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
                .flat_map(|set| set.specs())
                .map(|spec| (spec.name.clone(), spec.clone()))
                .collect(),
        }
    }
}

/// What the snapshot knows of one service, to say what state it is in.
#[derive(Debug, Clone, Copy)]
struct ServiceFacts {
    /// An action under way: `Some(true)` when one of them starts a container.
    in_flight: Option<bool>,
    desired: DesiredState,
    /// Stopped on this host, or everything paused (whatever the server's spec says).
    stopped_locally: bool,
    /// The status of the container that counts (running first), if there is one.
    container: Option<ContainerStatus>,
    crash_looping: bool,
    /// Waiting out a backoff.
    waiting: bool,
    /// Its last attempt left an error.
    failed_before: bool,
}

/// The one word the tray, the page and the CLI show for a service. Pure: a table test
/// below covers each row.
fn service_state(f: &ServiceFacts) -> ServiceState {
    use ContainerStatus as C;
    match (f.in_flight, f.container) {
        (Some(true), _) => ServiceState::Starting,
        (Some(false), Some(C::Running))
            if f.stopped_locally || f.desired == DesiredState::NotWanted =>
        {
            ServiceState::Stopping
        }
        _ if f.desired == DesiredState::Invalid => ServiceState::Failed,
        _ if f.desired == DesiredState::NoImage => ServiceState::Skipped,
        (_, Some(C::Running)) if f.stopped_locally => ServiceState::Stopping,
        (_, Some(C::Running)) => ServiceState::Running,
        (_, Some(C::Starting)) => ServiceState::Starting,
        (_, Some(_)) if f.stopped_locally => ServiceState::Stopping,
        (_, Some(_)) if f.crash_looping => ServiceState::CrashLooping,
        (_, Some(_)) => ServiceState::Waiting,
        (_, None) if f.stopped_locally => ServiceState::Stopped,
        (_, None) if f.waiting && f.crash_looping => ServiceState::CrashLooping,
        (_, None) if f.waiting && f.failed_before => ServiceState::Failed,
        (_, None) => ServiceState::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerStatus as C;
    use DesiredState as D;
    use ServiceState as S;

    #[test]
    fn each_combination_of_facts_names_one_state() {
        let base = ServiceFacts {
            in_flight: None,
            desired: D::Run,
            stopped_locally: false,
            container: None,
            crash_looping: false,
            waiting: false,
            failed_before: false,
        };
        #[rustfmt::skip]
        let table: Vec<(&str, ServiceFacts, ServiceState)> = vec![
            ("nothing yet", base, S::Pending),
            ("a start under way", ServiceFacts { in_flight: Some(true), container: Some(C::Running), ..base }, S::Starting),
            ("a stop under way here", ServiceFacts { in_flight: Some(false), stopped_locally: true, container: Some(C::Running), ..base }, S::Stopping),
            ("a stop of one not wanted", ServiceFacts { in_flight: Some(false), desired: D::NotWanted, container: Some(C::Running), ..base }, S::Stopping),
            ("an inspection of a running one", ServiceFacts { in_flight: Some(false), container: Some(C::Running), ..base }, S::Running),
            ("an invalid spec, whatever runs", ServiceFacts { desired: D::Invalid, container: Some(C::Running), ..base }, S::Failed),
            ("no image", ServiceFacts { desired: D::NoImage, ..base }, S::Skipped),
            ("running", ServiceFacts { container: Some(C::Running), ..base }, S::Running),
            ("running but stopped here", ServiceFacts { stopped_locally: true, container: Some(C::Running), ..base }, S::Stopping),
            ("created", ServiceFacts { container: Some(C::Starting), ..base }, S::Starting),
            ("exited, stopped here", ServiceFacts { stopped_locally: true, container: Some(C::Exited), ..base }, S::Stopping),
            ("exited, crash-looping", ServiceFacts { crash_looping: true, container: Some(C::Exited), ..base }, S::CrashLooping),
            ("exited, waiting", ServiceFacts { container: Some(C::Exited), ..base }, S::Waiting),
            ("gone, stopped here", ServiceFacts { stopped_locally: true, ..base }, S::Stopped),
            ("gone, crash-looping", ServiceFacts { waiting: true, crash_looping: true, ..base }, S::CrashLooping),
            ("a start failed, waiting", ServiceFacts { waiting: true, failed_before: true, ..base }, S::Failed),
            ("an old error, not waiting", ServiceFacts { failed_before: true, ..base }, S::Pending),
        ];
        for (case, facts, expected) in table {
            assert_eq!(service_state(&facts), expected, "{case}: {facts:?}");
        }
    }
}
