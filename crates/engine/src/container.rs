//! The container a service runs in, decided purely from its [`ServiceSpec`] and this
//! host's settings: name, labels, environment, mounts, ports, limits and network.
//!
//! Its hash, stored in the `io.ashtray.spec_hash` label, is how drift is seen: when the
//! container that would be made now hashes differently from the one running, the running
//! one is stale. Nothing here talks to the engine.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::limits::{Cpus, Gpus, HostLimits};
use crate::secret::Secret;
use crate::spec::{PortMapping, ServiceSpec};

/// Labels `ash` puts on its containers; ashtray finds and adopts containers by them.
pub const LABEL_SERVICE_NAME: &str = "io.ayon.service.service_name";
pub const LABEL_SERVICE: &str = "io.ayon.service.service";
pub const LABEL_ADDON_NAME: &str = "io.ayon.service.addon_name";
pub const LABEL_ADDON_VERSION: &str = "io.ayon.service.addon_version";
/// ashtray's own labels.
pub const LABEL_SPEC_HASH: &str = "io.ashtray.spec_hash";
pub const LABEL_HOST: &str = "io.ashtray.host";

/// Where a service sees the studio's storage: the target of the mounts ash hands on from
/// its own container (any target starting with it), and of the spec's `storagePath`.
pub const STORAGE_TARGET: &str = "/storage";

/// What every service container of this host shares.
#[derive(Debug, Clone)]
pub struct HostSettings {
    pub server_url: String,
    pub api_key: Secret,
    /// The AYON host name, also written to the `io.ashtray.host` label.
    pub ayon_hostname: String,
    /// Docker's network mode (`host`, `bridge`, a network name) or `None` for the default.
    pub network_mode: Option<String>,
    /// Extra environment every service gets (the service API's address, for example),
    /// computed per service.
    pub service_api: Option<ServiceApiSettings>,
    /// CPU limits and GPU requests of this host's services, by name pattern.
    pub limits: HostLimits,
    /// The `/storage*` mounts of the container ashtray runs in, handed on to every
    /// service as ash does (`source:target[:mode]`); none on a bare host.
    pub storage_binds: Vec<String>,
}

/// How a service container reaches ashtray's service API.
#[derive(Debug, Clone)]
pub struct ServiceApiSettings {
    /// `ASHTRAY_API_URL` as seen from inside a container.
    pub url: String,
    /// Makes each service's own token (see [`crate::tokens`]).
    pub token_key: Secret,
    /// `host:address` entries for `/etc/hosts` (e.g. `host.docker.internal:host-gateway`).
    pub extra_hosts: Vec<String>,
}

/// Everything the engine is told when the container is created. Its `Debug` shows the
/// environment's keys only: the values hold the API key and the service's token.
#[derive(Clone, PartialEq, Serialize)]
pub struct ContainerConfig {
    pub name: String,
    pub hostname: String,
    pub image: String,
    /// `KEY=value` entries, in the order `ash` gives them.
    #[serde(serialize_with = "hash_env")]
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub binds: Vec<String>,
    pub ports: Vec<PortMapping>,
    pub memory: Option<i64>,
    pub user: Option<String>,
    pub network_mode: Option<String>,
    pub extra_hosts: Vec<String>,
    /// The command instead of the image's (local services only). Left out of the hash
    /// when unset, so the server's services keep the hash they had before it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Docker's `NanoCpus`, from the host's `--cpus`. Left out of the hash when unset,
    /// so containers made before the setting existed are not replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// GPUs asked of the engine, from the host's `--gpus`; left out of the hash when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
}

impl std::fmt::Debug for ContainerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_keys: Vec<&str> = self
            .env
            .iter()
            .map(|e| e.split('=').next().unwrap_or(""))
            .collect();
        f.debug_struct("ContainerConfig")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("env_keys", &env_keys)
            .field("labels", &self.labels)
            .field("binds", &self.binds)
            .field("ports", &self.ports)
            .field("memory", &self.memory)
            .field("user", &self.user)
            .field("network_mode", &self.network_mode)
            .field("cmd", &self.cmd)
            .field("nano_cpus", &self.nano_cpus)
            .field("gpus", &self.gpus)
            .finish_non_exhaustive()
    }
}

