//! `GET /metrics`: Prometheus' text format, written by hand: a dozen series from the
//! engine's counters and the current snapshot need no registry.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use ashtray_engine::host_state::{
    ContainerHealth, ServerState, ServiceSource, ServiceState, ServiceView,
};
use ashtray_engine::Handle;

const STATES: &[(ServiceState, &str)] = &[
    (ServiceState::Running, "running"),
    (ServiceState::Starting, "starting"),
    (ServiceState::Stopping, "stopping"),
    (ServiceState::Stopped, "stopped"),
    (ServiceState::Waiting, "waiting"),
    (ServiceState::CrashLooping, "crash_looping"),
    (ServiceState::Failed, "failed"),
    (ServiceState::Skipped, "skipped"),
    (ServiceState::Pending, "pending"),
];

const HEALTHS: &[(ContainerHealth, &str)] = &[
    (ContainerHealth::Starting, "starting"),
    (ContainerHealth::Healthy, "healthy"),
    (ContainerHealth::Unhealthy, "unhealthy"),
];

struct Text(String);

impl Text {
    fn metric(&mut self, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.0, "{name}{labels} {value}");
        }
    }
}

/// How many services have each value of `of`, as `{label="word"}` samples.
fn count_by<T: PartialEq + Copy>(
    services: &[ServiceView],
    label: &str,
    values: &[(T, &str)],
    of: impl Fn(&ServiceView) -> Option<T>,
) -> Vec<(String, f64)> {
    values
        .iter()
        .map(|(value, word)| {
            let count = services.iter().filter(|s| of(s) == Some(*value)).count();
            (format!("{{{label}=\"{word}\"}}"), count as f64)
        })
        .collect()
}

fn labelled(samples: &[(String, f64)]) -> Vec<(&str, f64)> {
    samples.iter().map(|(l, v)| (l.as_str(), *v)).collect()
}

/// The metrics as Prometheus text.
pub fn render(handle: &Handle) -> String {
    let metrics = handle.metrics();
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed) as f64;
    let state = handle.state();
    let logs = handle.logs();
    let mut text = Text(String::with_capacity(2048));
    let build = format!(
        "{{version=\"{}\",commit=\"{}\"}}",
        ashtray_engine::build_info::VERSION,
        ashtray_engine::build_info::COMMIT
    );
    text.metric(
        "ashtray_build_info",
        "gauge",
        "The version and git commit of this ashtray (always 1).",
        &[(build.as_str(), 1.0)],
    );

    let by_state = count_by(&state.services, "state", STATES, |s| Some(s.state));
    text.metric(
        "ashtray_services",
        "gauge",
        "Services on this host by state.",
        &labelled(&by_state),
    );
    let by_health = count_by(&state.services, "health", HEALTHS, |s| s.health);
    text.metric(
        "ashtray_services_health",
        "gauge",
        "Running services by what their container's own HEALTHCHECK says (services without one are not counted).",
        &labelled(&by_health),
    );
    let by_source: Vec<(String, f64)> = [
        ServiceSource::Server,
        ServiceSource::Local,
        ServiceSource::Cache,
    ]
    .iter()
    .map(|source| {
        let count = state
            .services
            .iter()
            .filter(|s| s.source == *source)
            .count();
        (format!("{{source=\"{}\"}}", source.as_str()), count as f64)
    })
    .collect();
    let by_source: Vec<(&str, f64)> = by_source.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    text.metric(
        "ashtray_services_by_source",
        "gauge",
        "Services on this host by who declares them: the server, the local services file, or the server's cached answer.",
        &by_source,
    );
    text.metric(
        "ashtray_service_restarts_total",
        "counter",
        "Containers ashtray replaced (crash, drift, request).",
        &[("", load(&metrics.restarts))],
    );
    text.metric(
        "ashtray_heartbeats_total",
        "counter",
        "Heartbeats sent to the AYON server, by result.",
        &[
            ("{result=\"ok\"}", load(&metrics.heartbeats_ok)),
            ("{result=\"failed\"}", load(&metrics.heartbeats_failed)),
        ],
    );
    text.metric(
        "ashtray_heartbeat_failures_total",
        "counter",
        "Heartbeats that failed.",
        &[("", load(&metrics.heartbeats_failed))],
    );
    text.metric(
        "ashtray_heartbeat_latency_seconds",
        "summary",
        "Time the AYON server took to answer a heartbeat.",
        &[
            ("_sum", load(&metrics.heartbeat_latency_ms_total) / 1000.0),
            ("_count", load(&metrics.heartbeats_ok)),
        ],
    );
    text.metric(
        "ashtray_last_heartbeat_latency_seconds",
        "gauge",
        "Latency of the last answered heartbeat.",
        &[("", load(&metrics.last_heartbeat_latency_ms) / 1000.0)],
    );
    text.metric(
        "ashtray_reconcile_duration_seconds",
        "summary",
        "Time spent planning and dispatching a reconcile.",
        &[
            ("_sum", load(&metrics.reconcile_micros_total) / 1e6),
            ("_count", load(&metrics.reconciles)),
        ],
    );
    text.metric(
        "ashtray_log_lines_dropped_total",
        "counter",
        "Log lines lost: pushed out of a full buffer, or missed by a slow follower.",
        &[
            ("{reason=\"evicted\"}", logs.evicted_lines() as f64),
            ("{reason=\"slow_follower\"}", logs.missed_lines() as f64),
        ],
    );
    text.metric(
        "ashtray_log_buffer_bytes",
        "gauge",
        "Bytes of service output held in the log buffers.",
        &[("", logs.buffered_bytes() as f64)],
    );
    text.metric(
        "ashtray_engine_api_calls_total",
        "counter",
        "Calls to the container engine.",
        &[("", load(&metrics.engine_api_calls))],
    );
    let connected = if state.server.state == ServerState::Connected {
        1.0
    } else {
        0.0
    };
    text.metric(
        "ashtray_server_connected",
        "gauge",
        "1 while the AYON server answers heartbeats.",
        &[("", connected)],
    );
    text.metric(
        "ashtray_paused",
        "gauge",
        "1 while \"pause all\" is on.",
        &[("", if state.paused { 1.0 } else { 0.0 })],
    );
    text.0
}

pub async fn metrics(State(handle): State<Handle>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&handle),
    )
}
