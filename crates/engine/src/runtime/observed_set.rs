//! The engine's service containers kept from its event stream instead of listed each
//! tick, as kube-runtime's reflector keeps a cache: one list to start from, then every
//! event applied to it by one pure function, [`ObservedSet::apply`].
//!
//! Correct as long as the events are a complete suffix of the engine's history that
//! begins at or before the list: each event sets what it is about to what it was at that
//! moment, so replaying events the list already saw converges on the same set. Where
//! the stream may have a gap (it broke, the engine went away) the loop lists again.
//!
//! What events cannot carry, a list can: a container created by someone else shows no
//! health until its HEALTHCHECK's first verdict (a list would say `starting`), and its
//! creation time is the event's, to the second. Containers this host creates or removes
//! are listed again right after (the loop does that), so they are exact.

use std::collections::BTreeMap;

use super::{ContainerEvent, ContainerStatus, ObservedContainer};
use crate::host_state::ContainerHealth;

/// This engine's service containers, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedSet {
    containers: BTreeMap<String, ObservedContainer>,
}

impl ObservedSet {
    /// The set a list shows.
    pub fn from_list(containers: Vec<ObservedContainer>) -> ObservedSet {
        ObservedSet {
            containers: containers.into_iter().map(|c| (c.id.clone(), c)).collect(),
        }
    }

    /// The containers in the order a list gives them: oldest first, then by id.
    pub fn to_list(&self) -> Vec<ObservedContainer> {
        let mut all: Vec<ObservedContainer> = self.containers.values().cloned().collect();
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        all
    }

    pub fn contains(&self, id: &str) -> bool {
        self.containers.contains_key(id)
    }

    /// Whether `event` tells of a container the set does not hold without saying enough
    /// to add it (an engine whose events carry no labels): only a list can.
    pub fn needs_a_list(&self, event: &ContainerEvent) -> bool {
        matches!(event.action.as_str(), "create" | "start")
            && event.service_name.is_none()
            && !self.contains(&event.container_id)
    }

    pub fn len(&self) -> usize {
        self.containers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }

    /// One event applied; `true` when the set changed (the loop then looks again).
    /// Events about nothing the set keeps (`exec_*`, `kill`, `attach`...) change nothing.
    pub fn apply(&mut self, event: &ContainerEvent) -> bool {
        let id = &event.container_id;
        let action = event.action.as_str();
        if let Some(health) = action.strip_prefix("health_status") {
            let health = match health.trim_start_matches(':').trim() {
                "starting" => Some(ContainerHealth::Starting),
                "healthy" => Some(ContainerHealth::Healthy),
                "unhealthy" => Some(ContainerHealth::Unhealthy),
                _ => None,
            };
            return self.update(id, |c| c.health = health);
        }
        match action {
            // An id is created once: one known already was listed after its creation,
            // so the event is older than what the set holds.
            "create" if !self.containers.contains_key(id) => {
                self.insert(event, ContainerStatus::Starting)
            }
            "start" if !self.containers.contains_key(id) => {
                // Its create came before the stream began: what the event says is all.
                self.insert(event, ContainerStatus::Running)
            }
            "start" | "unpause" => self.update(id, |c| {
                if c.status != ContainerStatus::Running {
                    // A HEALTHCHECK starts over with the container.
                    if c.health.is_some() && action == "start" {
                        c.health = Some(ContainerHealth::Starting);
                    }
                    c.status = ContainerStatus::Running;
                }
            }),
            "die" => self.update(id, |c| c.status = ContainerStatus::Exited),
            "pause" => self.update(id, |c| c.status = ContainerStatus::Other),
            "rename" => match &event.name {
                Some(name) => {
                    let name = name.trim_start_matches('/').to_string();
                    self.update(id, |c| c.name = name)
                }
                None => false,
            },
            "destroy" => self.containers.remove(id).is_some(),
            _ => false,
        }
    }

    fn insert(&mut self, event: &ContainerEvent, status: ContainerStatus) -> bool {
        // Without the service label it is no service container: a list would not show it.
        let Some(service_name) = event.service_name.clone() else {
            return false;
        };
        let container = ObservedContainer {
            id: event.container_id.clone(),
            name: event
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            service_name,
            spec_hash: event.spec_hash.clone(),
            host: event.host.clone(),
            image: event.image.clone().unwrap_or_default(),
            // Events name the image, not its id: the details view shows none for a
            // container someone else made until the next list (ours are listed anyway).
            image_id: None,
            status,
            created: event.time,
            health: None,
        };
        self.containers.insert(container.id.clone(), container);
        true
    }

