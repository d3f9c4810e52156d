//! LogHub: every service's recent output in a bounded ring buffer, and a live feed of new
//! lines for followers (the log pane, `ashtray logs -f`, SSE).
//!
//! It must never grow without bound nor slow the engine, at any count of services: each
//! service keeps at most `max_lines` lines and `max_bytes` bytes, and all of them
//! together at most `total_bytes` (each line counted with its bookkeeping), the oldest
//! lines of the largest buffer going first; every line pushed out is counted as dropped,
//! per service and in all. Followers read from a bounded broadcast channel, and one that
//! falls behind loses the oldest lines and is told how many.

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
    /// All services' buffers together, each line counted as its text plus
    /// [`LINE_OVERHEAD`]: over it, the largest buffer gives up its oldest lines.
    pub total_bytes: usize,
}

/// The default of [`LogLimits::total_bytes`]: eight services' worth of full buffers, so
/// a few chatty services keep their whole 2 MiB and fifty cost no more than a few.
pub const DEFAULT_TOTAL_BYTES: usize = 16 * 1024 * 1024;

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_lines: 5_000,
            max_bytes: 2 * 1024 * 1024,
            follower_lag: 4_096,
            total_bytes: DEFAULT_TOTAL_BYTES,
        }
    }
}

/// What a line costs beside its text: the line itself behind its `Arc` (two counters)
/// and its slot in the buffer. Short lines are mostly this.
pub const LINE_OVERHEAD: usize = std::mem::size_of::<LogLine>()
    + 2 * std::mem::size_of::<usize>()
    + std::mem::size_of::<Arc<LogLine>>();

fn cost(line: &LogLine) -> usize {
    line.text.len() + LINE_OVERHEAD
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
    /// Text bytes held (what `max_bytes` bounds).
    bytes: usize,
    /// Text and bookkeeping held (what counts toward `total_bytes`).
    held: usize,
    /// Lines pushed out of this buffer so far, by either bound.
    dropped: u64,
    next_seq: u64,
    live: broadcast::Sender<Arc<LogLine>>,
}

impl ServiceLog {
    fn new(limits: LogLimits) -> ServiceLog {
        ServiceLog {
            lines: VecDeque::new(),
            bytes: 0,
            held: 0,
            dropped: 0,
            next_seq: 1,
            live: broadcast::channel(limits.follower_lag.max(1)).0,
        }
    }

    fn pop_oldest(&mut self) -> Option<Arc<LogLine>> {
        let old = self.lines.pop_front()?;
        self.bytes -= old.text.len();
        self.held -= cost(&old);
        self.dropped += 1;
        Some(old)
    }
}

#[derive(Default)]
struct Buffers {
    services: HashMap<String, ServiceLog>,
    /// The sum of the services' `held`.
    held: usize,
}

impl Buffers {
    /// Brings all buffers together under `cap`, the oldest lines of the largest buffer
    /// first; how many lines went. It goes a little under the cap (1/32), so that lines
    /// arriving at the cap do not each look through every buffer.
    fn evict_over(&mut self, cap: usize) -> u64 {
        if self.held <= cap {
            return 0;
        }
        let target = cap - cap / 32;
        let mut evicted = 0;
        while self.held > target {
            // The largest buffer, and how large the next one is: the largest gives
            // lines until it is no longer the largest.
            let mut largest: Option<(&String, usize)> = None;
            let mut runner_up = 0;
            for (name, log) in &self.services {
                match largest {
                    Some((_, held)) if log.held <= held => runner_up = runner_up.max(log.held),
                    _ => {
                        runner_up = largest.map_or(0, |(_, held)| held).max(runner_up);
                        largest = Some((name, log.held));
                    }
                }
            }
            let Some((name, _)) = largest else {
                break;
            };
            let name = name.clone();
            let log = self.services.get_mut(&name).expect("just found");
            let before = log.held;
            while self.held > target && log.held >= runner_up {
                let Some(old) = log.pop_oldest() else {
                    break;
                };
                self.held -= cost(&old);
                evicted += 1;
            }
            if log.held == before {
                // Every buffer is empty: nothing more to give.
                break;
            }
        }
        evicted
    }
}

