//! The OpenAPI schemas of the engine's host state (`ashtray_engine::host_state`): the
//! engine sends those types as they are, and the document describes them from here, so
//! that the engine needs no OpenAPI library.
//!
//! Each type here mirrors one engine type field for field, under the engine type's name
//! (`as = ...`), with the same serde attributes and doc comments; nothing constructs
//! them. The test below fails when an engine type sends a field its mirror lacks, or a
//! mirror documents one the engine does not send.

use utoipa::ToSchema;

/// The whole host at one moment.
#[derive(ToSchema)]
#[schema(as = HostState)]
pub struct HostStateSchema {
    /// The AYON host name this host heartbeats as.
    pub hostname: String,
    pub server_url: String,
    pub server: ServerConnectionSchema,
    pub engine: EngineConnectionSchema,
    pub health: HostHealthSchema,
    /// "Pause all" is on: every service is stopped on this host.
    pub paused: bool,
    /// One word for the tray icon: `ok`, `degraded`, `unreachable`, `engine_down`, `paused`, `starting`.
    pub overall: OverallSchema,
    /// Services the server wants here or that run here, by name.
    pub services: Vec<ServiceViewSchema>,
    /// Entries of the server's answer that were not services at all.
    pub problems: Vec<String>,
    /// Containers with ash's labels that this host did not start and its server's answer
    /// does not assign to it (another host's, most likely), and what this host does
    /// about each.
    pub unclaimed: Vec<UnclaimedViewSchema>,
    /// The local services file, when one is given.
    pub local_services: Option<LocalServicesViewSchema>,
}

/// The local services file, as last read.
#[derive(ToSchema)]
#[schema(as = LocalServicesView)]
pub struct LocalServicesViewSchema {
    pub path: String,
    /// Services it declares (the last good reading).
    pub services: usize,
    /// Why the file as it is now cannot be used (its line and field); the last good
    /// set stays in force meanwhile.
    pub error: Option<String>,
}

/// Where a service's spec comes from.
#[derive(ToSchema)]
#[schema(as = ServiceSource)]
#[serde(rename_all = "snake_case")]
pub enum ServiceSourceSchema {
    /// The AYON server's heartbeat answer.
    Server,
    /// The local services file (`--services`).
    Local,
    /// The server's last answer, kept in the state directory, while the server is
    /// unreachable.
    Cache,
}

/// A container this host does not count as its own (see `HostState.unclaimed`).
#[derive(ToSchema)]
#[schema(as = UnclaimedView)]
pub struct UnclaimedViewSchema {
    /// Its `io.ayon.service.service_name` label.
    pub service: String,
    pub container_id: String,
    pub container_name: String,
    /// The AYON host the server assigns the service to, when that is another host.
    pub owner_host: Option<String>,
    /// Whether this host removes it (the server no longer has the service, or has it
    /// here with `shouldRun` false); otherwise it is left alone.
    pub removing: bool,
    /// What is done and why, in words: "left alone: ash runs it for host sw-07".
    pub reason: String,
}

#[derive(ToSchema)]
#[schema(as = Overall)]
#[serde(rename_all = "snake_case")]
pub enum OverallSchema {
    Starting,
    Ok,
    Degraded,
    Unreachable,
    EngineDown,
    Paused,
}

#[derive(ToSchema)]
#[schema(as = HostHealth)]
pub struct HostHealthSchema {
    pub cpu: f64,
    pub mem: f64,
}

#[derive(ToSchema)]
#[schema(as = ServerConnection)]
pub struct ServerConnectionSchema {
    pub state: ServerStateSchema,
    /// Why it is not connected, in words.
    pub reason: Option<String>,
    /// The service user's name, once logged in.
    pub user: Option<String>,
    /// Unix ms of the last answered heartbeat.
    pub last_heartbeat_ms: Option<u64>,
    /// Unix ms since the state is what it is.
    pub since_ms: u64,
}

