//! The JSON bodies of successful answers, keys in the order the server sends them.
//!
//! Models serialize in their field order. Free-form objects read back from a JSONB
//! column (a service's `env`, a user's `data`) come out in JSONB's own key order:
//! shorter keys first, then bytewise. `{"N":2,"A":"1"}` is sent as `{"A":"1","N":2}`.

use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::clock::Timestamp;
use super::state::{Host, Service};
use super::validate::Health;

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceModel<'a> {
    name: &'a str,
    hostname: &'a str,
    addon_name: &'a str,
    addon_version: &'a str,
    service: &'a str,
    should_run: bool,
    is_running: bool,
    /// Naive ISO time: no offset.
    last_seen: Option<String>,
    /// Seconds between lastSeen and the moment of the answer.
    last_seen_delta: Option<f64>,
    data: ServiceDataModel<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceDataModel<'a> {
    volumes: &'a Option<Vec<String>>,
    ports: &'a Option<Vec<String>>,
    mem_limit: &'a Option<String>,
    user: &'a Option<String>,
    env: JsonbObject<'a>,
    storage_path: &'a Option<String>,
    image: &'a str,
}

impl<'a> ServiceModel<'a> {
    pub fn new(service: &'a Service, now: Timestamp) -> ServiceModel<'a> {
        let data = &service.data;
        ServiceModel {
            name: &service.name,
            hostname: &service.hostname,
            addon_name: &service.addon_name,
            addon_version: &service.addon_version,
            service: &service.service,
            should_run: service.should_run,
            is_running: service.is_running,
            last_seen: service.last_seen.map(Timestamp::naive_iso),
            last_seen_delta: service.last_seen.map(|seen| now.seconds_since(seen)),
            data: ServiceDataModel {
                volumes: &data.volumes,
                ports: &data.ports,
                mem_limit: &data.mem_limit,
                user: &data.user,
                env: JsonbObject(&data.env),
                storage_path: &data.storage_path,
                image: &data.image,
            },
        }
    }
}

/// `{"services": [...]}`: GET /api/services and the heartbeat's answer.
#[derive(serde::Serialize)]
pub struct ServiceList<'a> {
    pub services: Vec<ServiceModel<'a>>,
}

impl<'a> ServiceList<'a> {
    pub fn new(services: impl Iterator<Item = &'a Service>, now: Timestamp) -> ServiceList<'a> {
        ServiceList {
            services: services.map(|s| ServiceModel::new(s, now)).collect(),
        }
    }
}

#[derive(serde::Serialize)]
pub struct HostList<'a> {
    hosts: Vec<HostModel<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct HostModel<'a> {
    name: &'a str,
    /// Unlike a service's, this one carries `+00:00`.
    last_seen: String,
    health: HealthModel,
}

/// Stored as floats: a heartbeat's `"mem": 2` is listed as `2.0`.
#[derive(serde::Serialize)]
struct HealthModel {
    cpu: f64,
    mem: f64,
}

impl<'a> HostList<'a> {
    pub fn new(hosts: impl Iterator<Item = &'a Host>) -> HostList<'a> {
        HostList {
            hosts: hosts
                .map(|h| HostModel {
                    name: &h.name,
                    last_seen: h.last_seen.utc_iso(),
                    health: HealthModel::from(h.health),
                })
                .collect(),
        }
    }
}

impl From<Health> for HealthModel {
    fn from(h: Health) -> HealthModel {
        HealthModel {
            cpu: h.cpu,
            mem: h.mem,
        }
    }
}

/// GET /api/info without credentials.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub version: &'static str,
    pub uptime: f64,
    /// The server sends these two only when true; the fake is always offline.
    pub disable_feedback: bool,
    pub offline_mode: bool,
}

