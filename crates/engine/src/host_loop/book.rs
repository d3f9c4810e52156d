//! The per-service book: what the loop remembers of each service between ticks — its
//! crash backoff and last exit, the actions under way, the services settling after one,
//! the exits already read, what inspection found of `ash`'s containers, and the restarts
//! asked for. It never talks to the container engine or the server: the loop writes in
//! it what happened and reads from it what the plan needs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::host_state::{ContainerHealth, ReportedStatus};
use crate::reconcile::backoff::CrashBackoff;
use crate::reconcile::executor::{Adoption, RestartReason};
use crate::runtime::{ContainerStatus, ObservedContainer, PullProgress};

/// Per-service memory of the loop.
#[derive(Debug, Default)]
pub(super) struct ServiceRecord {
    pub(super) backoff: CrashBackoff,
    pub(super) restarts: u32,
    pub(super) last_exit_code: Option<i64>,
    pub(super) last_exit_oom_killed: bool,
    pub(super) last_error: Option<String>,
    /// Why ashtray last replaced its container.
    pub(super) last_restart_reason: Option<RestartReason>,
    pub(super) last_output: Vec<String>,
    pub(super) reported: Option<ReportedStatus>,
    /// What happened to it, for a detail view (`Handle::details`).
    pub(super) history: crate::history::History,
    /// The look (see [`ServiceBook::looks`]) that last saw its container running.
    seen_running_in_look: u64,
}

/// The actions under way for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InFlight {
    pub(super) actions: usize,
    /// Whether one of them starts a container (the service shows as starting).
    pub(super) starting: bool,
}

#[derive(Debug, Default)]
pub(super) struct ServiceBook {
    pub(super) records: BTreeMap<String, ServiceRecord>,
    pub(super) in_flight: HashMap<String, InFlight>,
    /// Services whose action ended since the last look: left alone until the engine
    /// has been looked at again.
    pub(super) settling: HashSet<String>,
    pub(super) exits_recorded: HashSet<String>,
    pub(super) adoptions: HashMap<String, Adoption>,
    pub(super) restart_requested: HashSet<String>,
    /// Containers ashtray started, whose output is followed from their first line.
    pub(super) started_by_us: HashSet<String>,
    /// Running containers whose HEALTHCHECK says unhealthy: their service, and since
    /// when the loop has seen it so.
    pub(super) unhealthy_since: HashMap<String, (String, Instant)>,
    /// Containers whose `die` event came: exited, whatever a list made a moment before
    /// the engine recorded it says (dockerd announces a death before its list shows it).
    pub(super) died: HashSet<String>,
    /// How far the pulls under way have come, by service.
    pub(super) pulls: HashMap<String, PullProgress>,
    /// Looks at a changed set of containers so far: the services seen running in the
    /// last of them are the ones running at a look of the same set.
    looks: u64,
}

impl ServiceBook {
    pub(super) fn record(&mut self, service: &str) -> &mut ServiceRecord {
        self.records.entry(service.to_string()).or_default()
    }

    /// An action for `service` is handed to the executor.
    pub(super) fn begin(&mut self, service: &str, starting: bool) {
        if starting {
            self.restart_requested.remove(service);
        }
        let entry = self
            .in_flight
            .entry(service.to_string())
            .or_insert(InFlight {
                actions: 0,
                starting,
            });
        entry.actions += 1;
        entry.starting |= starting;
    }

    /// A pull for `service` has come this far. Kept only while its action is under way:
    /// a last report can arrive after the action's outcome.
    pub(super) fn pulled(&mut self, service: &str, progress: PullProgress) {
        if self.in_flight.contains_key(service) {
            self.pulls.insert(service.to_string(), progress);
        }
    }

