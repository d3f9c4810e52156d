//! What the API sends and takes, beyond the engine's own snapshot types: small views made
//! for one endpoint each. Nothing here holds the AYON API key or a token. The engine's
//! types they carry are described by their mirrors in `host_schema`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use ashtray_engine::host_state::{HostState, ReportedState, ServiceView};
use ashtray_engine::logs::LogLine;
use ashtray_engine::spec::{PortMapping, ServiceSpec};

use crate::host_schema::{HostStateSchema, ReportedStateSchema, ServiceViewSchema};

/// Environment variables a service's own API never hands back, even if the server's
/// spec repeats them.
const SECRET_ENV: &[&str] = &["AYON_API_KEY", "ASHTRAY_SERVICE_TOKEN"];

pub use ashtray_engine::host_state::now_ms;

/// The host as `GET /api/v1/host` answers and the `state` event sends it: the one view
/// of the host, so a reader renders both alike. The engine's snapshot, as it is, with the
/// build this host runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostView {
    #[serde(flatten)]
    #[schema(value_type = HostStateSchema)]
    pub state: Arc<HostState>,
    /// ashtray's version.
    pub version: &'static str,
    /// The git commit it was built from (`unknown` when built without git).
    pub commit: &'static str,
    /// Where this host's control API and its browser dashboard answer, e.g.
    /// `http://127.0.0.1:47120/`: a free port when 47120 was taken. Null when the API was
    /// started without telling it.
    pub dashboard_url: Option<String>,
}

impl HostView {
    pub fn of(state: Arc<HostState>) -> HostView {
        HostView::at(state, None)
    }

    /// The view of a host whose dashboard answers at `dashboard`.
    pub fn at(state: Arc<HostState>, dashboard: Option<&DashboardUrl>) -> HostView {
        HostView {
            state,
            version: ashtray_engine::build_info::VERSION,
            commit: ashtray_engine::build_info::COMMIT,
            dashboard_url: dashboard.map(|d| d.0.to_string()),
        }
    }
}

/// The control listener's own address as a URL, for [`HostView::dashboard_url`]: known
/// only once it is bound (the port may be a free one), so handed to the router.
#[derive(Debug, Clone)]
pub struct DashboardUrl(pub Arc<str>);

/// One service, with its uptime.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceInfo {
    #[serde(flatten)]
    #[schema(value_type = ServiceViewSchema)]
    pub view: ServiceView,
    /// Milliseconds since its container started, while it runs.
    pub uptime_ms: Option<u64>,
}

impl ServiceInfo {
    pub fn of(view: &ServiceView, now_ms: u64) -> ServiceInfo {
        ServiceInfo {
            uptime_ms: view
                .started_at_ms
                .map(|started| now_ms.saturating_sub(started)),
            view: view.clone(),
        }
    }
}

/// A local command was taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub service: String,
    /// `stop`, `start` or `restart`.
    pub action: String,
}

/// Whether "pause all" is on, after the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct PauseView {
    pub paused: bool,
}

/// One line of a service's output.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogLineView {
    /// Per service, increasing from 1; a gap means lines were lost.
    pub seq: u64,
    pub at_ms: u64,
    pub stderr: bool,
    pub text: String,
}

impl From<&LogLine> for LogLineView {
    fn from(line: &LogLine) -> Self {
        LogLineView {
            seq: line.seq,
            at_ms: line.at_ms,
            stderr: line.stderr,
            text: line.text.clone(),
        }
    }
}

/// The SSE `missed` event of a log stream: a slow reader lost this many lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct Missed {
    pub missed: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogsView {
    pub service: String,
    /// Oldest first.
    pub lines: Vec<LogLineView>,
    /// Lines of this service no longer kept, pushed out of its buffer (by its own bounds
    /// or the host's total for all buffers) since ashtray started.
    pub dropped: u64,
}

/// The most lines `tail` may ask for: far beyond what a service's buffer keeps (5 000
/// lines by default), so "all of it" can be asked for, but a plain number for every client.
pub const MAX_TAIL: usize = 1_000_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// How many of the last lines (default 100, at most 1 000 000; a service's buffer keeps
    /// 5 000 by default, so more gives all it has).
    #[param(minimum = 0, maximum = 1000000)]
    pub tail: Option<usize>,
    /// Stream new lines as Server-Sent Events (`line` and `missed` events).
    pub follow: Option<bool>,
}

/// A service's own status report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    #[schema(value_type = ReportedStateSchema)]
    pub state: ReportedState,
    /// At most 2 000 characters.
    #[schema(max_length = 2000)]
    pub message: Option<String>,
    /// 0 to 100.
    #[schema(minimum = 0, maximum = 100)]
    pub progress: Option<f64>,
}

/// The longest status message kept, in characters (as JSON Schema's `maxLength` counts).
pub const MAX_STATUS_MESSAGE: usize = 2_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct PortView {
    pub host_ip: Option<String>,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

impl From<&PortMapping> for PortView {
    fn from(p: &PortMapping) -> Self {
        PortView {
            host_ip: p.host_ip.clone(),
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p.protocol.clone(),
        }
    }
}

/// What every reader of a spec sees alike: where it comes from, its image, mounts, ports
/// and limits. Each view adds the env as its reader may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecCommon {
    pub addon_name: String,
    pub addon_version: String,
    pub service: String,
    pub image: String,
    /// Mounts, as the server wrote them (`/host/path:/in/container[:ro]`).
    pub volumes: Vec<String>,
    pub ports: Vec<PortView>,
    /// As the server wrote it, e.g. `512m`.
    pub mem_limit: Option<String>,
    pub user: Option<String>,
}

impl SpecCommon {
    pub fn of(spec: &ServiceSpec) -> SpecCommon {
        SpecCommon {
            addon_name: spec.addon_name.clone(),
            addon_version: spec.addon_version.clone(),
            service: spec.service.clone(),
            image: spec.image.clone(),
            volumes: spec.volumes.clone(),
            ports: spec.ports.iter().map(PortView::from).collect(),
            mem_limit: spec.mem_limit.as_ref().map(|m| m.text.clone()),
            user: spec.user.clone(),
        }
    }
}

/// A service's spec as the service itself may see it: no API key, no token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SelfSpec {
    #[serde(flatten)]
    pub common: SpecCommon,
    /// The spec's own environment (its configuration), secrets left out.
    pub env: BTreeMap<String, String>,
}

impl SelfSpec {
    pub fn of(spec: &ServiceSpec) -> SelfSpec {
        SelfSpec {
            common: SpecCommon::of(spec),
            env: spec
                .env
                .iter()
                .filter(|(key, _)| {
                    !SECRET_ENV
                        .iter()
                        .any(|secret| key.eq_ignore_ascii_case(secret))
                })
                .cloned()
                .collect(),
        }
    }
}

/// `GET /api/v1/self`: the calling service.
#[derive(Debug, Serialize, ToSchema)]
pub struct SelfView {
    pub name: String,
    /// Its spec, while the server wants it here with a valid one.
    pub spec: Option<SelfSpec>,
    /// How it runs, as the UI shows it.
    pub service: Option<ServiceInfo>,
}
