//! Crash-loop backoff for one service: 1 s doubling to a 5 min cap, forgotten after
//! 10 min of running. A small type of its own so that the rule lives in one place and is
//! tested without sleeping.

use std::time::Duration;

use tokio::time::Instant;

pub const INITIAL_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Running this long proves the service healthy again: its failures are forgotten.
pub const RESET_AFTER: Duration = Duration::from_secs(600);
/// Failures in a row after which a service is called crash-looping.
pub const CRASH_LOOP_FAILURES: u32 = 3;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashBackoff {
    failures: u32,
    next_start: Option<Instant>,
    running_since: Option<Instant>,
}

impl CrashBackoff {
    /// Records a stop or a failed start; returns how long to wait before the next start.
    /// A container that had run at least [`RESET_AFTER`] starts the count afresh.
    pub fn record_failure(&mut self, now: Instant, ran_for: Option<Duration>) -> Duration {
        if ran_for.is_some_and(|ran| ran >= RESET_AFTER) {
            self.failures = 0;
        }
        let delay = INITIAL_DELAY
            .saturating_mul(2u32.saturating_pow(self.failures.min(20)))
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        self.next_start = Some(now + delay);
        self.running_since = None;
        delay
    }

    /// Tells the backoff the service is running now; after [`RESET_AFTER`] of it, the
    /// failures are forgotten.
    pub fn note_running(&mut self, now: Instant) {
        let since = *self.running_since.get_or_insert(now);
        if now.duration_since(since) >= RESET_AFTER {
            self.failures = 0;
            self.next_start = None;
        }
    }

    /// Forget everything: someone asked for a start by hand.
    pub fn reset(&mut self) {
        *self = CrashBackoff::default();
    }

    pub fn may_start(&self, now: Instant) -> bool {
        self.next_start.is_none_or(|at| now >= at)
    }

    /// When the next start is allowed, while it is still ahead.
    pub fn waiting_until(&self, now: Instant) -> Option<Instant> {
        self.next_start.filter(|at| *at > now)
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn crash_looping(&self) -> bool {
        self.failures >= CRASH_LOOP_FAILURES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_from_one_second_to_a_five_minute_cap() {
        let mut backoff = CrashBackoff::default();
        let now = Instant::now();
        let delays: Vec<u64> = (0..12)
            .map(|_| {
                backoff
                    .record_failure(now, Some(Duration::from_secs(1)))
                    .as_secs()
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert!(backoff.crash_looping());
    }

    #[tokio::test(start_paused = true)]
    async fn waits_then_allows_a_start() {
        let mut backoff = CrashBackoff::default();
        assert!(backoff.may_start(Instant::now()));
        backoff.record_failure(Instant::now(), None);
        backoff.record_failure(Instant::now(), None);
        assert!(!backoff.may_start(Instant::now()));
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(!backoff.may_start(Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(backoff.may_start(Instant::now()));
        assert_eq!(backoff.waiting_until(Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn ten_minutes_of_running_forgets_the_failures() {
        let mut backoff = CrashBackoff::default();
        for _ in 0..4 {
            backoff.record_failure(Instant::now(), None);
        }
        assert!(backoff.crash_looping());
        backoff.note_running(Instant::now());
        tokio::time::advance(Duration::from_secs(599)).await;
        backoff.note_running(Instant::now());
        assert!(backoff.crash_looping());
        tokio::time::advance(Duration::from_secs(1)).await;
        backoff.note_running(Instant::now());
        assert!(!backoff.crash_looping());
        assert_eq!(backoff.record_failure(Instant::now(), None), INITIAL_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_run_before_the_crash_starts_afresh() {
        let mut backoff = CrashBackoff::default();
        for _ in 0..5 {
            backoff.record_failure(Instant::now(), None);
        }
        let delay = backoff.record_failure(Instant::now(), Some(Duration::from_secs(601)));
        assert_eq!(delay, INITIAL_DELAY);
        assert_eq!(backoff.failures(), 1);
    }
}