    fn update(&mut self, id: &str, change: impl FnOnce(&mut ObservedContainer)) -> bool {
        let Some(container) = self.containers.get_mut(id) else {
            return false;
        };
        let before = container.clone();
        change(container);
        *container != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, id: &str) -> ContainerEvent {
        ContainerEvent {
            action: action.to_string(),
            container_id: id.to_string(),
            service_name: Some("a".into()),
            exit_code: (action == "die").then_some(1),
            made_by_ashtray: true,
            name: Some("aysvc_a".into()),
            image: Some("img:1".into()),
            spec_hash: Some("h1".into()),
            host: Some("h".into()),
            time: 7,
            replayed: false,
        }
    }

    fn status_of(set: &ObservedSet, id: &str) -> Option<ContainerStatus> {
        set.to_list()
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| c.status)
    }

    #[test]
    fn a_container_lives_through_create_start_die_and_destroy() {
        let mut set = ObservedSet::default();
        assert!(set.apply(&event("create", "c1")));
        assert_eq!(status_of(&set, "c1"), Some(ContainerStatus::Starting));
        let listed = &set.to_list()[0];
        assert_eq!(
            (
                listed.name.as_str(),
                listed.image.as_str(),
                listed.spec_hash.as_deref(),
                listed.host.as_deref(),
                listed.created
            ),
            ("aysvc_a", "img:1", Some("h1"), Some("h"), 7)
        );
        assert!(set.apply(&event("start", "c1")));
        assert_eq!(status_of(&set, "c1"), Some(ContainerStatus::Running));
        assert!(set.apply(&event("die", "c1")));
        assert_eq!(status_of(&set, "c1"), Some(ContainerStatus::Exited));
        assert!(set.apply(&event("destroy", "c1")));
        assert!(set.is_empty());
    }

    #[test]
    fn events_about_nothing_kept_change_nothing() {
        let mut set = ObservedSet::default();
        set.apply(&event("create", "c1"));
        set.apply(&event("start", "c1"));
        for action in [
            "exec_create: sh",
            "exec_start: sh",
            "exec_die",
            "kill",
            "attach",
        ] {
            assert!(!set.apply(&event(action, "c1")), "{action}");
        }
        // Of a container the set does not know, only create and start say enough.
        for action in ["die", "destroy", "health_status: healthy", "pause"] {
            assert!(!set.apply(&event(action, "c9")), "{action}");
        }
        let mut unlabelled = event("create", "c2");
        unlabelled.service_name = None;
        assert!(
            set.needs_a_list(&unlabelled),
            "the stream is filtered on the label"
        );
        assert!(!set.apply(&unlabelled), "it cannot be added from the event");
        assert!(!set.needs_a_list(&event("create", "c3")));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn an_old_event_does_not_undo_what_a_list_saw_after_it() {
        let mut set = ObservedSet::default();
        set.apply(&event("create", "c1"));
        set.apply(&event("start", "c1"));
        // The create and start again, replayed from before the list: nothing moves.
        assert!(!set.apply(&event("create", "c1")));
        assert!(!set.apply(&event("start", "c1")));
        assert_eq!(status_of(&set, "c1"), Some(ContainerStatus::Running));
    }

    #[test]
    fn health_follows_its_events_and_starts_over_with_the_container() {
        let mut set = ObservedSet::default();
        set.apply(&event("start", "c1"));
        assert!(set.apply(&event("health_status: unhealthy", "c1")));
        assert_eq!(set.to_list()[0].health, Some(ContainerHealth::Unhealthy));
        set.apply(&event("die", "c1"));
        set.apply(&event("start", "c1"));
        assert_eq!(set.to_list()[0].health, Some(ContainerHealth::Starting));
        set.apply(&event("health_status: healthy", "c1"));
        assert_eq!(set.to_list()[0].health, Some(ContainerHealth::Healthy));
    }

    #[test]
    fn pause_rename_and_unpause() {
        let mut set = ObservedSet::default();
        set.apply(&event("start", "c1"));
        set.apply(&event("pause", "c1"));
        assert_eq!(status_of(&set, "c1"), Some(ContainerStatus::Other));
        let mut renamed = event("rename", "c1");
        renamed.name = Some("/other".into());
        assert!(set.apply(&renamed));
        assert_eq!(set.to_list()[0].name, "other");
        set.apply(&event("unpause", "c1"));
        assert_eq!(status_of(&set, "c1"), Some(ContainerStatus::Running));
    }
}