#[derive(ToSchema)]
#[schema(as = ServerState)]
#[serde(rename_all = "snake_case")]
pub enum ServerStateSchema {
    /// No AYON server is configured: only local services run.
    NotConfigured,
    Connecting,
    Connected,
    Unreachable,
    Unauthorized,
}

#[derive(ToSchema)]
#[schema(as = EngineConnection)]
pub struct EngineConnectionSchema {
    pub state: EngineStateSchema,
    /// `Docker` or `Podman`.
    pub kind: String,
    pub endpoint: String,
    pub version: Option<String>,
    pub reason: Option<String>,
}

#[derive(ToSchema)]
#[schema(as = EngineState)]
#[serde(rename_all = "snake_case")]
pub enum EngineStateSchema {
    Connecting,
    Up,
    Down,
}

/// One service on this host.
#[derive(ToSchema)]
#[schema(as = ServiceView)]
pub struct ServiceViewSchema {
    pub name: String,
    pub addon_name: Option<String>,
    pub addon_version: Option<String>,
    pub service: Option<String>,
    pub image: Option<String>,
    pub desired: DesiredStateSchema,
    pub state: ServiceStateSchema,
    pub container_id: Option<String>,
    pub container_name: String,
    /// Unix ms when its container was started.
    pub started_at_ms: Option<u64>,
    /// Restarts by ashtray (crash restarts, drift, by request).
    pub restarts: u32,
    /// Why ashtray last replaced its container, in words.
    pub last_restart_reason: Option<String>,
    pub last_exit_code: Option<i64>,
    /// The engine's inspect said the kernel killed its last exited container for memory
    /// (`State.OOMKilled`): an exit code 137 alone may be anyone's SIGKILL.
    pub last_exit_oom_killed: bool,
    pub last_error: Option<String>,
    /// Last output lines before its last exit.
    pub last_output: Vec<String>,
    /// Unix ms of the next restart attempt, while waiting out a backoff. Absolute, so
    /// the snapshot stays the same while the clock runs and a reader counts down itself.
    pub next_restart_at_ms: Option<u64>,
    /// The status the service last reported through its own API.
    pub reported: Option<ReportedStatusSchema>,
    /// What a user may ask of it now. Decided here once, so the tray, the page and the CLI
    /// never disagree on it.
    pub actions: ServiceActionsSchema,
    /// Who declares it: the server's answer, the local services file, or the server's
    /// last answer kept on disk while the server cannot be reached.
    pub source: ServiceSourceSchema,
    /// With `source: cache`: Unix ms since the server cannot be reached.
    pub unreachable_since_ms: Option<u64>,
    /// What its container's own HEALTHCHECK says, while it runs; null for an image
    /// without one.
    pub health: Option<ContainerHealthSchema>,
    /// While its image is pulled: how far the pull has come (bytes and layers).
    pub pull: Option<PullProgressSchema>,
}

/// How far a service's image pull has come.
#[derive(ToSchema)]
#[schema(as = PullProgress)]
pub struct PullProgressSchema {
    pub image: String,
    /// Bytes downloaded of the layers whose size is known yet.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Layers downloaded and extracted (or already on this engine).
    pub layers_done: u32,
    pub layers_total: u32,
}

/// Which local commands make sense for a service in its present state.
#[derive(ToSchema)]
#[schema(as = ServiceActions)]
pub struct ServiceActionsSchema {
    /// Start it again on this host: it is stopped here, or it failed and may be tried
    /// again now rather than after its backoff.
    pub start: bool,
    /// Stop it on this host until started again.
    pub stop: bool,
    /// Replace its container with a new one.
    pub restart: bool,
}

