//! What the engine does with a command from the Handle: stop, start or restart a
//! service on this host, pause everything, or take a service's own status report.

use super::handle::{Command, CommandError, ServiceDetails};
use super::{now_ms, HostLoop};
use crate::runtime::ContainerStatus;
use crate::spec::Desired;

impl HostLoop {
    fn knows(&self, name: &str) -> bool {
        self.desired.as_ref().is_some_and(|d| d.get(name).is_some())
            || self
                .container_engine
                .observed
                .iter()
                .any(|c| c.service_name == name)
    }

    pub(super) fn on_command(&mut self, command: Command) {
        let (reply, result) = match command {
            Command::Stop(name, reply) => {
                let result = if !self.knows(&name) && !self.local_stops.stopped.contains(&name) {
                    Err(CommandError::UnknownService(name))
                } else {
                    tracing::info!(service = %name, "stopped on this host by request");
                    self.local_stops.stopped.insert(name);
                    self.local_stops
                        .save(&self.local_stops_path)
                        .map_err(CommandError::from)
                };
                (reply, result)
            }
            Command::Start(name, reply) => {
                let result = if !self.knows(&name) && !self.local_stops.stopped.contains(&name) {
                    Err(CommandError::UnknownService(name))
                } else {
                    tracing::info!(service = %name, "started on this host by request");
                    self.local_stops.stopped.remove(&name);
                    if let Some(record) = self.book.records.get_mut(&name) {
                        record.backoff.reset();
                    }
                    self.local_stops
                        .save(&self.local_stops_path)
                        .map_err(CommandError::from)
                };
                (reply, result)
            }
            Command::Restart(name, reply) => {
                let result = if !self.knows(&name) {
                    Err(CommandError::UnknownService(name))
                } else if self.local_stops.paused_all || self.local_stops.stopped.contains(&name) {
                    Err(CommandError::StoppedLocally(name))
                } else {
                    tracing::info!(service = %name, "restart requested");
                    if let Some(record) = self.book.records.get_mut(&name) {
                        record.backoff.reset();
                    }
                    self.book.restart_requested.insert(name);
                    Ok(())
                };
                (reply, result)
            }
            Command::PauseAll(paused, reply) => {
                tracing::info!(paused, "pause all");
                self.local_stops.paused_all = paused;
                (
                    reply,
                    self.local_stops
                        .save(&self.local_stops_path)
                        .map_err(CommandError::from),
                )
            }
            Command::Spec(name, reply) => {
                let spec = match self.desired.as_ref().and_then(|set| set.get(&name)) {
                    Some(Desired::Run(spec)) => Some(spec.as_ref().clone()),
                    _ => None,
                };
                let _ = reply.send(spec);
                return;
            }
            Command::Details(name, reply) => {
                let _ = reply.send(self.details(&name));
                return;
            }
            Command::ReportStatus(name, mut status, reply) => {
                status.at_ms = now_ms();
                self.book.record(&name).reported = Some(status);
                (reply, Ok(()))
            }
        };
        // Answered once the snapshot shows what the command did: whoever asked reads
        // its own change in the next `GET /host` (see `HostLoop::run`).
        self.answer_after_publish.push((reply, result));
    }
}

impl HostLoop {
    fn details(&self, name: &str) -> ServiceDetails {
        let spec = match self.desired.as_ref().and_then(|set| set.get(name)) {
            Some(Desired::Run(spec)) => Some(spec.as_ref().clone()),
            _ => None,
        };
        let containers = || {
            self.container_engine
                .observed
                .iter()
                .filter(|c| c.service_name == name)
        };
        let keeper = containers()
            .find(|c| c.status == ContainerStatus::Running)
            .or_else(|| containers().max_by_key(|c| c.created));
        ServiceDetails {
            spec,
            image_id: keeper.and_then(|c| c.image_id.clone()),
            history: self
                .book
                .records
                .get(name)
                .map(|r| r.history.entries())
                .unwrap_or_default(),
        }
    }
}
