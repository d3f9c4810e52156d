//! `GET /api/v1/stats`: each running service's CPU and memory, from the engine's stats
//! streams (one per running container, pushed by the engine): the latest reading and the
//! last two minutes of them, for the list and the detail view's small history.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use ashtray_engine::stats::StatsPoint;
use ashtray_engine::Handle;

/// One reading.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsPointView {
    /// Unix ms.
    pub at_ms: u64,
    /// Percent of one core (200 is two cores busy), as `docker stats` shows it.
    pub cpu_percent: f64,
    /// Memory in use, without the page cache the kernel takes back when asked.
    pub mem_bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceStatsView {
    /// The latest reading.
    pub at_ms: u64,
    pub cpu_percent: f64,
    pub mem_bytes: u64,
    /// Its memory limit, or the machine's memory when it has none.
    pub mem_limit_bytes: Option<u64>,
    /// Oldest first, about one a second, the last 120 at most.
    pub history: Vec<StatsPointView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// By service name: each service whose container runs and was measured in the last 10 s.
    pub services: BTreeMap<String, ServiceStatsView>,
}

fn point(p: &StatsPoint) -> StatsPointView {
    StatsPointView {
        at_ms: p.at_ms,
        cpu_percent: p.sample.cpu_percent,
        mem_bytes: p.sample.mem_bytes,
    }
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "control", security(("bearer" = [])),
    description = "Each running service's CPU and memory, from one engine stats stream per running container (the engine pushes about one reading a second; ashtray asks nothing per service per tick): the latest reading and the last two minutes.",
    responses((status = 200, body = StatsView), (status = 401, description = "No or a wrong token")))]
pub async fn stats(State(handle): State<Handle>) -> Json<StatsView> {
    let services = handle
        .stats()
        .fresh()
        .into_iter()
        .filter_map(|(service, points)| {
            let last = points.last()?;
            Some((
                service,
                ServiceStatsView {
                    at_ms: last.at_ms,
                    cpu_percent: last.sample.cpu_percent,
                    mem_bytes: last.sample.mem_bytes,
                    mem_limit_bytes: last.sample.mem_limit_bytes,
                    history: points.iter().map(point).collect(),
                },
            ))
        })
        .collect();
    Json(StatsView { services })
}