/// The environment enters the hash as a digest per entry so that the hash input, should
/// it ever be logged while debugging, holds no secret in clear.
fn hash_env<S: serde::Serializer>(env: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(env.len()))?;
    for entry in env {
        seq.serialize_element(&hex::encode(Sha256::digest(entry.as_bytes())))?;
    }
    seq.end()
}

impl ContainerConfig {
    /// The container for `spec` on this host, its spec hash label included.
    pub fn for_service(spec: &ServiceSpec, host: &HostSettings) -> ContainerConfig {
        let name = spec.container_name();
        let mut env: Vec<(String, String)> = vec![
            ("AYON_SERVER_URL".into(), host.server_url.clone()),
            ("AYON_API_KEY".into(), host.api_key.expose().to_string()),
            ("AYON_ADDON_NAME".into(), spec.addon_name.clone()),
            ("AYON_ADDON_VERSION".into(), spec.addon_version.clone()),
            ("AYON_SERVICE_NAME".into(), spec.name.clone()),
        ];
        // Like a Python dict update (what `ash` does): a key the spec repeats keeps its
        // place and takes the spec's value.
        for (key, value) in &spec.env {
            match env.iter_mut().find(|(existing, _)| existing == key) {
                Some(entry) => entry.1 = value.clone(),
                None => env.push((key.clone(), value.clone())),
            }
        }
        // ashtray's own come last and cannot be overridden by the spec: they are how the
        // service reaches this host's API.
        let mut extra_hosts = Vec::new();
        if let Some(api) = &host.service_api {
            let token = crate::tokens::service_token(&api.token_key, &spec.name);
            env.retain(|(key, _)| key != "ASHTRAY_API_URL" && key != "ASHTRAY_SERVICE_TOKEN");
            env.push(("ASHTRAY_API_URL".into(), api.url.clone()));
            env.push(("ASHTRAY_SERVICE_TOKEN".into(), token.expose().to_string()));
            extra_hosts = api.extra_hosts.clone();
        }
        let labels = BTreeMap::from([
            (LABEL_SERVICE_NAME.to_string(), spec.name.clone()),
            (LABEL_SERVICE.to_string(), spec.service.clone()),
            (LABEL_ADDON_NAME.to_string(), spec.addon_name.clone()),
            (LABEL_ADDON_VERSION.to_string(), spec.addon_version.clone()),
            (LABEL_HOST.to_string(), host.ayon_hostname.clone()),
        ]);
        let mut config = ContainerConfig {
            hostname: name.clone(),
            name,
            image: spec.image.clone(),
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            labels,
            binds: service_binds(spec, &host.storage_binds),
            ports: spec.ports.clone(),
            memory: spec.mem_limit.as_ref().map(|m| m.bytes),
            user: spec.user.clone(),
            network_mode: host.network_mode.clone(),
            extra_hosts,
            cmd: spec.command.clone(),
            nano_cpus: host
                .limits
                .cpus
                .for_service(&spec.name)
                .and_then(Cpus::nano_cpus),
            gpus: host.limits.gpus.for_service(&spec.name).filter(Gpus::any),
        };
        let hash = config.hash();
        config.labels.insert(LABEL_SPEC_HASH.to_string(), hash);
        config
    }

    /// A short, stable digest of everything that shapes the container.
    fn hash(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("a container config always serialises");
        hex::encode(&Sha256::digest(&canonical)[..12])
    }

