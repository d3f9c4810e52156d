//! The desired set: what the server's last answer asks of this host, in the three forms
//! the loop needs, made by ONE pure function (answer → validated specs → container
//! configs → problems), so the spec → container conversion has one home.
//!
//! It never talks to the server or the container engine, and keeps no history: a new
//! answer is a new set, handed on as a value.

use std::collections::BTreeMap;

use serde_json::Value;

use super::answer_fingerprint::AnswerFingerprint;
use crate::container::{ContainerConfig, HostSettings};
use crate::host_state::ServiceSource;
use crate::slug::container_name;
use crate::spec::{read_answer, Desired, ServiceSpec, SpecError};

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSet {
    /// Sorted by name; of two entries of one name, the answer's first comes first.
    items: Vec<Desired>,
    /// The container of each item (beside it, at the same index) that is runnable. Kept
    /// beside the items, not by name: the plan and the snapshot walk the items on every
    /// pass, and a search or a walk of a map by name per service cost them more than all
    /// else they do for a steady service.
    configs: Vec<Option<ContainerConfig>>,
    /// Entries of the answer that are not service objects at all, said as text.
    problems: Vec<String>,
    /// What the answer this set was read from asks, when it was read from one: the next
    /// answer is compared with it ([`DesiredSet::fingerprint`]).
    answer: Option<AnswerFingerprint>,
    /// Who declares each item, beside it. A name's source is its first entry's.
    sources: Vec<ServiceSource>,
}

impl DesiredSet {
    /// A heartbeat answer's entries, read for a host with these settings.
    pub fn from_answer(entries: &[Value], host: &HostSettings) -> DesiredSet {
        let (items, malformed) = read_answer(entries);
        DesiredSet {
            answer: Some(AnswerFingerprint::of(entries)),
            ..DesiredSet::new(
                items,
                malformed.iter().map(ToString::to_string).collect(),
                host,
            )
        }
    }

    /// Whether `entries` ask exactly what this set's answer asked, the heartbeat
    /// bookkeeping of each entry aside. Most answers repeat the last one; reading such an
    /// answer again would validate every spec and build every container config (with
    /// its hash) on every tick, for the same set.
    pub fn says_the_same_as(&self, entries: &[Value]) -> bool {
        self.answer == Some(AnswerFingerprint::of(entries))
    }

    /// What the answer this set was read from asks; `None` for a set not read from an
    /// answer alone (merged with the local file's, or made by hand). The loop compares
    /// the next answer's fingerprint, taken off the loop, with it.
    pub fn fingerprint(&self) -> Option<AnswerFingerprint> {
        self.answer
    }

    pub fn new(mut items: Vec<Desired>, problems: Vec<String>, host: &HostSettings) -> DesiredSet {
        // By name, so that `get` is a binary search: the loop asks for each service on
        // every tick, and a list walk would make a tick quadratic in the services. Stable,
        // so of two entries with one name the first stays first.
        items.sort_by(|a, b| a.name().cmp(b.name()));
        let configs = configs_for(&items, host);
        DesiredSet {
            sources: vec![ServiceSource::default(); items.len()],
            items,
            configs,
            problems,
            answer: None,
        }
    }

    /// The same answer for changed host settings (the network learned on connecting).
    pub fn for_host(self, host: &HostSettings) -> DesiredSet {
        // The items are sorted already: `new` keeps their order, and the sources beside.
        let sources = self.sources;
        DesiredSet {
            sources,
            answer: self.answer,
            ..DesiredSet::new(self.items, self.problems, host)
        }
    }

    /// The same set, every service of it declared by `source`.
    pub fn from_source(mut self, source: ServiceSource) -> DesiredSet {
        self.sources = vec![source; self.items.len()];
        self
    }

    /// Who declares the service `name`.
    pub fn source(&self, name: &str) -> ServiceSource {
        self.first_of(name)
            .map_or_else(ServiceSource::default, |i| self.sources[i])
    }

    /// The index of the first entry named `name`.
    fn first_of(&self, name: &str) -> Option<usize> {
        let first = self.items.partition_point(|d| d.name() < name);
        self.items
            .get(first)
            .is_some_and(|d| d.name() == name)
            .then_some(first)
    }