/// A container's own HEALTHCHECK verdict, as the container engine reports it.
#[derive(ToSchema)]
#[schema(as = ContainerHealth)]
#[serde(rename_all = "snake_case")]
pub enum ContainerHealthSchema {
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(ToSchema)]
#[schema(as = DesiredState)]
#[serde(rename_all = "snake_case")]
pub enum DesiredStateSchema {
    /// The server wants it running here.
    Run,
    /// Stopped on this host by the user (or "pause all").
    StoppedLocally,
    /// The server does not want it here (any more).
    NotWanted,
    /// The server's spec of it is invalid.
    Invalid,
    /// The server gives it no image: skipped.
    NoImage,
}

#[derive(ToSchema)]
#[schema(as = ServiceState)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStateSchema {
    Running,
    Starting,
    Stopping,
    Stopped,
    /// It exited; a restart is due after its backoff.
    Waiting,
    CrashLooping,
    Failed,
    Skipped,
    /// Wanted, not running yet (for example while the server cannot be heard).
    Pending,
}

/// A service's own word on how it is doing (`POST /api/v1/self/status`).
#[derive(ToSchema)]
#[schema(as = ReportedStatus)]
pub struct ReportedStatusSchema {
    pub state: ReportedStateSchema,
    #[serde(default)]
    pub message: Option<String>,
    /// 0 to 100.
    #[serde(default)]
    pub progress: Option<f64>,
    /// Unix ms when it was reported (set by ashtray).
    #[serde(default)]
    pub at_ms: u64,
}

#[derive(ToSchema)]
#[schema(as = ReportedState)]
#[serde(rename_all = "snake_case")]
pub enum ReportedStateSchema {
    Ok,
    Busy,
    Error,
}

/// Something that changed, in order.
#[derive(ToSchema)]
#[schema(as = EventEnvelope)]
pub struct EventEnvelopeSchema {
    /// Increases by one per event; a gap means a slow reader missed some.
    pub seq: u64,
    pub at_ms: u64,
    #[serde(flatten)]
    pub event: HostEventSchema,
}

