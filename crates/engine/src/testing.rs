//! Fixtures the engine crate's unit tests share: one server entry, one host, the
//! container a service gets. Test code only.

use serde_json::{json, Value};

use crate::container::{ContainerConfig, HostSettings};
use crate::secret::Secret;
use crate::spec::{Desired, ServiceSpec};

/// A heartbeat answer's entry for `name` with `image`, assigned to host `h`.
pub(crate) fn entry(name: &str, image: &str) -> Value {
    json!({
        "name": name, "hostname": "h", "addonName": "a", "addonVersion": "1", "service": "s",
        "shouldRun": true, "isRunning": false, "lastSeen": null, "lastSeenDelta": null,
        "data": {"image": image}
    })
}

/// `entry` validated.
pub(crate) fn desired(name: &str, image: &str) -> Desired {
    ServiceSpec::from_wire(&serde_json::from_value(entry(name, image)).unwrap())
}

/// Host `h` of server `http://s`.
pub(crate) fn host() -> HostSettings {
    HostSettings {
        server_url: "http://s".into(),
        api_key: Secret::new("k"),
        ayon_hostname: "h".into(),
        network_mode: None,
        service_api: None,
        limits: Default::default(),
        storage_binds: Vec::new(),
    }
}

/// The container `name` with `image` gets on host `h`.
pub(crate) fn config(name: &str, image: &str) -> ContainerConfig {
    match desired(name, image) {
        Desired::Run(spec) => ContainerConfig::for_service(&spec, &host()),
        other => panic!("not runnable: {other:?}"),
    }
}

/// A running container of `service` with no labels but the service's, as `ash` starts
/// one: no spec hash, no host.
pub(crate) fn running_container(id: &str, service: &str) -> crate::runtime::ObservedContainer {
    crate::runtime::ObservedContainer {
        id: id.into(),
        name: crate::slug::container_name(service),
        service_name: service.into(),
        spec_hash: None,
        host: None,
        image: "img".into(),
        image_id: None,
        status: crate::runtime::ContainerStatus::Running,
        created: 1,
        health: None,
    }
}