    /// The server's set (its answer, or the cached one) and the local services file's,
    /// as one. A name both declare is an error on that service (so is a local name
    /// that makes the same container name as a server's): neither runs, and what runs
    /// for it is left alone, never a second container. `local_origin` names the file.
    pub fn merge(
        server: Option<DesiredSet>,
        local: Option<DesiredSet>,
        local_origin: &str,
    ) -> Option<DesiredSet> {
        let (mut merged, local) = match (server, local) {
            (None, None) => return None,
            (Some(set), None) | (None, Some(set)) => return Some(set),
            (Some(server), Some(local)) => (server, local),
        };
        let containers: BTreeMap<String, String> = merged
            .items
            .iter()
            .map(|d| (container_name(d.name()), d.name().to_string()))
            .collect();
        let mut added = Vec::new();
        let local_entries = local
            .items
            .into_iter()
            .zip(local.configs)
            .zip(local.sources);
        for ((item, config), source) in local_entries {
            let name = item.name().to_string();
            let clash = match containers.get(&container_name(&name)) {
                Some(other) if *other == name => Some(format!(
                    "is declared both in {local_origin} and by the AYON server: rename or remove one of them (neither is started until then)"
                )),
                Some(other) => Some(format!(
                    "makes the container name {}, already used by the server's service {other:?}: rename it in {local_origin}",
                    container_name(&name)
                )),
                None => None,
            };
            let Some(problem) = clash else {
                added.push((item, config, source));
                continue;
            };
            let error = Desired::Invalid(SpecError {
                service: name.clone(),
                field: "name",
                value: name.clone(),
                problem,
            });
            match merged.items.iter().position(|d| d.name() == name) {
                Some(first) => {
                    merged.items[first] = error;
                    merged.configs[first] = None;
                    merged.sources[first] = ServiceSource::Local;
                }
                None => added.push((error, None, ServiceSource::Local)),
            }
        }
        if !added.is_empty() {
            let mut entries: Vec<_> = std::mem::take(&mut merged.items)
                .into_iter()
                .zip(std::mem::take(&mut merged.configs))
                .zip(std::mem::take(&mut merged.sources))
                .map(|((item, config), source)| (item, config, source))
                .chain(added)
                .collect();
            // Stable: the server's entries of a name before the file's.
            entries.sort_by(|a, b| a.0.name().cmp(b.0.name()));
            for (item, config, source) in entries {
                merged.items.push(item);
                merged.configs.push(config);
                merged.sources.push(source);
            }
        }
        merged.problems.extend(local.problems);
        // No longer the server's answer alone: never "the same" as one.
        merged.answer = None;
        Some(merged)
    }

    /// Every service of the answer, runnable or not, by name.
    pub fn items(&self) -> &[Desired] {
        &self.items
    }