    pub fn spec_hash(&self) -> &str {
        self.labels
            .get(LABEL_SPEC_HASH)
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// The mounts `own` (of ashtray's own container) that ash hands on: those whose target
/// starts with [`STORAGE_TARGET`], source and target unchanged.
pub fn storage_binds(own: &[String]) -> Vec<String> {
    own.iter()
        .filter(|bind| bind_target(bind).starts_with(STORAGE_TARGET))
        .cloned()
        .collect()
}

fn bind_target(bind: &str) -> &str {
    bind.split(':').nth(1).unwrap_or("")
}

/// A service's mounts: its own `volumes`, then its `storagePath` at [`STORAGE_TARGET`],
/// then the storage handed on from ashtray's own container. The engine refuses two
/// mounts on one target, so the first for a target wins: what the service's spec says
/// beats what the host hands on (ash would append it and fail to start the service).
fn service_binds(spec: &ServiceSpec, handed_on: &[String]) -> Vec<String> {
    let storage_path = spec
        .storage_path
        .as_ref()
        .map(|path| format!("{path}:{STORAGE_TARGET}"));
    let mut binds: Vec<String> = Vec::new();
    for bind in spec.volumes.iter().chain(&storage_path).chain(handed_on) {
        if !binds.iter().any(|b| bind_target(b) == bind_target(bind)) {
            binds.push(bind.clone());
        }
    }
    binds
}

/// What a running container that has no spec hash label (one `ash` started) was given,
/// read back from the engine, to decide whether it can be adopted as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppliedConfig {
    pub image: String,
    pub env: Vec<String>,
    pub binds: Vec<String>,
    pub memory: Option<i64>,
    pub user: Option<String>,
    /// Published container ports as `port/proto` keys.
    pub port_keys: Vec<String>,
}

impl AppliedConfig {
    /// Whether this running container already is what `wanted` describes, as far as a
    /// container started by `ash` can be: same image, every variable we would set with
    /// the same value, the same mounts, limits, user and published ports. What ashtray
    /// adds for its own service API is not asked of it.
    pub fn satisfies(&self, wanted: &ContainerConfig) -> bool {
        let own_api_var = |entry: &&String| {
            entry.starts_with("ASHTRAY_API_URL=") || entry.starts_with("ASHTRAY_SERVICE_TOKEN=")
        };
        let mut wanted_ports: Vec<String> =
            wanted.ports.iter().map(|p| p.container_key()).collect();
        let mut have_ports = self.port_keys.clone();
        wanted_ports.sort();
        have_ports.sort();
        let mut wanted_binds = wanted.binds.clone();
        let mut have_binds = self.binds.clone();
        wanted_binds.sort();
        have_binds.sort();
        self.image == wanted.image
            && wanted
                .env
                .iter()
                .filter(|entry| !own_api_var(entry))
                .all(|entry| self.env.contains(entry))
            && wanted_binds == have_binds
            && self.memory.unwrap_or(0) == wanted.memory.unwrap_or(0)
            && self.user.as_deref().unwrap_or("") == wanted.user.as_deref().unwrap_or("")
            && wanted_ports == have_ports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Desired, ServiceSpec};
    use serde_json::json;

    pub(crate) fn host() -> HostSettings {
        HostSettings {
            server_url: "http://ayon:5000".into(),
            api_key: Secret::new("k".repeat(32)),
            ayon_hostname: "worker-1".into(),
            network_mode: None,
            service_api: None,
            limits: Default::default(),
            storage_binds: Vec::new(),
        }
    }

    fn spec(env: serde_json::Value) -> ServiceSpec {
        spec_with(env, json!(null))
    }

