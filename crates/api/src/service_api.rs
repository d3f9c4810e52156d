//! The services' own API: a service, known by its token, reads its own spec and reports
//! its status. It sees nothing of other services and nothing of the host's secrets.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use ashtray_engine::host_state::ReportedStatus;
use ashtray_engine::Handle;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::{now_ms, SelfSpec, SelfView, ServiceInfo, StatusReport, MAX_STATUS_MESSAGE};

#[utoipa::path(get, path = "/api/v1/self", tag = "services", security(("service_token" = [])),
    description = "For a service, from inside its container: its own spec (secrets left out) and how it runs. Served on the services' listener only (ASHTRAY_API_URL).",
    responses((status = 200, body = SelfView), (status = 401, description = "No or a wrong service token"), (status = 503, body = ErrorBody, description = "ashtray is shutting down")))]
pub async fn get_self(
    State(handle): State<Handle>,
    Extension(Caller(name)): Extension<Caller>,
) -> Result<Json<SelfView>, ApiError> {
    let spec = handle.spec(&name).await?;
    let state = handle.state();
    Ok(Json(SelfView {
        spec: spec.as_ref().map(SelfSpec::of),
        service: state
            .service(&name)
            .map(|view| ServiceInfo::of(view, now_ms())),
        name,
    }))
}

#[utoipa::path(post, path = "/api/v1/self/status", tag = "services", security(("service_token" = [])),
    description = "A service reports how it is doing; the UI shows it.",
    request_body = StatusReport,
    responses((status = 204, description = "Taken"), (status = 400, body = ErrorBody), (status = 401, description = "No or a wrong service token")))]
pub async fn post_status(
    State(handle): State<Handle>,
    Extension(Caller(name)): Extension<Caller>,
    body: Result<Json<StatusReport>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(report) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "{}: send {{\"state\": \"ok\"|\"busy\"|\"error\", \"message\": \"...\", \"progress\": 0-100}}",
            e.body_text()
        ))
    })?;
    if let Some(progress) = report.progress {
        if !(0.0..=100.0).contains(&progress) {
            return Err(ApiError::BadRequest(format!(
                "progress {progress} is not between 0 and 100"
            )));
        }
    }
    if report
        .message
        .as_ref()
        .is_some_and(|m| m.chars().count() > MAX_STATUS_MESSAGE)
    {
        return Err(ApiError::BadRequest(format!(
            "message is longer than {MAX_STATUS_MESSAGE} characters: shorten it"
        )));
    }
    let status = ReportedStatus {
        state: report.state,
        message: report.message,
        progress: report.progress,
        at_ms: 0,
    };
    handle.report_status(&name, status).await?;
    Ok(StatusCode::NO_CONTENT)
}
