//! The desired set: what the server's last answer asks of this host, in the three forms
//! the loop needs, made by ONE pure function (answer → validated specs → container
//! configs → problems), so the spec → container conversion has one home.
//!
//! It never talks to the server or the container engine, and keeps no history: a new
//! answer is a new set, handed on as a value.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::container::{ContainerConfig, HostSettings};
use crate::spec::{read_answer, Desired, ServiceSpec};

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSet {
    items: Vec<Desired>,
    configs: BTreeMap<String, ContainerConfig>,
    /// Entries of the answer that are not service objects at all, said as text.
    problems: Vec<String>,
    /// The entries this set was read from, when it was read from an answer: the next
    /// answer is compared with them ([`DesiredSet::says_the_same_as`]).
    answer: Option<Vec<Value>>,
}

/// Fields of an answer's entry that change from one heartbeat to the next without
/// changing what the service is: the server's record of the host's last heartbeats.
/// `ServiceSpec::from_wire` reads none of them.
const VOLATILE: [&str; 3] = ["isRunning", "lastSeen", "lastSeenDelta"];

impl DesiredSet {
    /// A heartbeat answer's entries, read for a host with these settings.
    pub fn from_answer(entries: &[Value], host: &HostSettings) -> DesiredSet {
        let (items, malformed) = read_answer(entries);
        DesiredSet {
            answer: Some(entries.to_vec()),
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
        self.answer.as_ref().is_some_and(|answer| {
            answer.len() == entries.len()
                && answer
                    .iter()
                    .zip(entries)
                    .all(|(was, is)| same_entry(was, is))
        })
    }

    pub fn new(mut items: Vec<Desired>, problems: Vec<String>, host: &HostSettings) -> DesiredSet {
        // By name, so that `get` is a binary search: the loop asks for each service on
        // every tick, and a list walk would make a tick quadratic in the services. Stable,
        // so of two entries with one name the first stays first.
        items.sort_by(|a, b| a.name().cmp(b.name()));
        let configs = configs_for(&items, host);
        DesiredSet {
            items,
            configs,
            problems,
            answer: None,
        }
    }

    /// The same answer for changed host settings (the network learned on connecting).
    pub fn for_host(self, host: &HostSettings) -> DesiredSet {
        DesiredSet {
            answer: self.answer,
            ..DesiredSet::new(self.items, self.problems, host)
        }
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
        self.configs.get(name)
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

fn same_entry(was: &Value, is: &Value) -> bool {
    match (was, is) {
        (Value::Object(was), Value::Object(is)) => {
            let lasting = |(key, _): &(&String, &Value)| !VOLATILE.contains(&key.as_str());
            was.iter().filter(lasting).count() == is.iter().filter(lasting).count()
                && was
                    .iter()
                    .filter(lasting)
                    .all(|(key, value)| is.get(key) == Some(value))
        }
        _ => was == is,
    }
}

fn configs_for(items: &[Desired], host: &HostSettings) -> BTreeMap<String, ContainerConfig> {
    items
        .iter()
        .filter_map(|d| match d {
            Desired::Run(spec) => {
                Some((spec.name.clone(), ContainerConfig::for_service(spec, host)))
            }
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
        for name in ["zeta", "alpha", "mid"] {
            assert_eq!(set.get(name).map(Desired::name), Some(name));
        }
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
