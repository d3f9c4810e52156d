//! The fake's database: addons, hosts and services, with the rules that the real
//! server's SQL and Postgres constraints put on them (a host exists only once it
//! has beaten, service names are unique, PUT never updates, PATCH replaces the
//! data keys it is given).
//!
//! It knows nothing of HTTP: callers turn a [`StoreError`] into the server's answer.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::clock::Timestamp;
use super::validate::{Health, Heartbeat, ServiceConfig, ServicePatch, Spawn};

/// A refused change, in the server's terms.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreError {
    AddonMissing {
        addon: String,
    },
    VersionMissing {
        addon: String,
        version: String,
    },
    /// The addon version has no service of that name.
    ServiceMissing,
    /// PATCH of a name that does not exist.
    ServiceNotFound,
    /// PUT of a name that exists (Postgres' unique violation).
    DuplicateName {
        name: String,
    },
    /// A hostname that never sent a heartbeat (Postgres' foreign-key violation).
    UnknownHost {
        hostname: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    pub last_seen: Timestamp,
    pub health: Health,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub hostname: String,
    pub addon_name: String,
    pub addon_version: String,
    pub service: String,
    pub should_run: bool,
    /// Changes only through heartbeats.
    pub is_running: bool,
    /// None until the host's first heartbeat after the service was declared.
    pub last_seen: Option<Timestamp>,
    pub data: ServiceData,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceData {
    pub volumes: Option<Vec<String>>,
    pub ports: Option<Vec<String>>,
    pub mem_limit: Option<String>,
    pub user: Option<String>,
    pub env: Map<String, Value>,
    pub storage_path: Option<String>,
    /// Always the image of the addon's service definition, fixed at PUT time.
    pub image: String,
}

impl ServiceData {
    /// Replaces each field the config gives (env as a whole, never merged).
    fn apply(&mut self, config: &ServiceConfig) {
        if let Some(v) = &config.volumes {
            self.volumes.clone_from(v);
        }
        if let Some(v) = &config.ports {
            self.ports.clone_from(v);
        }
        if let Some(v) = &config.mem_limit {
            self.mem_limit.clone_from(v);
        }
        if let Some(v) = &config.user {
            self.user.clone_from(v);
        }
        if let Some(v) = &config.env {
            self.env.clone_from(v);
        }
        if let Some(v) = &config.storage_path {
            self.storage_path.clone_from(v);
        }
    }
}

#[derive(Default)]
pub struct Db {
    /// addon name -> version -> service name -> image
    addons: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    hosts: BTreeMap<String, Host>,
    /// Ordered by name, as the server's `ORDER BY name` lists them.
    services: BTreeMap<String, Service>,
}

impl Db {
    /// Declares (or redeclares) one version of an addon and its services' images.
    pub fn add_addon(&mut self, name: &str, version: &str, services: &[(&str, &str)]) {
        let declared = services
            .iter()
            .map(|(service, image)| (service.to_string(), image.to_string()))
            .collect();
        self.addons
            .entry(name.to_string())
            .or_default()
            .insert(version.to_string(), declared);
    }

    /// Makes the host exist, as its first heartbeat would; an existing host is left alone.
    pub fn add_host(&mut self, hostname: &str, now: Timestamp) {
        self.hosts
            .entry(hostname.to_string())
            .or_insert_with(|| Host {
                name: hostname.to_string(),
                last_seen: now,
                health: Health::default(),
            });
    }

    /// Upserts the host, then marks each of its services running or not and seen now.
    pub fn heartbeat(&mut self, beat: &Heartbeat, now: Timestamp) {
        self.hosts.insert(
            beat.hostname.clone(),
            Host {
                name: beat.hostname.clone(),
                last_seen: now,
                health: beat.health,
            },
        );
        for service in self.services.values_mut() {
            if service.hostname == beat.hostname {
                service.is_running = beat.services.contains(&service.name);
                service.last_seen = Some(now);
            }
        }
    }

    /// What a heartbeat answers: this host's services that should run, by name.
    pub fn services_to_run<'a>(&'a self, hostname: &'a str) -> impl Iterator<Item = &'a Service> {
        self.services
            .values()
            .filter(move |s| s.hostname == hostname && s.should_run)
    }

    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// PUT: creates the service or refuses; it never updates an existing one.
    pub fn spawn(&mut self, name: &str, spawn: &Spawn) -> Result<(), StoreError> {
        let image = self.image_of(&spawn.addon_name, &spawn.addon_version, &spawn.service)?;
        // Postgres checks the unique name while inserting, the host reference after.
        if self.services.contains_key(name) {
            return Err(StoreError::DuplicateName {
                name: name.to_string(),
            });
        }
        self.require_host(&spawn.hostname)?;
        let mut data = ServiceData {
            image,
            ..ServiceData::default()
        };
        data.apply(&spawn.config);
        self.services.insert(
            name.to_string(),
            Service {
                name: name.to_string(),
                hostname: spawn.hostname.clone(),
                addon_name: spawn.addon_name.clone(),
                addon_version: spawn.addon_version.clone(),
                service: spawn.service.clone(),
                should_run: true,
                is_running: false,
                last_seen: None,
                data,
            },
        );
        Ok(())
    }

    /// PATCH: the deprecated `config` wrapper first, then the top-level data fields.
    pub fn patch(&mut self, name: &str, patch: &ServicePatch) -> Result<(), StoreError> {
        if !self.services.contains_key(name) {
            return Err(StoreError::ServiceNotFound);
        }
        if let Some(hostname) = &patch.hostname {
            self.require_host(hostname)?;
        }
        let service = self.services.get_mut(name).expect("checked above");
        if let Some(should_run) = patch.should_run {
            service.should_run = should_run;
        }
        if let Some(hostname) = &patch.hostname {
            service.hostname.clone_from(hostname);
        }
        if let Some(config) = &patch.legacy_config {
            service.data.apply(config);
        }
        service.data.apply(&patch.config);
        Ok(())
    }

    /// DELETE succeeds whether or not the name exists.
    pub fn delete(&mut self, name: &str) {
        self.services.remove(name);
    }

    fn image_of(&self, addon: &str, version: &str, service: &str) -> Result<String, StoreError> {
        let versions = self
            .addons
            .get(addon)
            .ok_or_else(|| StoreError::AddonMissing {
                addon: addon.to_string(),
            })?;
        let services = versions
            .get(version)
            .ok_or_else(|| StoreError::VersionMissing {
                addon: addon.to_string(),
                version: version.to_string(),
            })?;
        services
            .get(service)
            .cloned()
            .ok_or(StoreError::ServiceMissing)
    }

    fn require_host(&self, hostname: &str) -> Result<(), StoreError> {
        if self.hosts.contains_key(hostname) {
            Ok(())
        } else {
            Err(StoreError::UnknownHost {
                hostname: hostname.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db_with_host() -> Db {
        let mut db = Db::default();
        db.add_addon("ticker", "1.0.0", &[("ticker", "ashtest/ticker:1")]);
        db.add_host("host-a", Timestamp::now());
        db
    }

    fn spawn(service: &str, hostname: &str) -> Spawn {
        Spawn {
            addon_name: "ticker".into(),
            addon_version: "1.0.0".into(),
            service: service.into(),
            hostname: hostname.into(),
            config: ServiceConfig::default(),
        }
    }

    #[test]
    fn put_refuses_in_the_servers_order() {
        let mut db = db_with_host();
        let mut bad = spawn("ticker", "host-a");
        bad.addon_name = "nope".into();
        assert_eq!(
            db.spawn("a", &bad),
            Err(StoreError::AddonMissing {
                addon: "nope".into()
            })
        );
        assert_eq!(
            db.spawn("a", &spawn("other", "host-a")),
            Err(StoreError::ServiceMissing)
        );
        assert_eq!(
            db.spawn("a", &spawn("ticker", "never")),
            Err(StoreError::UnknownHost {
                hostname: "never".into()
            })
        );
        db.spawn("a", &spawn("ticker", "host-a")).unwrap();
        // A duplicate name wins over an unknown host, as in Postgres.
        assert_eq!(
            db.spawn("a", &spawn("ticker", "never")),
            Err(StoreError::DuplicateName { name: "a".into() })
        );
        let a = db.service("a").unwrap();
        assert!(a.should_run && !a.is_running && a.last_seen.is_none());
        assert_eq!(a.data.image, "ashtest/ticker:1");
    }

    #[test]
    fn heartbeat_sets_running_and_seen_on_all_of_the_hosts_services() {
        let mut db = db_with_host();
        db.spawn("a", &spawn("ticker", "host-a")).unwrap();
        db.spawn("b", &spawn("ticker", "host-a")).unwrap();
        let now = Timestamp::now();
        db.heartbeat(
            &Heartbeat {
                hostname: "host-a".into(),
                health: Health { cpu: 1.0, mem: 2.0 },
                services: vec!["b".into(), "unknown".into()],
            },
            now,
        );
        let (a, b) = (db.service("a").unwrap(), db.service("b").unwrap());
        assert_eq!((a.is_running, b.is_running), (false, true));
        assert_eq!((a.last_seen, b.last_seen), (Some(now), Some(now)));
    }

    #[test]
    fn patch_replaces_given_fields_and_top_level_wins() {
        let mut db = db_with_host();
        let mut with_env = spawn("ticker", "host-a");
        with_env.config.env = Some(json!({"A": "1", "N": 2}).as_object().unwrap().clone());
        with_env.config.mem_limit = Some(Some("256m".into()));
        db.spawn("a", &with_env).unwrap();
        let patch = ServicePatch {
            legacy_config: Some(ServiceConfig {
                mem_limit: Some(Some("1g".into())),
                user: Some(Some("1000".into())),
                ..ServiceConfig::default()
            }),
            config: ServiceConfig {
                env: Some(json!({"B": 2}).as_object().unwrap().clone()),
                mem_limit: Some(Some("512m".into())),
                ..ServiceConfig::default()
            },
            ..ServicePatch::default()
        };
        db.patch("a", &patch).unwrap();
        let data = &db.service("a").unwrap().data;
        assert_eq!(Value::Object(data.env.clone()), json!({"B": 2}));
        assert_eq!(data.mem_limit.as_deref(), Some("512m"));
        assert_eq!(data.user.as_deref(), Some("1000"));
        assert_eq!(db.patch("x", &patch), Err(StoreError::ServiceNotFound));
        let moving = ServicePatch {
            hostname: Some("never".into()),
            ..ServicePatch::default()
        };
        assert!(matches!(
            db.patch("a", &moving),
            Err(StoreError::UnknownHost { .. })
        ));
    }
}