#[derive(ToSchema)]
#[schema(as = HostEvent)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostEventSchema {
    /// A service's state changed: started (`to: running`), stopped, failed, ...
    ServiceState {
        service: String,
        from: Option<ServiceStateSchema>,
        to: ServiceStateSchema,
        message: Option<String>,
    },
    /// ashtray replaced a service's container.
    ServiceRestarted {
        service: String,
        reason: String,
    },
    /// The service reported its own status.
    ServiceStatus {
        service: String,
        status: ReportedStatusSchema,
    },
    /// The service is no longer on this host.
    ServiceRemoved {
        service: String,
    },
    ServerConnection {
        state: ServerStateSchema,
        reason: Option<String>,
    },
    EngineConnection {
        state: EngineStateSchema,
        reason: Option<String>,
    },
    Paused {
        paused: bool,
    },
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use ashtray_engine::fixtures;
    use ashtray_engine::host_state::*;

    fn document() -> Value {
        crate::openapi::control_document()
    }

    fn component(name: &str) -> Value {
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// `schema`, with `$ref`s into the document's components followed.
    fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("a reference outside the components: {reference}"));
                resolve(doc, &doc["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// The member of a `oneOf` that describes `value`: `null` or the type of a nullable
    /// field, or the variant of a tagged enum whose `type` the value has.
    fn member_for<'a>(doc: &'a Value, members: &'a [Value], value: &Value) -> Option<&'a Value> {
        members.iter().find(|member| {
            let member = resolve(doc, member);
            match member["properties"]["type"]["enum"].as_array() {
                Some(tags) => tags.contains(&value["type"]),
                None => (member["type"] == "null") == value.is_null(),
            }
        })
    }

    /// The properties `schema` documents for the object `value`, through `allOf` (serde's
    /// `flatten`) and `oneOf`.
    fn properties(doc: &Value, schema: &Value, value: &Value, into: &mut BTreeMap<String, Value>) {
        let schema = resolve(doc, schema);
        for part in schema["allOf"].as_array().into_iter().flatten() {
            properties(doc, part, value, into);
        }
        if let Some(members) = schema["oneOf"].as_array() {
            if let Some(member) = member_for(doc, members, value) {
                properties(doc, member, value, into);
            }
        }
        for (key, property) in schema["properties"].as_object().into_iter().flatten() {
            into.insert(key.clone(), property.clone());
        }
    }

    /// Where `value`, as the engine sends it, and `schema` disagree: a key one has and the
    /// other lacks, or a word the schema's `enum` does not list; all the way down.
    fn mismatches(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        let schema = resolve(doc, schema);
        if let Some(members) = schema["oneOf"].as_array() {
            return match member_for(doc, members, value) {
                Some(member) => mismatches(doc, member, value, at),
                None => vec![format!("{at}: no member of {schema} describes {value}")],
            };
        }
        let mut found = Vec::new();
        match value {
            Value::Object(sent) => {
                let mut documented = BTreeMap::new();
                properties(doc, schema, value, &mut documented);
                for key in sent.keys().filter(|key| !documented.contains_key(*key)) {
                    found.push(format!("{at}.{key} is sent but not documented"));
                }
                for key in documented.keys().filter(|key| !sent.contains_key(*key)) {
                    found.push(format!("{at}.{key} is documented but not sent"));
                }
                for (key, property) in &documented {
                    if let Some(inner) = sent.get(key) {
                        found.extend(mismatches(doc, property, inner, &format!("{at}.{key}")));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    found.extend(mismatches(
                        doc,
                        &schema["items"],
                        item,
                        &format!("{at}[{i}]"),
                    ));
                }
            }
            Value::String(word) => {
                if let Some(words) = schema["enum"].as_array() {
                    if !words.contains(value) {
                        found.push(format!("{at}: `{word}` is not one of {words:?}"));
                    }
                }
            }
            _ => {}
        }
        found
    }

    /// A host with every optional part filled in, so that every field is looked at.
    fn full_host() -> HostState {
        let mut service = fixtures::service("full", ServiceState::Running);
        service.addon_name = Some("addon".into());
        service.addon_version = Some("1.0.0".into());
        service.service = Some("ticker".into());
        service.image = Some("ashtest/ticker:1".into());
        service.container_id = Some("abc".into());
        service.started_at_ms = Some(1);
        service.last_exit_code = Some(3);
        service.last_error = Some("exited".into());
        service.last_output = vec!["fatal: boom".into()];
        service.next_restart_at_ms = Some(1000);
        service.reported = Some(reported());
        service.last_restart_reason = Some("its spec changed on the server".into());
        service.source = ServiceSource::Cache;
        service.unreachable_since_ms = Some(1);
        service.health = Some(ContainerHealth::Unhealthy);
        service.pull = Some(ashtray_engine::runtime::PullProgress {
            image: "ashtest/ticker:1".into(),
            bytes_done: 1,
            bytes_total: 2,
            layers_done: 0,
            layers_total: 1,
        });
        let mut host = fixtures::host(ServerState::Connected, vec![service]);
        host.local_services = Some(LocalServicesView {
            path: "/etc/ashtray/services.toml".into(),
            services: 1,
            error: Some("line 3: unknown field `imgae`".into()),
        });
        host.unclaimed = vec![UnclaimedView {
            service: "theirs".into(),
            container_id: "def".into(),
            container_name: "aysvc_theirs".into(),
            owner_host: Some("sw-07".into()),
            removing: false,
            reason: "left alone: ash runs it for host sw-07".into(),
        }];
        host.server.reason = Some("refused".into());
        host.server.user = Some("service-user".into());
        host.server.last_heartbeat_ms = Some(1);
        host.engine.version = Some("20.10".into());
        host.engine.reason = Some("gone".into());
        host.problems = vec!["not a service".into()];
        host
    }

    fn reported() -> ReportedStatus {
        ReportedStatus {
            state: ReportedState::Busy,
            message: Some("working".into()),
            progress: Some(50.0),
            at_ms: 1,
        }
    }

    /// One of each event; the match has no wildcard, so a new kind of event fails to
    /// compile here until it is added.
    fn every_event() -> Vec<HostEvent> {
        let all = vec![
            HostEvent::ServiceState {
                service: "a".into(),
                from: Some(ServiceState::Starting),
                to: ServiceState::Running,
                message: Some("started".into()),
            },
            HostEvent::ServiceRestarted {
                service: "a".into(),
                reason: "drift".into(),
            },
            HostEvent::ServiceStatus {
                service: "a".into(),
                status: reported(),
            },
            HostEvent::ServiceRemoved {
                service: "a".into(),
            },
            HostEvent::ServerConnection {
                state: ServerState::Unreachable,
                reason: Some("refused".into()),
            },
            HostEvent::EngineConnection {
                state: EngineState::Down,
                reason: Some("gone".into()),
            },
            HostEvent::Paused { paused: true },
        ];
        for event in &all {
            match event {
                HostEvent::ServiceState { .. }
                | HostEvent::ServiceRestarted { .. }
                | HostEvent::ServiceStatus { .. }
                | HostEvent::ServiceRemoved { .. }
                | HostEvent::ServerConnection { .. }
                | HostEvent::EngineConnection { .. }
                | HostEvent::Paused { .. } => {}
            }
        }
        all
    }

    /// Every variant of a unit enum, listed beside a match with no wildcard: a variant
    /// added in the engine fails to compile here until it is listed.
    macro_rules! every {
        ($ty:ident: $($variant:ident),+ $(,)?) => {{
            fn _listed(value: $ty) {
                match value {
                    $($ty::$variant)|+ => {}
                }
            }
            [$($ty::$variant),+].map(|v| serde_json::to_value(v).unwrap())
        }};
    }

    #[test]
    fn the_document_describes_the_host_state_exactly_as_the_engine_sends_it() {
        let doc = document();
        let mut found = mismatches(
            &doc,
            &component("HostState"),
            &serde_json::to_value(full_host()).unwrap(),
            "HostState",
        );
        let events = every_event();
        for (seq, event) in events.into_iter().enumerate() {
            let envelope = EventEnvelope {
                seq: seq as u64 + 1,
                at_ms: 1,
                event,
            };
            found.extend(mismatches(
                &doc,
                &component("EventEnvelope"),
                &serde_json::to_value(envelope).unwrap(),
                "EventEnvelope",
            ));
        }
        assert!(found.is_empty(), "{}", found.join("\n"));
        let documented_events = doc["components"]["schemas"]["HostEvent"]["oneOf"]
            .as_array()
            .map(Vec::len);
        assert_eq!(
            documented_events,
            Some(every_event().len()),
            "kinds of events"
        );
    }

    #[test]
    fn the_document_lists_every_word_of_the_engine_enums() {
        let doc = document();
        let enums = [
            ("Overall", every!(Overall: Starting, Ok, Degraded, Unreachable, EngineDown, Paused).to_vec()),
            ("ServerState", every!(ServerState: NotConfigured, Connecting, Connected, Unreachable, Unauthorized).to_vec()),
            ("EngineState", every!(EngineState: Connecting, Up, Down).to_vec()),
            ("DesiredState", every!(DesiredState: Run, StoppedLocally, NotWanted, Invalid, NoImage).to_vec()),
            (
                "ServiceState",
                every!(ServiceState: Running, Starting, Stopping, Stopped, Waiting, CrashLooping, Failed, Skipped, Pending)
                    .to_vec(),
            ),
            ("ReportedState", every!(ReportedState: Ok, Busy, Error).to_vec()),
            ("ServiceSource", every!(ServiceSource: Server, Local, Cache).to_vec()),
        ];
        let sorted = |mut words: Vec<Value>| {
            words.sort_by_key(Value::to_string);
            words
        };
        for (name, words) in enums {
            let documented = doc["components"]["schemas"][name]["enum"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(sorted(documented), sorted(words), "the words of {name}");
        }
    }
}