/// The event-kept set against a fresh list, after every step of random histories of the
/// in-memory engine (which emits the events Docker does for each step).
#[cfg(test)]
mod equivalence {
    use futures::FutureExt;
    use futures::StreamExt;
    use proptest::prelude::*;

    use super::ObservedSet;
    use crate::host_state::ContainerHealth;
    use crate::runtime::memory::MemoryRuntime;
    use crate::runtime::ContainerRuntime;
    use crate::testing::config;

    /// What may happen to the engine; containers and services are picked by index.
    #[derive(Debug, Clone)]
    enum Step {
        /// ashtray creates and starts the service's container (a leftover of the name
        /// is removed first, as Docker's name conflict makes it).
        Create(usize),
        /// `ash` runs one: no spec hash, no host label, removed when it dies.
        RunAsAsh(usize),
        /// Its process ends with this code.
        Kill(usize, i64),
        /// `docker rm -f`.
        Remove(usize),
        /// `docker start` of an exited one.
        StartAgain(usize),
        Health(usize, u8),
        Rename(usize),
        /// A health check's exec events.
        Exec(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..4usize).prop_map(Step::Create),
            1 => (0..4usize).prop_map(Step::RunAsAsh),
            2 => (0..8usize, prop_oneof![Just(0i64), Just(1), Just(137)])
                .prop_map(|(c, code)| Step::Kill(c, code)),
            2 => (0..8usize).prop_map(Step::Remove),
            1 => (0..8usize).prop_map(Step::StartAgain),
            2 => (0..8usize, 0..3u8).prop_map(|(c, h)| Step::Health(c, h)),
            1 => (0..8usize).prop_map(Step::Rename),
            1 => (0..8usize).prop_map(Step::Exec),
        ]
    }

    async fn apply(engine: &MemoryRuntime, step: &Step) {
        let services = ["a", "b", "c", "d"];
        let pick = |index: usize| {
            let all = engine.containers();
            (!all.is_empty()).then(|| all[index % all.len()].clone())
        };
        let service_of = |container: &crate::runtime::memory::MemoryContainer| {
            container.labels[crate::container::LABEL_SERVICE_NAME].clone()
        };
        match step {
            Step::Create(s) => {
                engine
                    .create_and_start(&config(services[*s], "img:1"))
                    .await
                    .unwrap();
            }
            Step::RunAsAsh(s) => {
                engine.run_as_ash(&config(services[*s], "img:1"));
            }
            Step::Kill(c, code) => {
                if let Some(container) = pick(*c) {
                    engine.kill(&service_of(&container), *code);
                }
            }
            Step::Remove(c) => {
                if let Some(container) = pick(*c) {
                    engine
                        .stop_and_remove(&container.id, std::time::Duration::ZERO)
                        .await
                        .unwrap();
                }
            }
            Step::StartAgain(c) => {
                if let Some(container) = pick(*c) {
                    engine.start_again(&container.id);
                }
            }
            Step::Health(c, h) => {
                if let Some(container) = pick(*c) {
                    let health = [
                        ContainerHealth::Starting,
                        ContainerHealth::Healthy,
                        ContainerHealth::Unhealthy,
                    ][*h as usize];
                    engine.set_health(&service_of(&container), health);
                }
            }
            Step::Rename(c) => {
                if let Some(container) = pick(*c) {
                    engine.rename(&container.id, &format!("{}-renamed", container.name));
                }
            }
            Step::Exec(c) => {
                if let Some(container) = pick(*c) {
                    engine.exec(&container.id);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Half of `before` happens before the stream is asked for, the other half after
        /// it and before the list (so those events replay what the list already shows);
        /// then each step of `after` is followed by the comparison.
        #[test]
        fn the_event_kept_set_equals_a_fresh_list_after_every_step(
            before in proptest::collection::vec(step(), 0..6),
            after in proptest::collection::vec(step(), 1..40),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            rt.block_on(async {
                let engine = MemoryRuntime::new();
                for step in &before[..before.len() / 2] {
                    apply(&engine, step).await;
                }
                let mut events = engine.events();
                for step in &before[before.len() / 2..] {
                    apply(&engine, step).await;
                }
                let mut kept = ObservedSet::from_list(engine.list_service_containers().await.unwrap());
                for step in &after {
                    apply(&engine, step).await;
                    while let Some(Some(event)) = events.next().now_or_never() {
                        kept.apply(&event.unwrap());
                    }
                    let listed = engine.list_service_containers().await.unwrap();
                    prop_assert_eq!(kept.to_list(), listed, "after {:?}", step);
                }
                Ok(())
            })?;
        }
    }
}
