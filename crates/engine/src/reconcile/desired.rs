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
}

impl DesiredSet {
    /// A heartbeat answer's entries, read for a host with these settings.
    pub fn from_answer(entries: &[Value], host: &HostSettings) -> DesiredSet {
        let (items, malformed) = read_answer(entries);
        DesiredSet::new(
            items,
            malformed.iter().map(ToString::to_string).collect(),
            host,
        )
    }

    pub fn new(items: Vec<Desired>, problems: Vec<String>, host: &HostSettings) -> DesiredSet {
        let configs = configs_for(&items, host);
        DesiredSet {
            items,
            configs,
            problems,
        }
    }

    /// The same answer for changed host settings (the network learned on connecting).
    pub fn for_host(self, host: &HostSettings) -> DesiredSet {
        DesiredSet::new(self.items, self.problems, host)
    }

    /// Every service of the answer, runnable or not, by name.
    pub fn items(&self) -> &[Desired] {
        &self.items
    }

    pub fn get(&self, name: &str) -> Option<&Desired> {
        self.items.iter().find(|d| d.name() == name)
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
}
