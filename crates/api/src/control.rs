//! The control API (UI, CLI): the host, its services, local stop/start/restart and
//! pause, and a service's recent output. Reads snapshots, sends commands; never touches
//! the runtime state itself.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use ashtray_engine::Handle;

use crate::details::ServiceDetailsView;
use crate::error::{ApiError, ErrorBody};
use crate::streams;
use crate::views::{
    now_ms, Accepted, DashboardUrl, HostView, LogLineView, LogsQuery, LogsView, PauseView,
    ServiceInfo, MAX_TAIL,
};

/// Lines `logs` gives when `tail` is not said.
const DEFAULT_TAIL: usize = 100;

#[utoipa::path(get, path = "/api/v1/host", tag = "control", security(("bearer" = [])),
    responses((status = 200, body = HostView), (status = 401, description = "No or a wrong token")))]
pub async fn host(
    State(handle): State<Handle>,
    dashboard: Option<Extension<DashboardUrl>>,
) -> Json<HostView> {
    Json(HostView::at(handle.state(), dashboard.as_deref()))
}

#[utoipa::path(get, path = "/api/v1/services", tag = "control", security(("bearer" = [])),
    responses((status = 200, body = Vec<ServiceInfo>), (status = 401, description = "No or a wrong token")))]
pub async fn services(State(handle): State<Handle>) -> Json<Vec<ServiceInfo>> {
    let now = now_ms();
    Json(
        handle
            .state()
            .services
            .iter()
            .map(|s| ServiceInfo::of(s, now))
            .collect(),
    )
}

fn unknown(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "there is no service {name:?} on this host: `ashtray status` lists them"
    ))
}

fn known(handle: &Handle, name: &str) -> Result<(), ApiError> {
    handle
        .state()
        .service(name)
        .map(|_| ())
        .ok_or_else(|| unknown(name))
}

#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "control", security(("bearer" = [])),
    params(("name" = String, Path, description = "The service's name")),
    responses((status = 200, body = ServiceInfo), (status = 404, body = ErrorBody), (status = 401, description = "No or a wrong token")))]
pub async fn service(
    State(handle): State<Handle>,
    Path(name): Path<String>,
) -> Result<Json<ServiceInfo>, ApiError> {
    known(&handle, &name)?;
    let state = handle.state();
    let view = state.service(&name).ok_or_else(|| unknown(&name))?;
    Ok(Json(ServiceInfo::of(view, now_ms())))
}

#[utoipa::path(get, path = "/api/v1/services/{name}/details", tag = "control", security(("bearer" = [])),
    description = "What a detail view shows: the service as listed, the image id of its container, its spec as the server sent it (values of secret-looking env keys hidden) and its recent history (started, exited and why, recreated and why).",
    params(("name" = String, Path, description = "The service's name")),
    responses((status = 200, body = ServiceDetailsView), (status = 404, body = ErrorBody), (status = 401, description = "No or a wrong token")))]
pub async fn details(
    State(handle): State<Handle>,
    Path(name): Path<String>,
) -> Result<Json<ServiceDetailsView>, ApiError> {
    let details = handle.details(&name).await?;
    let state = handle.state();
    let view = state.service(&name).ok_or_else(|| unknown(&name))?;
    Ok(Json(ServiceDetailsView::of(
        ServiceInfo::of(view, now_ms()),
        &details,
    )))
}

fn accepted(service: String, action: &str) -> (StatusCode, Json<Accepted>) {
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            service,
            action: action.into(),
        }),
    )
}

#[utoipa::path(post, path = "/api/v1/services/{name}/stop", tag = "control", security(("bearer" = [])),
    description = "Stops the service on this host until `start`, across restarts of ashtray.",
    params(("name" = String, Path, description = "The service's name")),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody), (status = 401, description = "No or a wrong token")))]
pub async fn stop(
    State(handle): State<Handle>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    handle.stop_service(&name).await?;
    Ok(accepted(name, "stop"))
}