    /// One of `service`'s actions came back. One that changed containers leaves the
    /// service settling until the next look; one that only read (an exit, an inspection)
    /// does not: what was listed still holds, and the plan may go on at once.
    pub(super) fn finish(&mut self, service: &str, changed_containers: bool) {
        self.pulls.remove(service);
        if let Some(entry) = self.in_flight.get_mut(service) {
            entry.actions -= 1;
            if entry.actions == 0 {
                self.in_flight.remove(service);
            }
        }
        if changed_containers {
            self.settling.insert(service.to_string());
        }
    }

    /// Services the plan must leave alone: an action under way or just ended.
    pub(super) fn busy(&self) -> HashSet<String> {
        self.in_flight
            .keys()
            .chain(self.settling.iter())
            .cloned()
            .collect()
    }

    /// Services still waiting out their crash backoff.
    pub(super) fn start_blocked(&self, now: Instant) -> HashSet<String> {
        self.records
            .iter()
            .filter(|(_, record)| !record.backoff.may_start(now))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The earliest end of a backoff still ahead.
    pub(super) fn next_start(&self, now: Instant) -> Option<Instant> {
        self.records
            .values()
            .filter_map(|r| r.backoff.waiting_until(now))
            .min()
    }

    /// A fresh look at the engine: what settled has settled, containers that are gone
    /// are forgotten, and running ones count toward forgiving their backoff.
    /// A container event: a `die` makes the container exited for the loop at once, a
    /// `start` (of the same container, started again by hand) takes that back.
    pub(super) fn container_event(&mut self, action: &str, container_id: &str) {
        match action {
            "die" => {
                self.died.insert(container_id.to_string());
            }
            "start" => {
                self.died.remove(container_id);
            }
            _ => {}
        }
    }

    /// What the list says, corrected by the deaths already announced.
    pub(super) fn correct(&self, containers: &mut [ObservedContainer]) {
        for container in containers {
            if container.status == ContainerStatus::Running && self.died.contains(&container.id) {
                container.status = ContainerStatus::Exited;
            }
        }
    }

    /// A look at the engine. `same_containers` says the containers are the ones of the
    /// last look, unchanged: then the services running are the ones that ran then, and
    /// their backoffs are noted in a walk of the records instead of a search by name per
    /// running container (most of a steady look at ten thousand services).
    pub(super) fn observed(
        &mut self,
        containers: &[ObservedContainer],
        now: Instant,
        same_containers: bool,
    ) {
        self.settling.clear();
        // The sets of ids are made only when there is something to sort out: on a steady
        // tick these are empty, and hashing ten thousand ids for nothing was most of it.
        if !(self.died.is_empty() && self.adoptions.is_empty() && self.exits_recorded.is_empty()) {
            let present: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
            self.died.retain(|id| present.contains(id.as_str()));
            self.adoptions.retain(|id, _| present.contains(id.as_str()));
            self.exits_recorded
                .retain(|id| present.contains(id.as_str()));
        }
        let unhealthy = |c: &&ObservedContainer| {
            c.status == ContainerStatus::Running && c.health == Some(ContainerHealth::Unhealthy)
        };
        if !self.unhealthy_since.is_empty() {
            let still: HashSet<&str> = containers
                .iter()
                .filter(unhealthy)
                .map(|c| c.id.as_str())
                .collect();
            self.unhealthy_since
                .retain(|id, _| still.contains(id.as_str()));
        }
        for container in containers.iter().filter(unhealthy) {
            self.unhealthy_since
                .entry(container.id.clone())
                .or_insert_with(|| (container.service_name.clone(), now));
        }
        if same_containers && self.looks > 0 {
            let last = self.looks;
            for record in self.records.values_mut() {
                if record.seen_running_in_look == last {
                    record.backoff.note_running(now);
                }
            }
            return;
        }
        self.looks += 1;
        let look = self.looks;
        for container in containers {
            if container.status == ContainerStatus::Running {
                // Looked up before it is made: a new key per service per look would be
                // an allocation for each running service on every tick.
                let record = match self.records.get_mut(&container.service_name) {
                    Some(record) => record,
                    None => self.record(&container.service_name),
                };
                record.backoff.note_running(now);
                record.seen_running_in_look = look;
            }
        }
    }

    /// Services whose container has been unhealthy for `limit` or longer, and for how
    /// long; none when unhealthy containers are left alone (`None`).
    pub(super) fn unhealthy_too_long(
        &self,
        now: Instant,
        limit: Option<Duration>,
    ) -> HashMap<String, Duration> {
        let Some(limit) = limit else {
            return HashMap::new();
        };
        self.unhealthy_since
            .values()
            .map(|(service, since)| (service.clone(), now.duration_since(*since)))
            .filter(|(_, unhealthy_for)| *unhealthy_for >= limit)
            .collect()
    }

    /// When the next unhealthy container reaches `limit`, while that is still ahead.
    pub(super) fn next_unhealthy_deadline(
        &self,
        now: Instant,
        limit: Option<Duration>,
    ) -> Option<Instant> {
        let limit = limit?;
        self.unhealthy_since
            .values()
            .map(|(_, since)| *since + limit)
            .filter(|at| *at > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::backoff::RAN_FINE_AFTER;

    use crate::testing::running_container as running;

    /// A look at the same containers notes the backoffs by walking the records: it must
    /// forgive exactly the services a full look would, those running, and no other.
    #[tokio::test(start_paused = true)]
    async fn a_look_at_the_same_containers_forgives_the_running_services_as_a_full_look_does() {
        let mut book = ServiceBook::default();
        let now = Instant::now();
        for service in ["up", "down"] {
            book.record(service)
                .backoff
                .record_failure(now, Some(Duration::ZERO));
        }
        let containers = [running("c1", "up")];
        book.observed(&containers, now, false);
        tokio::time::advance(RAN_FINE_AFTER).await;
        book.observed(&containers, Instant::now(), true);
        assert_eq!(
            book.records["up"].backoff.failures(),
            0,
            "ran fine: forgiven"
        );
        assert_eq!(
            book.records["down"].backoff.failures(),
            1,
            "not running: not forgiven"
        );
        // Seen running with a failure behind it, then removed (stopped here: no failure
        // recorded) before it ran fine: the looks at the same set after that must not
        // count its time away as running.
        book.record("down")
            .backoff
            .record_failure(Instant::now(), Some(Duration::ZERO));
        book.observed(&[running("c2", "down")], Instant::now(), false);
        book.observed(&[], Instant::now(), false);
        tokio::time::advance(RAN_FINE_AFTER).await;
        book.observed(&[], Instant::now(), true);
        assert_eq!(
            book.records["down"].backoff.failures(),
            2,
            "gone: not forgiven"
        );
    }

    #[test]
    fn a_service_is_busy_until_its_last_action_ends_and_the_engine_was_looked_at() {
        let mut book = ServiceBook::default();
        book.begin("a", false);
        book.begin("a", true);
        assert_eq!(
            book.in_flight["a"],
            InFlight {
                actions: 2,
                starting: true
            }
        );
        book.finish("a", true);
        assert!(book.busy().contains("a"));
        book.finish("a", true);
        assert!(!book.in_flight.contains_key("a"));
        assert!(book.busy().contains("a"), "settling until the next look");
        book.observed(&[], Instant::now(), false);
        assert!(book.busy().is_empty());
    }

    #[test]
    fn a_read_only_action_leaves_the_service_free_at_once() {
        let mut book = ServiceBook::default();
        book.begin("a", false);
        book.finish("a", false);
        assert!(book.busy().is_empty());
    }

    #[test]
    fn a_start_takes_back_the_restart_asked_for() {
        let mut book = ServiceBook::default();
        book.restart_requested.insert("a".into());
        book.begin("a", false);
        assert!(book.restart_requested.contains("a"));
        book.begin("a", true);
        assert!(!book.restart_requested.contains("a"));
    }
}
