//! Handing planned actions to the executor (bounded by a semaphore) and taking in what
//! came of them, and of the containers that died on their own.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{short, HostLoop};
use crate::history::HistoryKind;
use crate::host_state::now_ms;
use crate::reconcile::executor::{execute, ActionSettings, Adoption, Outcome};
use crate::reconcile::plan::{Action, RemoveReason};
use crate::runtime::ContainerEvent;

impl HostLoop {
    pub(super) fn dispatch(&mut self, action: Action) {
        let service = action.service().to_string();
        let starting = match &action {
            Action::Create { config, .. } => {
                tracing::info!(service = %service, image = %config.image, container = %config.name, "starting");
                true
            }
            Action::Recreate { config, reason, .. } => {
                tracing::info!(service = %service, image = %config.image, ?reason, "recreating");
                true
            }
            Action::Restart { .. } => {
                tracing::info!(service = %service, "restarting after its backoff");
                true
            }
            Action::Remove {
                reason,
                container_id,
                ..
            } => {
                let why = match reason {
                    RemoveReason::Orphan => "the server no longer wants it on this host",
                    RemoveReason::DeletedOnServer => {
                        "the server no longer has this service (a container started by ash)"
                    }
                    RemoveReason::StoppedOnServer => {
                        "the server has it on this host with shouldRun false (a container started by ash)"
                    }
                    RemoveReason::Paused => "it is stopped on this host",
                    RemoveReason::Duplicate => "a second container of the same service",
                };
                tracing::info!(service = %service, container = %short(container_id), "stopping: {why}");
                false
            }
            Action::RecordExit { .. } | Action::Inspect { .. } => false,
        };
        self.book.begin(&service, starting);
        let runtime = self
            .container_engine
            .runtime
            .clone()
            .expect("reconcile runs only when connected");
        let semaphore = if matches!(action, Action::Remove { .. }) {
            self.stop_semaphore.clone()
        } else {
            self.semaphore.clone()
        };
        let outcomes = self.outcomes_tx.clone();
        let pulls = self.pulls_tx.clone();
        let how = ActionSettings {
            grace: self.config.stop_grace,
            pull_policy: self.config.pull_policy,
            on_pull: std::sync::Arc::new(move |progress| {
                let _ = pulls.send((service.clone(), progress));
            }),
            registry_auth: self.config.registry_auth,
        };
        tokio::spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let _ = outcomes.send(execute(runtime.as_ref(), action, &how).await);
        });
    }

    pub(super) fn on_outcome(&mut self, outcome: Outcome) {
        let service = outcome.service().to_string();
        let changed = outcome.changed_containers();
        self.book.finish(&service, changed);
        // The next look confirms what the action did. An action that only read changed
        // nothing to look at: the plan goes on from what was listed (a crashed service's
        // restart follows the reading of its exit without another list).
        // It lists: the events of what the action did may still be on their way, and a
        // look at the kept set before they come would not show it.
        if changed || outcome.engine_down().is_some() {
            if changed {
                self.container_engine.forget_kept();
            }
            self.observe_soon(Duration::ZERO);
        }
        // The engine going away is not the service's fault: no backoff, no error of its
        // own; the loop waits for the engine and plans again once it is back.
        if let Some(error) = outcome.engine_down() {
            tracing::warn!(service = %service, "the container engine went away during an action: {error}");
            self.container_engine_down(error);
            return;
        }
        let now = Instant::now();
        let book = &mut self.book;
        let record = book.records.entry(service.clone()).or_default();
        match outcome {
            Outcome::Started {
                container_id,
                replaced,
                ..
            } => {
                record.last_error = None;
                if let Some(why) = replaced {
                    record.history.push(
                        now_ms(),
                        HistoryKind::Restarted,
                        format!("recreated: {why}"),
                    );
                    record.restarts += 1;
                    record.last_restart_reason = Some(why);
                    self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(service = %service, container = %short(&container_id), "restarted: {why}");
                } else {
                    record
                        .history
                        .push(now_ms(), HistoryKind::Started, "started");
                    tracing::info!(service = %service, container = %short(&container_id), "started");
                }
                book.started_by_us.insert(container_id);
            }
            Outcome::StartFailed { error, .. } => {
                let delay = record.backoff.record_failure(now, None);
                tracing::error!(service = %service, "could not start: {error}; next try in {} s", delay.as_secs());
                record.last_error = Some(error.to_string());
                record.history.push(
                    now_ms(),
                    HistoryKind::StartFailed,
                    format!("could not start: {error}"),
                );
            }
            Outcome::Removed { .. } => {
                record
                    .history
                    .push(now_ms(), HistoryKind::Stopped, "stopped and removed");
                tracing::info!(service = %service, "stopped")
            }
            Outcome::RemoveFailed { error, .. } => {
                tracing::error!(service = %service, "could not stop: {error}");
                record.history.push(
                    now_ms(),
                    HistoryKind::StopFailed,
                    format!("could not stop: {error}"),
                );
                record.last_error = Some(error.to_string());
            }
            Outcome::ExitRecorded {
                container_id, exit, ..
            } => {
                book.exits_recorded.insert(container_id);
                match exit {
                    Ok(exit) => {
                        let delay = record.backoff.record_failure(now, exit.ran_for);
                        let message = exit_words(exit.exit_code, exit.oom_killed);
                        tracing::warn!(
                            service = %service,
                            exit_code = exit.exit_code,
                            "{message}; restarting in {} s{}",
                            delay.as_secs(),
                            if record.backoff.crash_looping() { " (crash loop)" } else { "" }
                        );
                        record.last_exit_code = Some(exit.exit_code);
                        record.last_exit_oom_killed = exit.oom_killed;
                        record
                            .history
                            .push(now_ms(), HistoryKind::Exited, message.clone());
                        record.last_output = exit.last_lines;
                        record.last_error = Some(message);
                    }
                    Err(error) => {
                        record.backoff.record_failure(now, None);
                        tracing::warn!(service = %service, "exited; its exit code cannot be read: {error}");
                    }
                }
            }
            Outcome::Inspected {
                container_id,
                result,
                ..
            } => match result {
                Ok(adoption) => {
                    match adoption {
                        Adoption::Matches { .. } => {
                            tracing::info!(service = %service, container = %short(&container_id), "adopted a running container started by ash: its setup matches")
                        }
                        Adoption::Differs => {
                            tracing::info!(service = %service, container = %short(&container_id), "a container started by ash differs from the server's spec: replacing it")
                        }
                    }
                    book.adoptions.insert(container_id, adoption);
                }
                Err(error) => {
                    tracing::warn!(service = %service, "cannot inspect {}: {error}", short(&container_id))
                }
            },
        }
    }

    /// A container `ash` started has auto-remove: once it dies it is gone before it can
    /// be inspected, so its exit is taken from the event and its output from the
    /// LogHub. Ours are kept until their exit is read ([`Action::RecordExit`]).
    pub(super) fn on_container_event(&mut self, event: ContainerEvent) {
        self.book
            .container_event(&event.action, &event.container_id);
        let (Some(service), Some(exit_code)) = (event.service_name, event.exit_code) else {
            return;
        };
        if event.action != "die"
            || event.made_by_ashtray
            || self.book.in_flight.contains_key(&service)
        {
            return;
        }
        // Another host's ash container dying is that host's business.
        let ours = self
            .desired
            .as_ref()
            .is_some_and(|d| d.get(&service).is_some());
        if !ours {
            return;
        }
        let record = self.book.record(&service);
        let delay = record.backoff.record_failure(Instant::now(), None);
        record.last_exit_code = Some(exit_code);
        // An event says nothing of memory; the container is gone before an inspect.
        record.last_exit_oom_killed = false;
        record.history.push(
            now_ms(),
            HistoryKind::Exited,
            format!("exited with code {exit_code}"),
        );
        record.last_output = self
            .logs
            .tail(&service, crate::runtime::CRASH_TAIL_LINES)
            .iter()
            .map(|line| line.text.clone())
            .collect();
        record.last_error = Some(format!("exited with code {exit_code}"));
        tracing::warn!(
            service = %service,
            exit_code,
            container = %short(&event.container_id),
            "exited with code {exit_code} (a container started by ash); restarting in {} s",
            delay.as_secs()
        );
    }
}

