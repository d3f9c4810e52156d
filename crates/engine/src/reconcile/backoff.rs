//! Crash-loop backoff for one service: a service that had run fine ([`RAN_FINE_AFTER`])
//! and dies is restarted at once; failures in a row (a start that fails, a container that
//! dies soon after its start) wait 1 s doubling to a 5 min cap. The failures are
//! forgotten after a quiet period of running, as kube-runtime's `ResetTimerBackoff` does.
//! A small type of its own so that the rule lives in one place and is tested without
//! sleeping.

use std::time::Duration;

use tokio::time::Instant;

pub const INITIAL_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Running this long proves the service works: a death after it is not a crash loop, so
/// the service is restarted at once and its earlier failures are forgotten.
pub const RAN_FINE_AFTER: Duration = Duration::from_secs(10);
/// Failures in a row after which a service is called crash-looping.
pub const CRASH_LOOP_FAILURES: u32 = 3;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashBackoff {
    failures: u32,
    next_start: Option<Instant>,
    running_since: Option<Instant>,
}

impl CrashBackoff {
    /// Records a stop or a failed start; returns how long to wait before the next start
    /// (zero after a fine run). `ran_for` is how long the container ran, as the engine
    /// says; without it, how long the loop saw it running.
    pub fn record_failure(&mut self, now: Instant, ran_for: Option<Duration>) -> Duration {
        let ran = ran_for.or_else(|| self.running_since.map(|since| now - since));
        self.running_since = None;
        if ran.is_some_and(|ran| ran >= RAN_FINE_AFTER) {
            self.failures = 0;
            self.next_start = None;
            return Duration::ZERO;
        }
        let delay = INITIAL_DELAY
            .saturating_mul(2u32.saturating_pow(self.failures.min(20)))
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        self.next_start = Some(now + delay);
        delay
    }

    /// Tells the backoff the service is running now; after [`RAN_FINE_AFTER`] of it, the
    /// failures are forgotten.
    pub fn note_running(&mut self, now: Instant) {
        let since = *self.running_since.get_or_insert(now);
        if now.duration_since(since) >= RAN_FINE_AFTER {
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

    const FAST: Option<Duration> = Some(Duration::from_secs(1));

    #[tokio::test(start_paused = true)]
    async fn failures_in_a_row_double_from_one_second_to_a_five_minute_cap() {
        let mut backoff = CrashBackoff::default();
        let now = Instant::now();
        let delays: Vec<u64> = (0..12)
            .map(|_| backoff.record_failure(now, FAST).as_secs())
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
    async fn a_service_that_ran_fine_restarts_at_once_then_backs_off_if_it_keeps_failing() {
        let mut backoff = CrashBackoff::default();
        let delay = backoff.record_failure(Instant::now(), Some(RAN_FINE_AFTER));
        assert_eq!(delay, Duration::ZERO);
        assert!(backoff.may_start(Instant::now()));
        assert_eq!(backoff.waiting_until(Instant::now()), None);
        // Restarted, it now fails fast each time: 1-2-4 s.
        let delays: Vec<u64> = (0..3)
            .map(|_| backoff.record_failure(Instant::now(), FAST).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_just_short_of_fine_counts_as_a_failure_in_a_row() {
        let mut backoff = CrashBackoff::default();
        let short = RAN_FINE_AFTER - Duration::from_millis(1);
        assert_eq!(
            backoff.record_failure(Instant::now(), Some(short)),
            INITIAL_DELAY
        );
        assert_eq!(
            backoff.record_failure(Instant::now(), Some(short)),
            2 * INITIAL_DELAY
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fine_run_forgets_a_crash_loop() {
        let mut backoff = CrashBackoff::default();
        for _ in 0..5 {
            backoff.record_failure(Instant::now(), FAST);
        }
        assert!(backoff.crash_looping());
        let delay = backoff.record_failure(Instant::now(), Some(Duration::from_secs(60)));
        assert_eq!(delay, Duration::ZERO);
        assert_eq!(backoff.failures(), 0);
        assert!(!backoff.crash_looping());
    }

    #[tokio::test(start_paused = true)]
    async fn without_the_engines_run_time_the_running_the_loop_saw_counts() {
        let mut backoff = CrashBackoff::default();
        backoff.record_failure(Instant::now(), FAST);
        backoff.note_running(Instant::now());
        tokio::time::advance(Duration::from_secs(3)).await;
        backoff.note_running(Instant::now());
        assert_eq!(
            backoff.record_failure(Instant::now(), None),
            2 * INITIAL_DELAY
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        backoff.note_running(Instant::now());
        tokio::time::advance(RAN_FINE_AFTER).await;
        assert_eq!(backoff.record_failure(Instant::now(), None), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn running_quietly_forgets_the_failures() {
        let mut backoff = CrashBackoff::default();
        for _ in 0..4 {
            backoff.record_failure(Instant::now(), FAST);
        }
        assert!(backoff.crash_looping());
        backoff.note_running(Instant::now());
        tokio::time::advance(RAN_FINE_AFTER - Duration::from_millis(1)).await;
        backoff.note_running(Instant::now());
        assert!(backoff.crash_looping());
        tokio::time::advance(Duration::from_millis(1)).await;
        backoff.note_running(Instant::now());
        assert!(!backoff.crash_looping());
    }
}
