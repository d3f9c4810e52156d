//! A service's recent history on this host, in words: started, exited and why,
//! restarted and why, could not start, stopped. A small bounded ring per service kept by
//! the loop's service book and read on request (`Handle::details`), never sent with every
//! snapshot: a detail view wants it, a list does not.

use std::collections::VecDeque;

use serde::Serialize;

/// Entries kept per service: the last few crash-loop rounds and what led to them.
pub const HISTORY_LEN: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// Its container started (first start or adoption of none).
    Started,
    /// Its container was replaced by a new one; the text says why.
    Restarted,
    /// Its container exited; the text gives the code and what it means.
    Exited,
    /// A container could not be created or started; the text is the engine's error.
    StartFailed,
    /// Its container was stopped and removed.
    Stopped,
    /// Stopping it failed.
    StopFailed,
}

impl HistoryKind {
    /// As in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Started => "started",
            HistoryKind::Restarted => "restarted",
            HistoryKind::Exited => "exited",
            HistoryKind::StartFailed => "start_failed",
            HistoryKind::Stopped => "stopped",
            HistoryKind::StopFailed => "stop_failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Unix ms.
    pub at_ms: u64,
    pub kind: HistoryKind,
    pub text: String,
}

/// The last [`HISTORY_LEN`] entries, oldest first.
#[derive(Debug, Default, Clone)]
pub struct History(VecDeque<HistoryEntry>);

impl History {
    pub fn push(&mut self, at_ms: u64, kind: HistoryKind, text: impl Into<String>) {
        if self.0.len() == HISTORY_LEN {
            self.0.pop_front();
        }
        self.0.push_back(HistoryEntry {
            at_ms,
            kind,
            text: text.into(),
        });
    }

    /// Oldest first.
    pub fn entries(&self) -> Vec<HistoryEntry> {
        self.0.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_keeps_the_newest_entries_in_order() {
        let mut history = History::default();
        for at in 0..(HISTORY_LEN as u64 + 3) {
            history.push(at, HistoryKind::Exited, format!("exit {at}"));
        }
        let entries = history.entries();
        assert_eq!(entries.len(), HISTORY_LEN);
        assert_eq!(entries[0].at_ms, 3, "the oldest three made room");
        assert_eq!(
            entries.last().unwrap().text,
            format!("exit {}", HISTORY_LEN + 2)
        );
    }
}
