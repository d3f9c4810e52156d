//! The AYON server's wire format, as captured in `shared/ayon-api/` from ayon-backend 1.16.
//!
//! These types mirror the server's JSON exactly (camelCase). They are never trusted as
//! they are: a [`ServiceModel`] becomes a runnable service only through
//! [`crate::spec::ServiceSpec::from_wire`], which validates it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /api/hosts/heartbeat` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub hostname: String,
    pub health: Health,
    /// Names of the services running on this host right now.
    pub services: Vec<String>,
}

/// Host health in percent, `0..=100` (the server refuses anything outside).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Health {
    pub cpu: f64,
    pub mem: f64,
}

/// `POST /api/hosts/heartbeat` answer: this host's services with `shouldRun: true`.
///
/// Entries stay raw JSON here so that one malformed entry can be reported on its own
/// instead of failing the whole answer.
#[derive(Debug, Clone, Deserialize)]
pub struct HeartbeatResponse {
    pub services: Vec<Value>,
}

/// `GET /api/services` answer: every service of every host, whatever its `shouldRun`.
/// Entries stay raw for the same reason as in [`HeartbeatResponse`].
#[derive(Debug, Clone, Deserialize)]
pub struct ServicesList {
    pub services: Vec<Value>,
}

/// Who a service belongs to, read from a `GET /api/services` entry: all a host needs to
/// know about a service that is not its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOwner {
    pub name: String,
    pub hostname: String,
    #[serde(default = "default_true")]
    pub should_run: bool,
}

/// The server's whole service list, reduced to ownership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceOwners {
    pub owners: Vec<ServiceOwner>,
    /// Entries without a readable name, host or `shouldRun`.
    pub unreadable: usize,
}

/// One service as the server describes it (`ServiceModel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceModel {
    pub name: String,
    pub hostname: String,
    pub addon_name: String,
    pub addon_version: String,
    pub service: String,
    #[serde(default = "default_true")]
    pub should_run: bool,
    #[serde(default)]
    pub is_running: bool,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub last_seen_delta: Option<f64>,
    #[serde(default)]
    pub data: ServiceData,
}

fn default_true() -> bool {
    true
}

/// The `data` of a [`ServiceModel`]: how the service wants to be run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceData {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub volumes: Option<Vec<String>>,
    #[serde(default)]
    pub ports: Option<Vec<String>>,
    #[serde(default)]
    pub mem_limit: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Values keep their JSON type on the wire (`"N": 2`).
    #[serde(default)]
    pub env: Option<Map<String, Value>>,
    #[serde(default)]
    pub storage_path: Option<String>,
}

/// `GET /api/users/me` answer, reduced to what a service host needs.
#[derive(Debug, Clone, Deserialize)]
pub struct UserMe {
    pub name: String,
    #[serde(default)]
    pub data: UserData,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserData {
    #[serde(default)]
    pub is_service: Option<bool>,
}

/// The server's error body: `{"code": int, "detail": str, ...}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = format!(
            "{}/../../../shared/ayon-api/samples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    #[test]
    fn heartbeat_answer_sample_parses_into_service_models() {
        let answer: HeartbeatResponse =
            serde_json::from_str(&sample("heartbeat-response-with-services.json")).unwrap();
        assert!(!answer.services.is_empty());
        for entry in answer.services {
            let model: ServiceModel = serde_json::from_value(entry).unwrap();
            assert!(model.should_run);
            assert!(model.data.image.is_some());
        }
    }

    #[test]
    fn users_me_sample_says_service_account() {
        let me: UserMe = serde_json::from_str(&sample("users-me-service-response.json")).unwrap();
        assert_eq!(me.data.is_service, Some(true));
        let admin: UserMe = serde_json::from_str(&sample("users-me-admin-response.json")).unwrap();
        assert_ne!(admin.data.is_service, Some(true));
    }

    #[test]
    fn services_list_sample_names_each_services_host() {
        let list: ServicesList =
            serde_json::from_str(&sample("services-list-after-should-run-false.json")).unwrap();
        let owners: Vec<ServiceOwner> = list
            .services
            .into_iter()
            .map(|entry| serde_json::from_value(entry).unwrap())
            .collect();
        assert!(!owners.is_empty());
        assert!(owners.iter().all(|o| !o.hostname.is_empty()));
        assert!(owners.iter().any(|o| !o.should_run));
    }

    #[test]
    fn heartbeat_request_serialises_like_the_sample() {
        let expected: Value =
            serde_json::from_str(&sample("heartbeat-request-running.json")).unwrap();
        let ours: HeartbeatRequest = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(serde_json::to_value(&ours).unwrap(), expected);
    }
}