    /// The first entry named `name`.
    pub fn get(&self, name: &str) -> Option<&Desired> {
        let first = self.items.partition_point(|d| d.name() < name);
        self.items.get(first).filter(|d| d.name() == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(Desired::name)
    }

    /// The container a runnable service should have.
    pub fn config(&self, name: &str) -> Option<&ContainerConfig> {
        let first = self.first_of(name)?;
        self.items[first..]
            .iter()
            .zip(&self.configs[first..])
            .take_while(|(d, _)| d.name() == name)
            .find_map(|(_, config)| config.as_ref())
    }

    /// The container of each item of [`Self::items`], at its index: `None` for one that
    /// is not runnable. For a walk beside the items (the plan's and the snapshot's), where
    /// [`Self::config`] would search once per service.
    pub fn configs(&self) -> &[Option<ContainerConfig>] {
        &self.configs
    }

    /// Who declares each item of [`Self::items`], at its index.
    pub fn sources(&self) -> &[ServiceSource] {
        &self.sources
    }

    /// The runnable services' specs.
    pub fn specs(&self) -> impl Iterator<Item = &ServiceSpec> {
        self.items.iter().filter_map(|d| match d {
            Desired::Run(spec) => Some(spec.as_ref()),
            _ => None,
        })
    }

    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

fn configs_for(items: &[Desired], host: &HostSettings) -> Vec<Option<ContainerConfig>> {
    items
        .iter()
        .map(|d| match d {
            Desired::Run(spec) => Some(ContainerConfig::for_service(spec, host)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{entry, host};
    use serde_json::json;

    #[test]
    fn an_answer_becomes_specs_configs_and_problems_in_one_step() {
        let set = DesiredSet::from_answer(
            &[entry("a", "img:1"), entry("bad", "Not An Image"), json!(42)],
            &host(),
        );
        assert_eq!(set.names().collect::<Vec<_>>(), ["a", "bad"]);
        assert_eq!(set.config("a").map(|c| c.image.as_str()), Some("img:1"));
        assert!(
            set.config("bad").is_none(),
            "an invalid spec gets no container"
        );
        assert!(matches!(set.get("bad"), Some(Desired::Invalid(_))));
        assert_eq!(set.problems().len(), 1);
    }

    fn local(entries: &[serde_json::Value]) -> DesiredSet {
        DesiredSet::from_answer(entries, &host()).from_source(ServiceSource::Local)
    }

    /// Each item's container and source are at its index: the container a runnable
    /// item's, none for the rest.
    fn assert_beside(set: &DesiredSet) {
        assert_eq!(set.configs().len(), set.items().len());
        assert_eq!(set.sources().len(), set.items().len());
        for (item, config) in set.items().iter().zip(set.configs()) {
            match (item, config) {
                (Desired::Run(spec), Some(config)) => {
                    assert_eq!(config.name, container_name(&spec.name));
                    assert_eq!(config.image, spec.image);
                }
                (Desired::Run(_), None) | (_, Some(_)) => {
                    panic!("{} has the wrong container beside it", item.name())
                }
                _ => {}
            }
        }
    }

    #[test]
    fn merging_keeps_each_services_source() {
        let server = DesiredSet::from_answer(&[entry("a", "img:1"), entry("c", "img:3")], &host());
        let merged = DesiredSet::merge(Some(server), Some(local(&[entry("b", "img:2")])), "f")
            .expect("two sets make one");
        assert_beside(&merged);
        assert_eq!(merged.names().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(merged.source("c"), ServiceSource::Server);
        assert_eq!(merged.config("c").map(|c| c.image.as_str()), Some("img:3"));
        assert_eq!(merged.source("a"), ServiceSource::Server);
        assert_eq!(merged.source("b"), ServiceSource::Local);
        assert_eq!(merged.config("b").map(|c| c.image.as_str()), Some("img:2"));
        assert!(DesiredSet::merge(None, None, "f").is_none());
        let alone = DesiredSet::merge(None, Some(local(&[entry("b", "img:2")])), "f").unwrap();
        assert_eq!(alone.source("b"), ServiceSource::Local);
    }

    #[test]
    fn a_name_declared_by_both_is_an_error_on_that_service_and_no_container() {
        let server = DesiredSet::from_answer(&[entry("a", "img:1"), entry("x", "img:1")], &host());
        let merged = DesiredSet::merge(
            Some(server),
            Some(local(&[entry("a", "img:2"), entry("x-", "img:2")])),
            "the local services file s.toml",
        )
        .unwrap();
        assert_beside(&merged);
        assert_eq!(merged.names().collect::<Vec<_>>(), ["a", "x", "x-"]);
        let Some(Desired::Invalid(error)) = merged.get("a") else {
            panic!("{:?}", merged.get("a"));
        };
        assert!(
            error
                .to_string()
                .contains("declared both in the local services file s.toml and by the AYON server"),
            "{error}"
        );
        assert!(
            merged.config("a").is_none(),
            "neither spec gets a container"
        );
        assert_eq!(merged.source("a"), ServiceSource::Local);
        // Another name, the same container name: the local one is refused.
        assert!(
            matches!(merged.get("x-"), Some(Desired::Invalid(e)) if e.problem.contains("aysvc_x"))
        );
        assert!(merged.config("x").is_some());
    }

    #[test]
    fn a_network_learned_later_reaches_every_container() {
        let set = DesiredSet::from_answer(&[entry("a", "img:1")], &host());
        let hosted = HostSettings {
            network_mode: Some("ayon_net".into()),
            ..host()
        };
        let set = set.for_host(&hosted);
        assert_eq!(
            set.config("a").and_then(|c| c.network_mode.as_deref()),
            Some("ayon_net")
        );
    }

    #[test]
    fn a_service_is_found_by_name_in_any_order_and_the_first_of_two_wins() {
        let set = DesiredSet::from_answer(
            &[
                entry("zeta", "img:1"),
                entry("alpha", "img:1"),
                entry("mid", "img:1"),
                entry("alpha", "img:2"),
            ],
            &host(),
        );
        assert_beside(&set);
        for name in ["zeta", "alpha", "mid"] {
            assert_eq!(set.get(name).map(Desired::name), Some(name));
        }
        // The runnable first "alpha" has the container, found past its refused twin.
        assert_eq!(set.config("alpha").map(|c| c.image.as_str()), Some("img:1"));
        assert!(set.get("nobody").is_none() && set.get("").is_none());
        // The answer's first "alpha" runs; the second is the invalid one.
        assert!(matches!(set.get("alpha"), Some(Desired::Run(spec)) if spec.image == "img:1"));
    }

    #[test]
    fn an_answer_that_differs_only_in_heartbeat_bookkeeping_says_the_same() {
        let seen = |mut entry: Value, delta: f64| {
            entry["isRunning"] = json!(true);
            entry["lastSeen"] = json!("2026-12-01T10:00:00");
            entry["lastSeenDelta"] = json!(delta);
            entry
        };
        let set = DesiredSet::from_answer(&[seen(entry("a", "img:1"), 1.0)], &host());
        assert!(set.says_the_same_as(&[seen(entry("a", "img:1"), 3.5)]));
        assert!(set.says_the_same_as(&[entry("a", "img:1")]));
        // Anything else is news: the spec, shouldRun, another entry, a field added.
        assert!(!set.says_the_same_as(&[entry("a", "img:2")]));
        let mut stopped = entry("a", "img:1");
        stopped["shouldRun"] = json!(false);
        assert!(!set.says_the_same_as(&[stopped]));
        assert!(!set.says_the_same_as(&[entry("a", "img:1"), entry("b", "img:1")]));
        let mut more = entry("a", "img:1");
        more["extra"] = json!(1);
        assert!(!set.says_the_same_as(&[more]));
        assert!(!set.says_the_same_as(&[]));
        // A set not read from an answer is never the same as one.
        let made = DesiredSet::new(set.items().to_vec(), vec![], &host());
        assert!(!made.says_the_same_as(&[entry("a", "img:1")]));
    }
}
