//! LogHub: every service's recent output in a bounded ring buffer, and a live feed of new
//! lines for followers (the log pane, `ashtray logs -f`, SSE).
//!
//! It must never grow without bound nor slow the engine: each service keeps at most
//! `max_lines` lines and `max_bytes` bytes; followers read from a bounded broadcast
//! channel, and one that falls behind loses the oldest lines and is told how many.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// One line of a service's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Per service, increasing from 1; a gap means lines were lost.
    pub seq: u64,
    /// Unix time in milliseconds when ashtray read it.
    pub at_ms: u64,
    pub stderr: bool,
    pub text: String,
}

#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    pub max_lines: usize,
    pub max_bytes: usize,
    /// Lines a follower may fall behind before it starts losing them.
    pub follower_lag: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_lines: 5_000,
            max_bytes: 2 * 1024 * 1024,
            follower_lag: 4_096,
        }
    }
}

/// What a follower receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    Line(Arc<LogLine>),
    /// The follower was too slow: this many lines went by unseen.
    Missed(u64),
}

struct ServiceLog {
    lines: VecDeque<Arc<LogLine>>,
    bytes: usize,
    next_seq: u64,
    live: broadcast::Sender<Arc<LogLine>>,
}

#[derive(Clone)]
pub struct LogHub {
    services: Arc<Mutex<HashMap<String, ServiceLog>>>,
    limits: LogLimits,
    evicted: Arc<AtomicU64>,
    missed_by_followers: Arc<AtomicU64>,
}

impl LogHub {
    pub fn new(limits: LogLimits) -> LogHub {
        LogHub {
            services: Default::default(),
            limits,
            evicted: Default::default(),
            missed_by_followers: Default::default(),
        }
    }

    pub fn limits(&self) -> LogLimits {
        self.limits
    }

    fn with_service<T>(&self, service: &str, f: impl FnOnce(&mut ServiceLog) -> T) -> T {
        let mut services = self
            .services
            .lock()
            .expect("the log hub lock is never poisoned");
        let log = services
            .entry(service.to_string())
            .or_insert_with(|| ServiceLog {
                lines: VecDeque::new(),
                bytes: 0,
                next_seq: 1,
                live: broadcast::channel(self.limits.follower_lag.max(1)).0,
            });
        f(log)
    }

    /// Adds a line; the oldest lines make room when a bound is reached.
    pub fn push(&self, service: &str, stderr: bool, text: String) {
        let at_ms = crate::host_state::now_ms();
        let limits = self.limits;
        let evicted = self.with_service(service, |log| {
            let line = Arc::new(LogLine {
                seq: log.next_seq,
                at_ms,
                stderr,
                text,
            });
            log.next_seq += 1;
            log.bytes += line.text.len();
            log.lines.push_back(line.clone());
            let mut evicted = 0;
            while log.lines.len() > limits.max_lines
                || (log.bytes > limits.max_bytes && log.lines.len() > 1)
            {
                if let Some(old) = log.lines.pop_front() {
                    log.bytes -= old.text.len();
                    evicted += 1;
                }
            }
            // No follower is not an error: the line is kept in the buffer all the same.
            let _ = log.live.send(line);
            evicted
        });
        if evicted > 0 {
            self.evicted.fetch_add(evicted, Ordering::Relaxed);
        }
    }

    /// The last `n` lines of a service, oldest first.
    pub fn tail(&self, service: &str, n: usize) -> Vec<Arc<LogLine>> {
        let services = self
            .services
            .lock()
            .expect("the log hub lock is never poisoned");
        services
            .get(service)
            .map(|log| {
                log.lines
                    .iter()
                    .skip(log.lines.len().saturating_sub(n))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last `backlog` lines and every new line after them, with no gap or overlap
    /// between the two.
    pub fn follow(&self, service: &str, backlog: usize) -> (Vec<Arc<LogLine>>, LogFollower) {
        self.with_service(service, |log| {
            let lines = log
                .lines
                .iter()
                .skip(log.lines.len().saturating_sub(backlog))
                .cloned()
                .collect();
            let follower = LogFollower {
                receiver: log.live.subscribe(),
                missed_total: self.missed_by_followers.clone(),
            };
            (lines, follower)
        })
    }

    /// Bytes of output held right now, all services together.
    pub fn buffered_bytes(&self) -> usize {
        let services = self
            .services
            .lock()
            .expect("the log hub lock is never poisoned");
        services.values().map(|log| log.bytes).sum()
    }

    /// Lines pushed out of a full buffer so far.
    pub fn evicted_lines(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Lines that slow followers missed so far.
    pub fn missed_lines(&self) -> u64 {
        self.missed_by_followers.load(Ordering::Relaxed)
    }
}

pub struct LogFollower {
    receiver: broadcast::Receiver<Arc<LogLine>>,
    missed_total: Arc<AtomicU64>,
}

impl LogFollower {
    /// The next line, or how many were missed; `None` once the hub is gone.
    pub async fn next(&mut self) -> Option<Followed> {
        match self.receiver.recv().await {
            Ok(line) => Some(Followed::Line(line)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                self.missed_total.fetch_add(missed, Ordering::Relaxed);
                Some(Followed::Missed(missed))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(max_lines: usize, max_bytes: usize, lag: usize) -> LogHub {
        LogHub::new(LogLimits {
            max_lines,
            max_bytes,
            follower_lag: lag,
        })
    }

    #[test]
    fn keeps_the_last_lines_within_both_bounds() {
        let hub = hub(3, 1000, 16);
        for i in 0..10 {
            hub.push("a", false, format!("line {i}"));
        }
        let tail: Vec<_> = hub.tail("a", 10).iter().map(|l| l.text.clone()).collect();
        assert_eq!(tail, ["line 7", "line 8", "line 9"]);
        assert_eq!(hub.tail("a", 1)[0].seq, 10);
        assert_eq!(hub.evicted_lines(), 7);

        let hub = self::hub(1000, 10, 16);
        for _ in 0..5 {
            hub.push("a", false, "12345".into());
        }
        assert_eq!(hub.tail("a", 100).len(), 2);
        assert!(hub.buffered_bytes() <= 10);
    }

    #[tokio::test]
    async fn a_follower_gets_backlog_then_live_lines_without_gap() {
        let hub = hub(100, 10_000, 16);
        hub.push("a", false, "old".into());
        let (backlog, mut follower) = hub.follow("a", 10);
        hub.push("a", true, "new".into());
        assert_eq!(backlog[0].text, "old");
        match follower.next().await {
            Some(Followed::Line(line)) => assert_eq!(
                (line.seq, line.stderr, line.text.as_str()),
                (2, true, "new")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_slow_follower_is_told_how_many_lines_it_missed() {
        let hub = hub(100, 10_000, 4);
        let (_, mut follower) = hub.follow("a", 0);
        for i in 0..10 {
            hub.push("a", false, format!("{i}"));
        }
        assert_eq!(follower.next().await, Some(Followed::Missed(6)));
        let Some(Followed::Line(line)) = follower.next().await else {
            panic!()
        };
        assert_eq!(line.text, "6");
        assert_eq!(hub.missed_lines(), 6);
    }
}
