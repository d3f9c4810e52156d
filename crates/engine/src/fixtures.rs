//! Host states for tests: the engine's own, and those of the crates that read its
//! snapshots (the tray's notifier, the API's schemas). One home for them, so that a new
//! field of `HostState` or `ServiceView` is filled in here once and not in every crate.
//!
//! Built only for tests (`cfg(test)`, or another crate's dev-dependency with the
//! `test-fixtures` feature): nothing in a release build may make up a host state.

use crate::host_state::{
    DesiredState, EngineConnection, EngineState, HostHealth, HostState, Overall, ServerConnection,
    ServerState, ServiceActions, ServiceState, ServiceView,
};

/// A service the server wants here, in `state`, never restarted; everything optional unset.
pub fn service(name: &str, state: ServiceState) -> ServiceView {
    ServiceView {
        name: name.into(),
        addon_name: None,
        addon_version: None,
        service: None,
        image: None,
        desired: DesiredState::Run,
        state,
        container_id: None,
        container_name: crate::slug::container_name(name),
        started_at_ms: None,
        restarts: 0,
        last_restart_reason: None,
        last_exit_code: None,
        last_exit_oom_killed: false,
        last_error: None,
        last_output: vec![],
        next_restart_at_ms: None,
        reported: None,
        actions: ServiceActions::allowed(DesiredState::Run, state, false, false),
        source: crate::host_state::ServiceSource::Server,
        unreachable_since_ms: None,
        health: None,
        pull: None,
    }
}

/// Host `h` of server `http://ayon`, with Docker up, not paused, showing `services`.
pub fn host(server: ServerState, services: Vec<ServiceView>) -> HostState {
    HostState {
        hostname: "h".into(),
        server_url: "http://ayon".into(),
        server: ServerConnection {
            state: server,
            reason: None,
            user: None,
            last_heartbeat_ms: None,
            since_ms: 0,
        },
        engine: EngineConnection {
            state: EngineState::Up,
            kind: "Docker".into(),
            endpoint: "unix:///var/run/docker.sock".into(),
            version: None,
            reason: None,
        },
        health: HostHealth::default(),
        paused: false,
        overall: Overall::Ok,
        services: services.into(),
        problems: vec![],
        unclaimed: vec![],
        local_services: None,
    }
}