    fn spec_with(env: serde_json::Value, storage_path: serde_json::Value) -> ServiceSpec {
        let model = serde_json::from_value(json!({
            "name": "ticker-a", "hostname": "worker-1", "addonName": "ticker",
            "addonVersion": "1.0.0", "service": "ticker", "shouldRun": true, "isRunning": false,
            "lastSeen": null, "lastSeenDelta": null,
            "data": {"image": "ashtest/ticker:1", "env": env, "volumes": ["/tmp:/data"],
                     "storagePath": storage_path}
        }))
        .unwrap();
        match ServiceSpec::from_wire(&model) {
            Desired::Run(spec) => *spec,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn environment_is_ash_base_then_spec_env() {
        let config = ContainerConfig::for_service(&spec(json!({"N": 2, "X": "y"})), &host());
        assert_eq!(
            config.env,
            vec![
                "AYON_SERVER_URL=http://ayon:5000".to_string(),
                format!("AYON_API_KEY={}", "k".repeat(32)),
                "AYON_ADDON_NAME=ticker".into(),
                "AYON_ADDON_VERSION=1.0.0".into(),
                "AYON_SERVICE_NAME=ticker-a".into(),
                "N=2".into(),
                "X=y".into(),
            ]
        );
        assert_eq!(config.name, "aysvc_ticker_a");
        assert_eq!(config.hostname, "aysvc_ticker_a");
        assert_eq!(config.labels[LABEL_SERVICE_NAME], "ticker-a");
        assert_eq!(config.labels[LABEL_ADDON_VERSION], "1.0.0");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let config = ContainerConfig::for_service(&spec(json!({})), &host());
        let shown = format!("{config:?}");
        assert!(
            shown.contains("AYON_API_KEY") && !shown.contains(&"k".repeat(32)),
            "{shown}"
        );
    }

    #[test]
    fn spec_env_overrides_a_base_variable_in_place() {
        let config =
            ContainerConfig::for_service(&spec(json!({"AYON_SERVER_URL": "http://x"})), &host());
        assert_eq!(config.env[0], "AYON_SERVER_URL=http://x");
        assert_eq!(config.env.len(), 5);
    }

    #[test]
    fn hash_changes_with_the_spec_and_only_with_it() {
        let a = ContainerConfig::for_service(&spec(json!({"N": 2})), &host());
        let again = ContainerConfig::for_service(&spec(json!({"N": 2})), &host());
        let b = ContainerConfig::for_service(&spec(json!({"N": 3})), &host());
        assert_eq!(a.spec_hash(), again.spec_hash());
        assert_ne!(a.spec_hash(), b.spec_hash());
        let mut other_key = host();
        other_key.api_key = Secret::new("z".repeat(32));
        assert_ne!(
            a.spec_hash(),
            ContainerConfig::for_service(&spec(json!({"N": 2})), &other_key).spec_hash()
        );
    }

    #[test]
    fn an_ash_container_with_the_same_setup_is_adopted() {
        let wanted = ContainerConfig::for_service(&spec(json!({"N": 2})), &host());
        let mut applied = AppliedConfig {
            image: "ashtest/ticker:1".into(),
            env: [wanted.env.clone(), vec!["PATH=/bin".into()]].concat(),
            binds: vec!["/tmp:/data".into()],
            ..Default::default()
        };
        assert!(applied.satisfies(&wanted));
        applied.env.retain(|e| e != "N=2");
        applied.env.push("N=1".into());
        assert!(!applied.satisfies(&wanted));
    }

    #[test]
    fn only_mounts_on_storage_targets_are_handed_on_unchanged() {
        let own = [
            "/var/run/docker.sock:/var/run/docker.sock".to_string(),
            "/mnt/projects:/storage".into(),
            "/mnt/refs:/storage-refs:ro".into(),
            "cache:/storage/cache".into(),
            "/storage:/data".into(),
        ];
        assert_eq!(
            storage_binds(&own),
            [
                "/mnt/projects:/storage",
                "/mnt/refs:/storage-refs:ro",
                "cache:/storage/cache"
            ]
        );
    }

    #[test]
    fn volumes_then_storage_path_then_handed_on_storage_one_mount_per_target() {
        let mut inside = host();
        inside.storage_binds = vec![
            "/mnt/projects:/storage".into(),
            "/mnt/refs:/storage-refs".into(),
        ];
        // On a bare host: the spec's volumes and its storage path.
        let bare = ContainerConfig::for_service(&spec_with(json!({}), json!("/srv/ayon")), &host());
        assert_eq!(bare.binds, ["/tmp:/data", "/srv/ayon:/storage"]);
        // In a container: what is handed on joins them, the spec's storage path wins
        // `/storage` itself.
        let both = ContainerConfig::for_service(&spec_with(json!({}), json!("/srv/ayon")), &inside);
        assert_eq!(
            both.binds,
            [
                "/tmp:/data",
                "/srv/ayon:/storage",
                "/mnt/refs:/storage-refs"
            ]
        );
        let handed_on = ContainerConfig::for_service(&spec(json!({})), &inside);
        assert_eq!(
            handed_on.binds,
            [
                "/tmp:/data",
                "/mnt/projects:/storage",
                "/mnt/refs:/storage-refs"
            ]
        );
    }

    #[test]
    fn storage_changes_the_hash_so_the_container_is_recreated() {
        let none = ContainerConfig::for_service(&spec(json!({})), &host());
        let path = ContainerConfig::for_service(&spec_with(json!({}), json!("/srv/a")), &host());
        let other = ContainerConfig::for_service(&spec_with(json!({}), json!("/srv/b")), &host());
        let mut inside = host();
        inside.storage_binds = vec!["/mnt/projects:/storage".into()];
        let handed_on = ContainerConfig::for_service(&spec(json!({})), &inside);
        let hashes: std::collections::HashSet<&str> = [&none, &path, &other, &handed_on]
            .iter()
            .map(|c| c.spec_hash())
            .collect();
        assert_eq!(hashes.len(), 4);
    }
}