#[utoipa::path(post, path = "/api/v1/services/{name}/start", tag = "control", security(("bearer" = [])),
    description = "Ends a local stop: the service runs again if the server wants it here.",
    params(("name" = String, Path, description = "The service's name")),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody), (status = 401, description = "No or a wrong token")))]
pub async fn start(
    State(handle): State<Handle>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    handle.start_service(&name).await?;
    Ok(accepted(name, "start"))
}

#[utoipa::path(post, path = "/api/v1/services/{name}/restart", tag = "control", security(("bearer" = [])),
    description = "Recreates the service's container.",
    params(("name" = String, Path, description = "The service's name")),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "It is stopped on this host"),
        (status = 401, description = "No or a wrong token")))]
pub async fn restart(
    State(handle): State<Handle>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    handle.restart_service(&name).await?;
    Ok(accepted(name, "restart"))
}

#[utoipa::path(post, path = "/api/v1/pause", tag = "control", security(("bearer" = [])),
    description = "Pause all: every service is stopped on this host until `resume`.",
    responses((status = 202, body = PauseView), (status = 401, description = "No or a wrong token")))]
pub async fn pause(
    State(handle): State<Handle>,
) -> Result<(StatusCode, Json<PauseView>), ApiError> {
    handle.pause_all(true).await?;
    Ok((StatusCode::ACCEPTED, Json(PauseView { paused: true })))
}

#[utoipa::path(post, path = "/api/v1/resume", tag = "control", security(("bearer" = [])),
    responses((status = 202, body = PauseView), (status = 401, description = "No or a wrong token")))]
pub async fn resume(
    State(handle): State<Handle>,
) -> Result<(StatusCode, Json<PauseView>), ApiError> {
    handle.pause_all(false).await?;
    Ok((StatusCode::ACCEPTED, Json(PauseView { paused: false })))
}

// The event stream's schema (one event) is written by `openapi::sse`.
#[utoipa::path(get, path = "/api/v1/services/{name}/logs", tag = "control", security(("bearer" = [])),
    description = "The last lines of the service's output, or with `follow=true` the last `tail` lines and every new one as Server-Sent Events: `line` (data: a LogLineView, id: its seq) and `missed` (data: Missed) when the reader was too slow. A `tail` beyond its maximum gets 400.",
    params(("name" = String, Path, description = "The service's name"), LogsQuery),
    responses((status = 200, content((LogsView = "application/json"), (String = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, description = "No or a wrong token")))]
pub async fn logs(
    State(handle): State<Handle>,
    Path(name): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::BadRequest(format!("{e}: use ?tail=N&follow=true")))?;
    let tail = query.tail.unwrap_or(DEFAULT_TAIL);
    if tail > MAX_TAIL {
        return Err(ApiError::BadRequest(format!(
            "tail {tail} is more than {MAX_TAIL} lines: ask for {MAX_TAIL} or fewer"
        )));
    }
    known(&handle, &name)?;
    if query.follow.unwrap_or(false) {
        return Ok(streams::follow_logs(&handle, &name, tail).into_response());
    }
    let lines = handle
        .logs()
        .tail(&name, tail)
        .iter()
        .map(|line| LogLineView::from(line.as_ref()))
        .collect();
    let dropped = handle.logs().dropped(&name);
    Ok(Json(LogsView {
        service: name,
        lines,
        dropped,
    })
    .into_response())
}

// The event stream's schema (one event) is written by `openapi::sse`.
#[utoipa::path(get, path = "/api/v1/events", tag = "control", security(("bearer" = [])),
    description = "Server-Sent Events: first `state` (data: the whole HostState), then every change as an event named after its type (`service_state`, `service_restarted`, `service_status`, `service_removed`, `server_connection`, `engine_connection`, `paused`; id: its seq; data: the EventEnvelope) followed by `state` with the new snapshot; `missed` (data: Missed) if this reader fell behind.",
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 401, description = "No or a wrong token")))]
pub async fn events(
    State(handle): State<Handle>,
    dashboard: Option<Extension<DashboardUrl>>,
) -> Response {
    streams::events(&handle, dashboard.map(|Extension(url)| url)).into_response()
}
