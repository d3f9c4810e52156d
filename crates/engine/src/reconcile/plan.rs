//! The reconcile plan: a pure function from what the server wants, what runs, and what
//! the user decided on this host, to the actions that converge them.
//!
//! Every decision lives here (start, stop, recreate, restart after backoff, adopt, leave
//! alone) so it can be tested without an engine. Nothing here does I/O or reads a clock.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use super::desired::DesiredSet;
use super::executor::Adoption;
use super::ownership::{verdict, Catalog, Me, Verdict};
use crate::container::ContainerConfig;
use crate::host_state::ServiceSource;
use crate::runtime::{ContainerStatus, ObservedContainer};
use crate::spec::Desired;

/// What the plan looks at.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// The last valid answer of the server, with each runnable service's container;
    /// `None` until there was one.
    pub desired: Option<&'a DesiredSet>,
    /// Whether that answer is the latest word of the server. When the server cannot be
    /// heard, nothing is created, stopped or recreated on its behalf.
    pub answer_fresh: bool,
    /// This host's service containers.
    pub observed: &'a [ObservedContainer],
    /// Containers with ash's labels and no host label, for services this host's answer
    /// does not name: another host's, or this host's to remove ([`super::ownership`]).
    pub unclaimed: &'a [ObservedContainer],
    /// This host's AYON host name and server.
    pub me: Me<'a>,
    /// The server's whole service list, when it was read.
    pub catalog: Option<&'a Catalog>,
    /// Why the last read of that list failed, if it did.
    pub catalog_failure: Option<&'a str>,
    /// What inspection found of containers that carry no spec hash (started by `ash`).
    pub adoptions: &'a HashMap<String, Adoption>,
    /// Services stopped on this host by the user.
    pub paused: &'a BTreeSet<String>,
    pub paused_all: bool,
    /// Services with an action under way: left alone until it ends.
    pub in_flight: &'a HashSet<String>,
    /// Containers whose exit has been recorded already.
    pub exits_recorded: &'a HashSet<String>,
    /// Services that must wait before their next start (crash-loop backoff).
    pub start_blocked: &'a HashSet<String>,
    /// Services the user asked to restart.
    pub restart_requested: &'a HashSet<String>,
    /// Services whose running container's HEALTHCHECK has said unhealthy for longer than
    /// the host allows, and for how long.
    pub unhealthy_too_long: &'a HashMap<String, Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// No container yet: make one.
    Create {
        service: String,
        config: Box<ContainerConfig>,
    },
    /// A running container that must be replaced.
    Recreate {
        service: String,
        old_id: String,
        config: Box<ContainerConfig>,
        reason: RecreateReason,
    },
    /// A container that stopped by itself, after its backoff: replace it.
    Restart {
        service: String,
        old_id: String,
        config: Box<ContainerConfig>,
    },
    /// A container that stopped by itself: read its exit code and last output.
    RecordExit {
        service: String,
        container_id: String,
    },
    /// A running container without a spec hash (started by `ash`): compare it with what
    /// we would start, to adopt it as it is or replace it.
    Inspect {
        service: String,
        container_id: String,
        config: Box<ContainerConfig>,
    },
    /// Stop and remove.
    Remove {
        service: String,
        container_id: String,
        reason: RemoveReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecreateReason {
    SpecChanged,
    Requested,
    /// Its HEALTHCHECK has said unhealthy for this long, longer than the host allows.
    Unhealthy(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// The server no longer wants it on this host.
    Orphan,
    /// Started by ash for a service the server no longer has.
    DeletedOnServer,
    /// Started by ash for a service the server has for this host with `shouldRun` false.
    StoppedOnServer,
    /// Stopped on this host by the user.
    Paused,
    /// A second container of the same service.
    Duplicate,
}

impl Action {
    pub fn service(&self) -> &str {
        match self {
            Action::Create { service, .. }
            | Action::Recreate { service, .. }
            | Action::Restart { service, .. }
            | Action::RecordExit { service, .. }
            | Action::Inspect { service, .. }
            | Action::Remove { service, .. } => service,
        }
    }

    /// Whether it stops or replaces a container that is running.
    pub fn disturbs_running(&self) -> bool {
        matches!(self, Action::Recreate { .. } | Action::Remove { .. })
    }
}

/// The actions that converge this host, at most one per service except the removal of
/// duplicates and orphans.
pub fn plan(input: &PlanInput<'_>) -> Vec<Action> {
    let Some(desired) = input.desired else {
        return Vec::new();
    };
    // Sorted by service (stable: each service's containers stay in the order listed)
    // and walked beside the answer's items, which are sorted by name too: one sort and
    // one walk, where a map of one list per service was an allocation and a string
    // search per service on every pass. A service's containers are a slice of it. The
    // loop hands them sorted already, which this sort checks in one comparison each.
    let mut observed: Vec<&ObservedContainer> = input.observed.iter().collect();
    observed.sort_by(|a, b| a.service_name.cmp(&b.service_name));
    // Counted from the front, not searched: a service has one container, mostly.
    let group_end = |observed: &[&ObservedContainer], start: usize| {
        let name = &observed[start].service_name;
        start
            + observed[start..]
                .iter()
                .take_while(|c| c.service_name == *name)
                .count()
    };
    let mut actions = Vec::new();
    // The containers of services the answer does not name, in name order.
    let mut undeclared = Vec::new();
    let mut next = 0;
    // Each item's container and source are kept beside it.
    let items = desired
        .items()
        .iter()
        .zip(desired.configs())
        .zip(desired.sources());
    for ((item, config), source) in items {
        let service = item.name();
        while next < observed.len() && observed[next].service_name.as_str() < service {
            let end = group_end(&observed, next);
            undeclared.push(next..end);
            next = end;
        }
        // A second entry of one name (refused as such) finds its containers taken.
        let mut group = next..next;
        if next < observed.len() && observed[next].service_name == service {
            group.end = group_end(&observed, next);
            next = group.end;
        }
        let Desired::Run(_) = item else {
            // Invalid or imageless: never started, and what runs for it is left alone.
            continue;
        };
        if input.in_flight.contains(service) {
            continue;
        }
        let Some(config) = config else {
            continue;
        };
        // The local file's services, and a cached answer run while the server is away,
        // are not held back by the server's silence.
        let fresh = input.answer_fresh || *source != ServiceSource::Server;
        plan_service(
            input,
            fresh,
            service,
            config,
            &mut observed[group],
            &mut actions,
        );
    }
    while next < observed.len() {
        let end = group_end(&observed, next);
        undeclared.push(next..end);
        next = end;
    }

    if input.answer_fresh {
        for group in undeclared {
            let service = observed[group.start].service_name.as_str();
            if input.in_flight.contains(service) {
                continue;
            }
            for container in &observed[group] {
                actions.push(Action::Remove {
                    service: service.to_string(),
                    container_id: container.id.clone(),
                    reason: RemoveReason::Orphan,
                });
            }
        }
        for (container, verdict) in unclaimed_verdicts(input) {
            let reason = match verdict {
                Verdict::DeletedOnServer => RemoveReason::DeletedOnServer,
                Verdict::StoppedOnServer => RemoveReason::StoppedOnServer,
                Verdict::OtherHost { .. } | Verdict::OtherServer { .. } | Verdict::Unknown(_) => {
                    continue
                }
            };
            if input.in_flight.contains(&container.service_name) {
                continue;
            }
            actions.push(Action::Remove {
                service: container.service_name.clone(),
                container_id: container.id.clone(),
                reason,
            });
        }
    }
    actions
}

/// What becomes of each unclaimed container, as the plan decides it.
pub fn unclaimed_verdicts<'a>(
    input: &'a PlanInput<'_>,
) -> impl Iterator<Item = (&'a ObservedContainer, Verdict)> + 'a {
    input.unclaimed.iter().map(move |container| {
        let verdict = verdict(
            container,
            input.me,
            input.desired.is_some(),
            input.catalog,
            input.catalog_failure,
        );
        (container, verdict)
    })
}

fn plan_service(
    input: &PlanInput<'_>,
    fresh: bool,
    service: &str,
    config: &ContainerConfig,
    containers: &mut [&ObservedContainer],
    actions: &mut Vec<Action>,
) {
    let remove = |container: &ObservedContainer, reason| Action::Remove {
        service: service.to_string(),
        container_id: container.id.clone(),
        reason,
    };
    if input.paused_all || input.paused.contains(service) {
        actions.extend(containers.iter().map(|c| remove(c, RemoveReason::Paused)));
        return;
    }
    let restart_requested = input.restart_requested.contains(service);
    let may_start = !input.start_blocked.contains(service) || restart_requested;

    // Whether a container is what the current spec starts: `None` while it is not known
    // (a container `ash` started, not inspected yet).
    let current = |c: &ObservedContainer| match (&c.spec_hash, input.adoptions.get(&c.id)) {
        (Some(hash), _) | (None, Some(Adoption::Matches { spec_hash: hash })) => {
            Some(hash == config.spec_hash())
        }
        (None, Some(Adoption::Differs)) => Some(false),
        (None, None) => None,
    };
    // The keeper: running before stopped, the current spec before a stale one, newest.
    containers.sort_by_key(|c| {
        (
            c.status != ContainerStatus::Running,
            current(c) != Some(true),
            std::cmp::Reverse(c.created),
        )
    });
    let Some((keeper, duplicates)) = containers.split_first() else {
        if (fresh && may_start) || restart_requested {
            actions.push(Action::Create {
                service: service.to_string(),
                config: Box::new(config.clone()),
            });
        }
        return;
    };
    actions.extend(
        duplicates
            .iter()
            .map(|c| remove(c, RemoveReason::Duplicate)),
    );

    match keeper.status {
        ContainerStatus::Running => {
            let recreate = |reason| Action::Recreate {
                service: service.to_string(),
                old_id: keeper.id.clone(),
                config: Box::new(config.clone()),
                reason,
            };
            if restart_requested {
                actions.push(recreate(RecreateReason::Requested));
                return;
            }
            // A container's own health check outranks its spec: it is replaced even
            // while the server cannot be heard (the service was wanted as it is).
            if let Some(unhealthy_for) = input.unhealthy_too_long.get(service) {
                actions.push(recreate(RecreateReason::Unhealthy(*unhealthy_for)));
                return;
            }
            match current(keeper) {
                None => actions.push(Action::Inspect {
                    service: service.to_string(),
                    container_id: keeper.id.clone(),
                    config: Box::new(config.clone()),
                }),
                Some(true) => {}
                Some(false) if fresh => actions.push(recreate(RecreateReason::SpecChanged)),
                Some(false) => {}
            }
        }
        ContainerStatus::Exited => {
            if !input.exits_recorded.contains(&keeper.id) {
                actions.push(Action::RecordExit {
                    service: service.to_string(),
                    container_id: keeper.id.clone(),
                });
            } else if may_start {
                // A crash restart goes on even while the server cannot be heard: the
                // service was wanted and nothing said otherwise.
                actions.push(Action::Restart {
                    service: service.to_string(),
                    old_id: keeper.id.clone(),
                    config: Box::new(config.clone()),
                });
            }
        }
        ContainerStatus::Starting | ContainerStatus::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::LABEL_SPEC_HASH;
    use crate::testing::{desired as spec_for, host};
    use proptest::prelude::*;

    fn container(
        id: &str,
        service: &str,
        status: ContainerStatus,
        hash: Option<&str>,
    ) -> ObservedContainer {
        ObservedContainer {
            id: id.into(),
            name: crate::slug::container_name(service),
            service_name: service.into(),
            spec_hash: hash.map(String::from),
            host: Some("h".into()),
            image: "img".into(),
            image_id: None,
            status,
            created: 1,
            health: None,
        }
    }

    struct World {
        desired: DesiredSet,
        observed: Vec<ObservedContainer>,
        fresh: bool,
        paused: BTreeSet<String>,
        paused_all: bool,
        in_flight: HashSet<String>,
        recorded: HashSet<String>,
        blocked: HashSet<String>,
        restart: HashSet<String>,
        unhealthy: HashMap<String, Duration>,
        adopted: HashMap<String, Adoption>,
        unclaimed: Vec<ObservedContainer>,
        catalog: Option<Catalog>,
        catalog_failure: Option<String>,
    }

    impl World {
        fn new(desired: Vec<Desired>) -> World {
            World {
                desired: DesiredSet::new(desired, vec![], &host()),
                observed: vec![],
                fresh: true,
                paused: Default::default(),
                paused_all: false,
                in_flight: Default::default(),
                recorded: Default::default(),
                blocked: Default::default(),
                restart: Default::default(),
                unhealthy: Default::default(),
                adopted: Default::default(),
                unclaimed: vec![],
                catalog: None,
                catalog_failure: None,
            }
        }
        fn hash(&self, service: &str) -> String {
            self.desired.config(service).unwrap().labels[LABEL_SPEC_HASH].clone()
        }
        fn plan(&self) -> Vec<Action> {
            plan(&PlanInput {
                desired: Some(&self.desired),
                answer_fresh: self.fresh,
                observed: &self.observed,
                unclaimed: &self.unclaimed,
                me: ME,
                catalog: self.catalog.as_ref(),
                catalog_failure: self.catalog_failure.as_deref(),
                adoptions: &self.adopted,
                paused: &self.paused,
                paused_all: self.paused_all,
                in_flight: &self.in_flight,
                exits_recorded: &self.recorded,
                start_blocked: &self.blocked,
                restart_requested: &self.restart,
                unhealthy_too_long: &self.unhealthy,
            })
        }
    }

    fn kinds(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| {
                let kind = match a {
                    Action::Create { .. } => "create",
                    Action::Recreate { .. } => "recreate",
                    Action::Restart { .. } => "restart",
                    Action::RecordExit { .. } => "record",
                    Action::Inspect { .. } => "inspect",
                    Action::Remove { .. } => "remove",
                };
                format!("{kind} {}", a.service())
            })
            .collect()
    }

    #[test]
    fn missing_services_are_created_and_running_ones_left_alone() {
        let mut world = World::new(vec![spec_for("a", "img"), spec_for("b", "img")]);
        world.observed = vec![container(
            "1",
            "a",
            ContainerStatus::Running,
            Some(&world.hash("a")),
        )];
        assert_eq!(kinds(&world.plan()), ["create b"]);
    }

    #[test]
    fn orphans_are_removed_only_on_a_fresh_answer() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        world.observed = vec![
            container("1", "a", ContainerStatus::Running, Some(&world.hash("a"))),
            container("2", "gone", ContainerStatus::Running, Some("x")),
        ];
        assert_eq!(kinds(&world.plan()), ["remove gone"]);
        world.fresh = false;
        assert!(world.plan().is_empty());
    }

    #[test]
    fn no_answer_yet_means_no_action_at_all() {
        let observed = vec![container("2", "gone", ContainerStatus::Running, Some("x"))];
        let input = PlanInput {
            desired: None,
            answer_fresh: false,
            observed: &observed,
            unclaimed: &observed,
            me: ME,
            catalog: None,
            catalog_failure: None,
            adoptions: &HashMap::new(),
            paused: &BTreeSet::new(),
            paused_all: false,
            in_flight: &HashSet::new(),
            exits_recorded: &HashSet::new(),
            start_blocked: &HashSet::new(),
            restart_requested: &HashSet::new(),
            unhealthy_too_long: &HashMap::new(),
        };
        assert!(plan(&input).is_empty());
    }

    #[test]
    fn a_changed_spec_recreates_but_not_while_the_server_is_stale() {
        let mut world = World::new(vec![spec_for("a", "img:2")]);
        world.observed = vec![container("1", "a", ContainerStatus::Running, Some("old"))];
        assert!(matches!(
            world.plan().as_slice(),
            [Action::Recreate { reason: RecreateReason::SpecChanged, old_id, .. }] if old_id == "1"
        ));
        world.fresh = false;
        assert!(world.plan().is_empty());
    }

    #[test]
    fn a_container_unhealthy_too_long_is_recreated_saying_for_how_long() {
        let mut world = World::new(vec![spec_for("a", "img"), spec_for("b", "img")]);
        world.observed = vec![
            container("1", "a", ContainerStatus::Running, Some(&world.hash("a"))),
            container("2", "b", ContainerStatus::Running, Some(&world.hash("b"))),
        ];
        assert!(world.plan().is_empty());
        world.unhealthy.insert("a".into(), Duration::from_secs(61));
        world.fresh = false;
        assert!(matches!(
            world.plan().as_slice(),
            [Action::Recreate { service, reason: RecreateReason::Unhealthy(d), old_id, .. }]
                if service == "a" && old_id == "1" && d.as_secs() == 61
        ));
        world.in_flight.insert("a".into());
        assert!(
            world.plan().is_empty(),
            "not twice while its recreate is under way"
        );
    }

    #[test]
    fn an_unlabelled_container_is_inspected_then_adopted_or_replaced() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        world.observed = vec![container("1", "a", ContainerStatus::Running, None)];
        assert_eq!(kinds(&world.plan()), ["inspect a"]);
        let spec_hash = world.hash("a");
        world
            .adopted
            .insert("1".into(), Adoption::Matches { spec_hash });
        assert!(world.plan().is_empty());
        world.adopted.insert(
            "1".into(),
            Adoption::Matches {
                spec_hash: "an older spec".into(),
            },
        );
        assert_eq!(kinds(&world.plan()), ["recreate a"]);
        world.adopted.insert("1".into(), Adoption::Differs);
        assert_eq!(kinds(&world.plan()), ["recreate a"]);
    }

    #[test]
    fn an_exited_container_is_recorded_then_restarted_after_backoff() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        world.observed = vec![container(
            "1",
            "a",
            ContainerStatus::Exited,
            Some(&world.hash("a")),
        )];
        assert_eq!(kinds(&world.plan()), ["record a"]);
        world.recorded.insert("1".into());
        world.blocked.insert("a".into());
        assert!(world.plan().is_empty());
        world.blocked.clear();
        world.fresh = false; // a crash restart does not need the server
        assert_eq!(kinds(&world.plan()), ["restart a"]);
    }

    #[test]
    fn paused_services_are_stopped_and_not_started() {
        let mut world = World::new(vec![spec_for("a", "img"), spec_for("b", "img")]);
        world.observed = vec![container(
            "1",
            "a",
            ContainerStatus::Running,
            Some(&world.hash("a")),
        )];
        world.paused.insert("a".into());
        world.paused.insert("b".into());
        assert_eq!(kinds(&world.plan()), ["remove a"]);
        world.paused.clear();
        world.paused_all = true;
        assert_eq!(kinds(&world.plan()), ["remove a"]);
    }

    #[test]
    fn duplicates_lose_to_the_running_current_one() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        let hash = world.hash("a");
        world.observed = vec![
            container("old", "a", ContainerStatus::Running, Some("stale")),
            container("good", "a", ContainerStatus::Running, Some(&hash)),
            container("dead", "a", ContainerStatus::Exited, Some(&hash)),
        ];
        let actions = world.plan();
        assert_eq!(kinds(&actions), ["remove a", "remove a"]);
        assert!(actions
            .iter()
            .all(|a| !matches!(a, Action::Remove { container_id, .. } if container_id == "good")));
    }

    #[test]
    fn bad_or_imageless_specs_leave_their_containers_alone() {
        let mut world = World::new(vec![
            spec_for("bad", "Not An Image"),
            spec_for("noimg", ""),
            spec_for("ok", "img"),
        ]);
        world.observed = vec![
            container("1", "bad", ContainerStatus::Running, Some("x")),
            container("2", "noimg", ContainerStatus::Running, Some("y")),
        ];
        assert_eq!(kinds(&world.plan()), ["create ok"]);
    }

    #[test]
    fn in_flight_services_and_requested_restarts() {
        let mut world = World::new(vec![spec_for("a", "img"), spec_for("b", "img")]);
        world.observed = vec![container(
            "1",
            "a",
            ContainerStatus::Running,
            Some(&world.hash("a")),
        )];
        world.in_flight.insert("b".into());
        world.restart.insert("a".into());
        assert_eq!(kinds(&world.plan()), ["recreate a"]);
    }

    #[test]
    fn a_requested_restart_ignores_backoff() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        world.blocked.insert("a".into());
        assert!(world.plan().is_empty());
        world.restart.insert("a".into());
        assert_eq!(kinds(&world.plan()), ["create a"]);
    }

    const ME: Me<'static> = Me {
        hostname: "h",
        server_url: "http://s",
    };

    fn ash_container(id: &str, service: &str) -> ObservedContainer {
        ObservedContainer {
            host: None,
            spec_hash: None,
            ..container(id, service, ContainerStatus::Running, None)
        }
    }

    fn server_list(owners: &[(&str, &str, bool)], covers: &[&str]) -> Catalog {
        use crate::ayon::wire::{ServiceOwner, ServiceOwners};
        Catalog::new(
            ServiceOwners {
                owners: owners
                    .iter()
                    .map(|(name, host, should_run)| ServiceOwner {
                        name: name.to_string(),
                        hostname: host.to_string(),
                        should_run: *should_run,
                    })
                    .collect(),
                unreadable: 0,
            },
            covers
                .iter()
                .map(|id| (id.to_string(), Some(ME.server_url.to_string())))
                .collect(),
        )
    }

    fn removals(actions: &[Action]) -> Vec<(String, RemoveReason)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Remove {
                    container_id,
                    reason,
                    ..
                } => Some((container_id.clone(), *reason)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ash_containers_of_other_hosts_are_left_alone() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        world.unclaimed = vec![ash_container("x1", "theirs")];
        // Before the service list is read, and when it cannot be: nothing is touched.
        assert_eq!(kinds(&world.plan()), ["create a"]);
        world.catalog_failure = Some("the AYON server failed (500)".into());
        assert_eq!(kinds(&world.plan()), ["create a"]);
        // The server runs it on another host: never touched.
        world.catalog = Some(server_list(
            &[("a", "h", true), ("theirs", "sw-07", true)],
            &["x1"],
        ));
        world.catalog_failure = None;
        assert_eq!(kinds(&world.plan()), ["create a"]);
    }

    #[test]
    fn ash_containers_of_services_gone_or_stopped_here_are_removed() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        world.unclaimed = vec![ash_container("x1", "deleted"), ash_container("x2", "off")];
        world.catalog = Some(server_list(
            &[("a", "h", true), ("off", "h", false)],
            &["x1", "x2"],
        ));
        assert_eq!(
            removals(&world.plan()),
            [
                ("x1".to_string(), RemoveReason::DeletedOnServer),
                ("x2".to_string(), RemoveReason::StoppedOnServer)
            ]
        );
        // Not while the server cannot be heard, nor while a removal is under way.
        world.fresh = false;
        assert!(removals(&world.plan()).is_empty());
        world.fresh = true;
        world.in_flight.insert("deleted".into());
        assert_eq!(
            removals(&world.plan()),
            [("x2".to_string(), RemoveReason::StoppedOnServer)]
        );
    }

    #[test]
    fn a_list_read_before_the_container_appeared_decides_nothing() {
        let mut world = World::new(vec![spec_for("a", "img")]);
        world.unclaimed = vec![ash_container("new", "declared-since")];
        world.catalog = Some(server_list(&[("a", "h", true)], &["older"]));
        assert!(removals(&world.plan()).is_empty());
    }

    fn arb_status() -> impl Strategy<Value = ContainerStatus> {
        prop_oneof![
            Just(ContainerStatus::Running),
            Just(ContainerStatus::Exited),
            Just(ContainerStatus::Starting),
            Just(ContainerStatus::Other)
        ]
    }

    proptest! {
        #[test]
        fn never_two_starts_for_one_service_and_nothing_disturbed_when_stale(
            services in proptest::collection::btree_set("[a-d]", 0..4),
            containers in proptest::collection::vec(("[a-f]", arb_status(), any::<bool>()), 0..8),
            fresh in any::<bool>(),
        ) {
            let desired: Vec<Desired> = services.iter().map(|s| spec_for(s, "img")).collect();
            let mut world = World::new(desired);
            world.fresh = fresh;
            world.observed = containers.iter().enumerate().map(|(i, (service, status, current))| {
                let hash = match (world.desired.config(service.as_str()), current) {
                    (Some(config), true) => config.spec_hash().to_string(),
                    _ => "stale".to_string(),
                };
                container(&i.to_string(), service, *status, Some(&hash))
            }).collect();
            let actions = world.plan();
            let mut starts: HashMap<&str, usize> = HashMap::new();
            for action in &actions {
                if matches!(action, Action::Create { .. } | Action::Recreate { .. } | Action::Restart { .. }) {
                    *starts.entry(action.service()).or_default() += 1;
                }
                if !fresh {
                    prop_assert!(!action.disturbs_running() || matches!(action, Action::Remove { reason: RemoveReason::Duplicate, .. }),
                        "stale answer but {action:?}");
                    let is_create = matches!(action, Action::Create { .. });
                    prop_assert!(!is_create, "stale answer but {:?}", action);
                }
                // A running container with the current spec is never stopped unless it is a duplicate.
                if let Action::Remove { container_id, .. } | Action::Recreate { old_id: container_id, .. } = action {
                    let observed = world.observed.iter().find(|c| &c.id == container_id).unwrap();
                    let current = world.desired.config(&observed.service_name).is_some_and(|w| Some(w.spec_hash()) == observed.spec_hash.as_deref());
                    if current && observed.status == ContainerStatus::Running {
                        let duplicate = matches!(action, Action::Remove { reason: RemoveReason::Duplicate, .. });
                        prop_assert!(duplicate, "stopped a current container: {:?}", action);
                    }
                }
            }
            prop_assert!(starts.values().all(|n| *n <= 1));
        }
    }
}
