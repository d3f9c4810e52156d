//! Reading what the engine reports: container summaries and output bytes.

use std::time::{Duration, SystemTime};

use bollard::container::LogOutput;
use bollard::models::{
    ContainerSummary, ContainerSummaryHealthStatusEnum, ContainerSummaryStateEnum,
};

use super::OutputLine;
use crate::container::{LABEL_HOST, LABEL_SERVICE_NAME, LABEL_SPEC_HASH};
use crate::host_state::ContainerHealth;

/// One service container as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub service_name: String,
    /// `io.ashtray.spec_hash`; `None` for a container `ash` started.
    pub spec_hash: Option<String>,
    /// `io.ashtray.host`; `None` for a container `ash` started.
    pub host: Option<String>,
    pub image: String,
    /// The id of the image it was created from (`sha256:…`), when the engine says.
    pub image_id: Option<String>,
    pub status: ContainerStatus,
    /// Unix seconds.
    pub created: i64,
    /// Its HEALTHCHECK's verdict, for an image that has one.
    pub health: Option<ContainerHealth>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStatus {
    Running,
    /// Created or restarting: on its way up.
    Starting,
    /// Exited or dead: it stopped by itself or was stopped.
    Exited,
    /// Paused, being removed, or a state this version does not know.
    Other,
}

impl ObservedContainer {
    pub(super) fn from_summary(summary: ContainerSummary) -> Option<ObservedContainer> {
        let labels = summary.labels.unwrap_or_default();
        let service_name = labels.get(LABEL_SERVICE_NAME)?.clone();
        let status = match summary.state {
            Some(ContainerSummaryStateEnum::RUNNING) => ContainerStatus::Running,
            Some(ContainerSummaryStateEnum::CREATED | ContainerSummaryStateEnum::RESTARTING) => {
                ContainerStatus::Starting
            }
            Some(ContainerSummaryStateEnum::EXITED | ContainerSummaryStateEnum::DEAD) => {
                ContainerStatus::Exited
            }
            _ => ContainerStatus::Other,
        };
        let health = summary
            .health
            .and_then(|health| health.status)
            .and_then(|status| match status {
                ContainerSummaryHealthStatusEnum::STARTING => Some(ContainerHealth::Starting),
                ContainerSummaryHealthStatusEnum::HEALTHY => Some(ContainerHealth::Healthy),
                ContainerSummaryHealthStatusEnum::UNHEALTHY => Some(ContainerHealth::Unhealthy),
                _ => None,
            })
            .or_else(|| summary.status.as_deref().and_then(health_in_status));
        Some(ObservedContainer {
            health,
            id: summary.id?,
            name: summary
                .names
                .and_then(|names| names.into_iter().next())
                .map(|name| name.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            service_name,
            spec_hash: labels.get(LABEL_SPEC_HASH).cloned(),
            host: labels.get(LABEL_HOST).cloned(),
            image: summary.image.unwrap_or_default(),
            image_id: summary.image_id.filter(|id| !id.is_empty()),
            status,
            created: summary.created.unwrap_or_default(),
        })
    }
}

/// The health an engine older than API 1.52 (no `Health` in the list) writes at the end
/// of the status text: `Up 5 minutes (healthy)`, `Up 3 seconds (health: starting)`.
fn health_in_status(status: &str) -> Option<ContainerHealth> {
    if status.ends_with("(healthy)") {
        Some(ContainerHealth::Healthy)
    } else if status.ends_with("(unhealthy)") {
        Some(ContainerHealth::Unhealthy)
    } else if status.ends_with("(health: starting)") {
        Some(ContainerHealth::Starting)
    } else {
        None
    }
}

/// Time between two RFC 3339 timestamps as the engine writes them.
pub(super) fn duration_between(started: &str, finished: &str) -> Option<Duration> {
    let started: SystemTime = humantime::parse_rfc3339_weak(started.trim_end_matches('Z')).ok()?;
    let finished: SystemTime =
        humantime::parse_rfc3339_weak(finished.trim_end_matches('Z')).ok()?;
    finished.duration_since(started).ok()
}

/// Cuts the engine's output chunks into lines, keeping a partial line until it ends.
#[derive(Default)]
pub(super) struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// A line longer than this is cut: one runaway line must not hold memory hostage.
const MAX_LINE_BYTES: usize = 16 * 1024;

impl LineSplitter {
    pub(super) fn push(&mut self, chunk: &LogOutput) -> Vec<OutputLine> {
        let (buffer, stderr, message) = match chunk {
            LogOutput::StdErr { message } => (&mut self.stderr, true, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (&mut self.stdout, false, message)
            }
            LogOutput::StdIn { .. } => return Vec::new(),
        };
        let mut lines = Vec::new();
        for &byte in message.iter() {
            if byte == b'\n' {
                lines.push(take_line(buffer, stderr));
            } else {
                buffer.push(byte);
                if buffer.len() >= MAX_LINE_BYTES {
                    lines.push(take_line(buffer, stderr));
                }
            }
        }
        lines
    }

    pub(super) fn finish(&mut self) -> Vec<OutputLine> {
        let mut lines = Vec::new();
        for (buffer, stderr) in [(&mut self.stdout, false), (&mut self.stderr, true)] {
            if !buffer.is_empty() {
                lines.push(take_line(buffer, stderr));
            }
        }
        lines
    }
}

fn take_line(buffer: &mut Vec<u8>, stderr: bool) -> OutputLine {
    let mut text = String::from_utf8_lossy(buffer).into_owned();
    if text.ends_with('\r') {
        text.pop();
    }
    buffer.clear();
    OutputLine {
        stderr,
        text,
        at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_chunks_into_lines_across_boundaries() {
        let mut splitter = LineSplitter::default();
        let out = |s: &str| LogOutput::StdOut {
            message: s.as_bytes().to_vec().into(),
        };
        assert!(splitter.push(&out("hel")).is_empty());
        let lines = splitter.push(&out("lo\nworld\r\nhalf"));
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["hello", "world"]
        );
        assert_eq!(splitter.finish()[0].text, "half");
    }

    #[test]
    fn health_from_the_status_text_of_an_older_engine() {
        let cases = [
            ("Up 5 minutes (healthy)", Some(ContainerHealth::Healthy)),
            ("Up 1 second (unhealthy)", Some(ContainerHealth::Unhealthy)),
            (
                "Up 3 seconds (health: starting)",
                Some(ContainerHealth::Starting),
            ),
            ("Up 3 seconds", None),
            ("Exited (1) 2 seconds ago", None),
        ];
        for (status, health) in cases {
            assert_eq!(health_in_status(status), health, "{status}");
        }
    }

    #[test]
    fn health_from_the_list_of_a_newer_engine_wins_over_the_text() {
        let summary: ContainerSummary = serde_json::from_value(serde_json::json!({
            "Id": "c1", "Names": ["/aysvc_a"], "State": "running",
            "Status": "Up 5 minutes (healthy)",
            "Labels": {LABEL_SERVICE_NAME: "a"},
            "Health": {"Status": "unhealthy", "FailingStreak": 3}
        }))
        .unwrap();
        let observed = ObservedContainer::from_summary(summary).unwrap();
        assert_eq!(observed.health, Some(ContainerHealth::Unhealthy));
    }

    #[test]
    fn run_time_from_engine_timestamps() {
        assert_eq!(
            duration_between("2026-11-23T14:00:00.5Z", "2026-11-23T14:10:01.5Z"),
            Some(Duration::from_secs(601))
        );
        assert_eq!(
            duration_between("0001-01-01T00:00:00Z", "2026-11-23T14:00:00Z"),
            None
        );
    }
}