#[derive(Clone)]
pub struct LogHub {
    buffers: Arc<Mutex<Buffers>>,
    limits: LogLimits,
    evicted: Arc<AtomicU64>,
    evicted_for_total: Arc<AtomicU64>,
    missed_by_followers: Arc<AtomicU64>,
}

impl LogHub {
    pub fn new(limits: LogLimits) -> LogHub {
        LogHub {
            buffers: Default::default(),
            limits,
            evicted: Default::default(),
            evicted_for_total: Default::default(),
            missed_by_followers: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffers> {
        self.buffers
            .lock()
            .expect("the log hub lock is never poisoned")
    }

    pub fn limits(&self) -> LogLimits {
        self.limits
    }

    fn with_service<T>(&self, service: &str, f: impl FnOnce(&mut ServiceLog) -> T) -> T {
        let mut buffers = self.lock();
        let log = buffers
            .services
            .entry(service.to_string())
            .or_insert_with(|| ServiceLog::new(self.limits));
        f(log)
    }

    /// Adds a line; the oldest lines make room when a bound is reached: the service's
    /// own first, then, over the total, the largest buffer's.
    pub fn push(&self, service: &str, stderr: bool, text: String) {
        let at_ms = crate::host_state::now_ms();
        let limits = self.limits;
        let mut buffers = self.lock();
        let buffers = &mut *buffers;
        let log = buffers
            .services
            .entry(service.to_string())
            .or_insert_with(|| ServiceLog::new(limits));
        let line = Arc::new(LogLine {
            seq: log.next_seq,
            at_ms,
            stderr,
            text,
        });
        log.next_seq += 1;
        log.bytes += line.text.len();
        log.held += cost(&line);
        buffers.held += cost(&line);
        log.lines.push_back(line.clone());
        let mut evicted = 0;
        while log.lines.len() > limits.max_lines
            || (log.bytes > limits.max_bytes && log.lines.len() > 1)
        {
            if let Some(old) = log.pop_oldest() {
                buffers.held -= cost(&old);
                evicted += 1;
            }
        }
        // No follower is not an error: the line is kept in the buffer all the same.
        let _ = log.live.send(line);
        let evicted_for_total = buffers.evict_over(limits.total_bytes);
        if evicted > 0 {
            self.evicted.fetch_add(evicted, Ordering::Relaxed);
        }
        if evicted_for_total > 0 {
            self.evicted_for_total
                .fetch_add(evicted_for_total, Ordering::Relaxed);
        }
    }

    /// Lines of `service` pushed out of its buffer so far (by its own bounds or the
    /// total): a reader of its tail knows that many older lines are gone.
    pub fn dropped(&self, service: &str) -> u64 {
        self.lock()
            .services
            .get(service)
            .map_or(0, |log| log.dropped)
    }

    /// Bytes held by all buffers together, each line with its bookkeeping (what
    /// [`LogLimits::total_bytes`] bounds).
    pub fn held_bytes(&self) -> usize {
        self.lock().held
    }

    /// The last `n` lines of a service, oldest first.
    pub fn tail(&self, service: &str, n: usize) -> Vec<Arc<LogLine>> {
        self.lock()
            .services
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
        self.lock().services.values().map(|log| log.bytes).sum()
    }

    /// Lines pushed out of a full buffer (a service's own bounds) so far.
    pub fn evicted_lines(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Lines pushed out because all buffers together reached the total so far.
    pub fn evicted_for_total_lines(&self) -> u64 {
        self.evicted_for_total.load(Ordering::Relaxed)
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
            total_bytes: usize::MAX,
        })
    }

    /// A hub whose services' own bounds are far away: only the total counts.
    fn capped(total_bytes: usize) -> LogHub {
        LogHub::new(LogLimits {
            max_lines: 1_000_000,
            max_bytes: usize::MAX,
            follower_lag: 16,
            total_bytes,
        })
    }

    /// What one line of `text_len` bytes costs toward the total.
    fn line(text_len: usize) -> usize {
        text_len + LINE_OVERHEAD
    }

    fn push_lines(hub: &LogHub, service: &str, count: usize, text_len: usize) {
        for _ in 0..count {
            hub.push(service, false, "x".repeat(text_len));
        }
    }

    #[test]
    fn over_the_total_the_largest_buffer_gives_up_its_oldest_lines_first() {
        // Room for 100 lines of 10 bytes; once over, down to under 97 (the cap less 1/32).
        let hub = capped(100 * line(10));
        push_lines(&hub, "quiet", 10, 10);
        push_lines(&hub, "chatty", 90, 10);
        assert_eq!(
            hub.evicted_for_total_lines(),
            0,
            "at the total, nothing goes"
        );
        hub.push("chatty", false, "x".repeat(10));
        // Over: the chatty one (91 lines) gives its oldest until 96 lines are left in all.
        assert_eq!(
            hub.tail("quiet", 100).len(),
            10,
            "the small buffer is untouched"
        );
        let chatty = hub.tail("chatty", 1000);
        assert_eq!(chatty.len(), 86);
        assert_eq!(chatty[0].seq, 6, "its five oldest went");
        assert_eq!(hub.dropped("chatty"), 5);
        assert_eq!(hub.dropped("quiet"), 0);
        assert_eq!(hub.evicted_for_total_lines(), 5);
        assert!(hub.held_bytes() <= 100 * line(10));
    }

    #[test]
    fn buffers_of_the_same_size_give_lines_in_turn() {
        let hub = capped(60 * line(10));
        for _ in 0..20 {
            for service in ["a", "b", "c"] {
                hub.push(service, false, "x".repeat(10));
            }
        }
        hub.push("a", false, "x".repeat(10));
        let sizes: Vec<usize> = ["a", "b", "c"]
            .iter()
            .map(|s| hub.tail(s, 100).len())
            .collect();
        // 58 lines of the 61 pushed stay (under the cap less its 1/32, 58.1 lines): no
        // buffer emptied for the others, none more than one line apart.
        assert_eq!(sizes.iter().sum::<usize>(), 58, "{sizes:?}");
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        assert!(hub.held_bytes() <= 60 * line(10));
    }

    #[test]
    fn memory_stays_under_the_total_at_any_count_of_services() {
        let total = 64 * 1024;
        let hub = capped(total);
        for service in 0..1_000 {
            push_lines(&hub, &format!("s{service}"), 20, 100);
        }
        assert!(hub.held_bytes() <= total, "{} held", hub.held_bytes());
        let kept: usize = (0..1_000)
            .map(|s| hub.tail(&format!("s{s}"), 100).len())
            .sum();
        let dropped: u64 = (0..1_000).map(|s| hub.dropped(&format!("s{s}"))).sum();
        assert_eq!(
            kept as u64 + dropped,
            20_000,
            "every line is kept or counted dropped"
        );
        assert_eq!(dropped, hub.evicted_for_total_lines());
        // One line longer than the whole total is not kept either.
        let tiny = capped(line(10));
        tiny.push("a", false, "x".repeat(100));
        assert_eq!(tiny.held_bytes(), 0);
        assert_eq!(tiny.dropped("a"), 1);
    }

    #[test]
    fn a_services_own_bound_counts_as_dropped_too_but_not_as_over_the_total() {
        let hub = hub(3, 1000, 16);
        push_lines(&hub, "a", 5, 1);
        assert_eq!(hub.dropped("a"), 2);
        assert_eq!(hub.evicted_lines(), 2);
        assert_eq!(hub.evicted_for_total_lines(), 0);
        assert_eq!(hub.held_bytes(), 3 * line(1));
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