/// GET /api/users/me.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserModel {
    pub name: String,
    pub ui_exposure_level: u32,
    pub attrib: Attrib,
    pub data: UserData,
    pub active: bool,
    pub own_attrib: [&'static str; 4],
    pub created_at: String,
    pub updated_at: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attrib {
    pub full_name: String,
}

/// What `data` holds for each kind of user. A service user has `isService` and no
/// `isAdmin`; an admin the opposite. Key orders as captured.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum UserData {
    #[serde(rename_all = "camelCase")]
    Service {
        api_key: String,
        created_by: &'static str,
        is_service: bool,
        api_key_preview: String,
    },
    #[serde(rename_all = "camelCase")]
    Admin {
        access_groups: Map<String, Value>,
        default_access_groups: Vec<String>,
        is_admin: bool,
        password: String,
    },
}

pub const OWN_ATTRIB: [&str; 4] = ["fullName", "email", "avatarUrl", "developerMode"];

/// An object in JSONB key order, nested objects included.
struct JsonbObject<'a>(&'a Map<String, Value>);

struct Jsonb<'a>(&'a Value);

impl Serialize for JsonbObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut pairs: Vec<(&String, &Value)> = self.0.iter().collect();
        pairs.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        serializer.collect_map(pairs.into_iter().map(|(k, v)| (k, Jsonb(v))))
    }
}

impl Serialize for Jsonb<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => JsonbObject(map).serialize(serializer),
            Value::Array(items) => serializer.collect_seq(items.iter().map(Jsonb)),
            scalar => scalar.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_ayon::state::ServiceData;
    use serde_json::json;

    #[test]
    fn service_model_matches_the_sample_byte_for_byte() {
        let seen = Timestamp::from_micros(1_795_440_167_301_489);
        let env = json!({"N": 2, "A": "1"}).as_object().unwrap().clone();
        let service = Service {
            name: "ticker-a".into(),
            hostname: "host-a".into(),
            addon_name: "ticker".into(),
            addon_version: "1.0.0".into(),
            service: "ticker".into(),
            should_run: true,
            is_running: true,
            last_seen: Some(seen),
            data: ServiceData {
                volumes: Some(vec!["/tmp:/data".into()]),
                ports: Some(vec!["8080:80".into()]),
                mem_limit: Some("256m".into()),
                user: Some("1000".into()),
                env,
                storage_path: None,
                image: "ashtest/ticker:1".into(),
            },
        };
        let now = Timestamp::from_micros(1_795_440_167_303_611);
        let text = serde_json::to_string(&ServiceModel::new(&service, now)).unwrap();
        assert_eq!(
            text,
            r#"{"name":"ticker-a","hostname":"host-a","addonName":"ticker","addonVersion":"1.0.0","service":"ticker","shouldRun":true,"isRunning":true,"lastSeen":"2026-11-23T13:22:47.301489","lastSeenDelta":0.002122,"data":{"volumes":["/tmp:/data"],"ports":["8080:80"],"memLimit":"256m","user":"1000","env":{"A":"1","N":2},"storagePath":null,"image":"ashtest/ticker:1"}}"#
        );
    }

    #[test]
    fn jsonb_orders_keys_by_length_then_bytes() {
        let env = json!({"bb": 1, "a": {"zz": 1, "y": [{"dd": 1, "c": 2}]}, "B": 3})
            .as_object()
            .unwrap()
            .clone();
        let text = serde_json::to_string(&JsonbObject(&env)).unwrap();
        assert_eq!(text, r#"{"B":3,"a":{"y":[{"c":2,"dd":1}],"zz":1},"bb":1}"#);
    }

    #[test]
    fn host_health_is_listed_as_floats() {
        let host = Host {
            name: "h".into(),
            last_seen: Timestamp::from_micros(1_795_440_105_996_593),
            health: Health {
                cpu: 12.5,
                mem: 2.0,
            },
        };
        let text = serde_json::to_string(&HostList::new([host].iter())).unwrap();
        assert_eq!(
            text,
            r#"{"hosts":[{"name":"h","lastSeen":"2026-11-23T13:21:45.996593+00:00","health":{"cpu":12.5,"mem":2.0}}]}"#
        );
    }
}
