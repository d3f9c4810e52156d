//! Each running service's CPU and memory, from one engine stats stream per running
//! container (Docker sends a reading about once a second on it): no request per service
//! per tick. The loop opens a stream when it sees a container running and drops it when
//! the container is gone; readers take the latest reading and a short history.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::host_state::now_ms;
use crate::runtime::stats::StatsSample;

/// Readings kept per service: two minutes at Docker's one a second.
pub const STATS_HISTORY: usize = 120;
/// A reading older than this is not shown as the service's present use.
const FRESH_MS: u64 = 10_000;

/// One reading, when it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsPoint {
    pub at_ms: u64,
    pub sample: StatsSample,
}

/// The readings of every service, shared by the followers (writers) and the API.
#[derive(Debug, Clone, Default)]
pub struct StatsHub {
    inner: Arc<Mutex<HashMap<String, VecDeque<StatsPoint>>>>,
}

impl StatsHub {
    pub fn push(&self, service: &str, sample: StatsSample) {
        self.push_at(service, now_ms(), sample);
    }

    fn push_at(&self, service: &str, at_ms: u64, sample: StatsSample) {
        let mut all = self.inner.lock().expect("the stats lock is never poisoned");
        let points = all.entry(service.to_string()).or_default();
        if points.len() == STATS_HISTORY {
            points.pop_front();
        }
        points.push_back(StatsPoint { at_ms, sample });
    }

    /// Forgets services that are no longer here.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut all = self.inner.lock().expect("the stats lock is never poisoned");
        all.retain(|service, _| keep(service));
    }

    /// Each service with a fresh reading: its readings, oldest first.
    pub fn fresh(&self) -> BTreeMap<String, Vec<StatsPoint>> {
        self.fresh_at(now_ms())
    }

    fn fresh_at(&self, now: u64) -> BTreeMap<String, Vec<StatsPoint>> {
        let all = self.inner.lock().expect("the stats lock is never poisoned");
        all.iter()
            .filter(|(_, points)| {
                points
                    .back()
                    .is_some_and(|p| now.saturating_sub(p.at_ms) <= FRESH_MS)
            })
            .map(|(service, points)| (service.clone(), points.iter().copied().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu: f64) -> StatsSample {
        StatsSample {
            cpu_percent: cpu,
            mem_bytes: 1,
            mem_limit_bytes: None,
        }
    }

    #[test]
    fn readings_are_bounded_and_only_fresh_ones_are_shown() {
        let hub = StatsHub::default();
        for at in 0..(STATS_HISTORY as u64 + 5) {
            hub.push_at("busy", at * 1000, sample(at as f64));
        }
        hub.push_at("stale", 0, sample(1.0));
        let now = (STATS_HISTORY as u64 + 4) * 1000;
        let fresh = hub.fresh_at(now);
        assert_eq!(fresh.keys().collect::<Vec<_>>(), ["busy"]);
        let busy = &fresh["busy"];
        assert_eq!(busy.len(), STATS_HISTORY);
        assert_eq!(busy[0].sample.cpu_percent, 5.0, "the oldest made room");
        hub.retain(|s| s != "busy");
        assert!(hub.fresh_at(now).is_empty());
    }
}