/// An exit in words: a code above 128 names the signal that ended the process (137 is
/// SIGKILL); "OOM-killed" only when the engine's inspect says the kernel killed it for
/// memory (`State.OOMKilled`), since a SIGKILL alone may come from anyone.
pub(super) fn exit_words(code: i64, oom_killed: bool) -> String {
    let signal = match code - 128 {
        1 => Some("SIGHUP"),
        2 => Some("SIGINT"),
        3 => Some("SIGQUIT"),
        6 => Some("SIGABRT"),
        9 => Some("SIGKILL"),
        11 => Some("SIGSEGV"),
        13 => Some("SIGPIPE"),
        15 => Some("SIGTERM"),
        _ => None,
    };
    match (oom_killed, signal) {
        (true, _) => format!("exited with code {code} (OOM-killed: out of memory)"),
        (false, Some(signal)) => format!("exited with code {code} ({signal})"),
        (false, None) => format!("exited with code {code}"),
    }
}

#[cfg(test)]
mod exit_words_tests {
    use super::exit_words;

    #[test]
    fn an_exit_names_its_signal_and_oom_only_on_the_engines_word() {
        assert_eq!(exit_words(3, false), "exited with code 3");
        assert_eq!(exit_words(137, false), "exited with code 137 (SIGKILL)");
        assert_eq!(exit_words(143, false), "exited with code 143 (SIGTERM)");
        assert_eq!(
            exit_words(137, true),
            "exited with code 137 (OOM-killed: out of memory)"
        );
    }
}
