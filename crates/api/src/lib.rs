//! The ashtray service API: one axum router for the control API (UI, CLI: bearer token,
//! loopback by default) and one for the services' own API (from inside containers, on
//! the container network's gateway), over an engine [`Handle`].
//!
//! It reads snapshots and sends commands; it never holds runtime state of its own, and no
//! response ever carries the AYON API key or a token other than the caller's own.

pub mod auth;
pub mod config_dir;
pub mod control;
pub mod details;
pub mod error;
pub mod host_schema;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod service_api;
pub mod stats;
pub mod streams;
pub mod ui;
pub mod views;

use std::sync::Arc;

use axum::http::{header, HeaderValue, Method};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use tower_http::cors::CorsLayer;

use ashtray_engine::{Handle, Secret};

pub use config_dir::{ConfigDir, ConfigDirError};

/// The Tauri window's origins: the tray window loads `ui/` from Tauri and calls the API
/// cross-origin. No other origin may.
const TAURI_ORIGINS: [&str; 2] = ["tauri://localhost", "http://tauri.localhost"];

async fn healthz() -> &'static str {
    "ok\n"
}

async fn control_openapi() -> Json<serde_json::Value> {
    Json(openapi::control_document())
}

async fn services_openapi() -> Json<serde_json::Value> {
    Json(openapi::services_document())
}

/// The control listener's routes: `/api/v1/...` (token), `/metrics` (token), `/healthz`,
/// `/api/v1/openapi.json` (this listener's document) and the UI at `/`.
pub fn control_router(handle: Handle, token: Secret) -> Router {
    control_router_at(handle, token, None)
}

/// [`control_router`] for a listener bound at `url` (e.g. `http://127.0.0.1:47120`): the
/// host view then says where the dashboard is, since the port may be a free one.
pub fn control_router_at(handle: Handle, token: Secret, url: Option<&str>) -> Router {
    let token = auth::ControlToken(Arc::new(token));
    let protected = Router::new()
        .route("/api/v1/host", get(control::host))
        .route("/api/v1/services", get(control::services))
        .route("/api/v1/services/{name}", get(control::service))
        .route("/api/v1/services/{name}/details", get(control::details))
        .route("/api/v1/services/{name}/stop", post(control::stop))
        .route("/api/v1/services/{name}/start", post(control::start))
        .route("/api/v1/services/{name}/restart", post(control::restart))
        .route("/api/v1/services/{name}/logs", get(control::logs))
        .route("/api/v1/stats", get(stats::stats))
        .route("/api/v1/pause", post(control::pause))
        .route("/api/v1/resume", post(control::resume))
        .route("/api/v1/events", get(control::events))
        .route("/metrics", get(metrics::metrics))
        .layer(from_fn_with_state(token, auth::require_control_token))
        .with_state(handle);
    let cors = CorsLayer::new()
        .allow_origin(TAURI_ORIGINS.map(HeaderValue::from_static))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(control_openapi))
        .merge(protected)
        .fallback(ui::serve)
        .layer(cors);
    match url {
        Some(url) => {
            let url = format!("{}/", url.trim_end_matches('/'));
            router.layer(Extension(views::DashboardUrl(url.into())))
        }
        None => router,
    }
}

/// The services' listener: `/api/v1/self*` (a service's own token), `/healthz` and
/// `/api/v1/openapi.json` (this listener's document), and nothing else.
pub fn services_router(handle: Handle) -> Router {
    let own = Router::new()
        .route("/api/v1/self", get(service_api::get_self))
        .route("/api/v1/self/status", post(service_api::post_status))
        .layer(from_fn_with_state(
            handle.clone(),
            auth::require_service_token,
        ))
        .with_state(handle);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(services_openapi))
        .merge(own)
        .fallback(|| async {
            error::ApiError::NotFound(
                "the services' API has /api/v1/self, /api/v1/self/status and /api/v1/openapi.json only".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// An engine that cannot reach any container engine: enough for the API's own rules.
    fn handle(dir: &std::path::Path) -> Handle {
        let endpoint = ashtray_engine::runtime::Endpoint::resolve(
            Some("unix:///nonexistent/docker.sock"),
            false,
        );
        let config = ashtray_engine::EngineConfig::new(
            "http://127.0.0.1:9",
            Secret::new("key"),
            "h",
            endpoint,
            dir.to_path_buf(),
        );
        ashtray_engine::spawn(config, tokio_util::sync::CancellationToken::new())
            .unwrap()
            .0
    }

    async fn call(
        router: &Router,
        method: &str,
        uri: &str,
        token: Option<&str>,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).to_string())
    }

    #[tokio::test]
    async fn the_control_api_opens_to_its_token_alone() {
        let dir = tempfile::tempdir().unwrap();
        let router = control_router(handle(dir.path()), Secret::new("right"));
        for uri in [
            "/api/v1/host",
            "/api/v1/services",
            "/api/v1/stats",
            "/api/v1/events",
            "/metrics",
        ] {
            assert_eq!(
                call(&router, "GET", uri, None).await,
                (StatusCode::UNAUTHORIZED, String::new()),
                "{uri}"
            );
            assert_eq!(
                call(&router, "GET", uri, Some("wrong")).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            call(&router, "POST", "/api/v1/pause", Some("righ")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&router, "GET", "/api/v1/host?token=right", None)
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&router, "POST", "/api/v1/pause?token=right", None)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        let (status, host) = call(&router, "GET", "/api/v1/host", Some("right")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            host.contains("\"hostname\":\"h\"") && !host.contains("key"),
            "{host}"
        );
        assert_eq!(
            call(&router, "GET", "/healthz", None).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&router, "GET", "/api/v1/services/nobody", Some("right"))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn the_services_listener_serves_self_only_and_no_control_token() {
        let dir = tempfile::tempdir().unwrap();
        let router = services_router(handle(dir.path()));
        assert_eq!(
            call(&router, "GET", "/api/v1/self", Some("right")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&router, "GET", "/api/v1/host", Some("right")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&router, "GET", "/healthz", None).await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn metrics_name_every_series_the_issue_asks_for() {
        let dir = tempfile::tempdir().unwrap();
        let text = metrics::render(&handle(dir.path()));
        for series in [
            "ashtray_services{state=\"running\"} 0",
            "ashtray_service_restarts_total 0",
            "ashtray_heartbeat_failures_total",
            "ashtray_heartbeat_latency_seconds_sum",
            "ashtray_reconcile_duration_seconds_count",
            "ashtray_log_lines_dropped_total{reason=\"slow_follower\"} 0",
        ] {
            assert!(text.contains(series), "{series} missing:\n{text}");
        }
    }

    #[tokio::test]
    async fn each_listener_serves_its_own_document() {
        let dir = tempfile::tempdir().unwrap();
        let handle = handle(dir.path());
        let control = control_router(handle.clone(), Secret::new("right"));
        let services = services_router(handle);
        let served = |router: Router| async move {
            let (status, doc) = call(&router, "GET", "/api/v1/openapi.json", None).await;
            assert_eq!(status, StatusCode::OK, "{doc}");
            let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
            doc["paths"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        let control_paths = served(control).await;
        assert!(control_paths.contains(&"/api/v1/host".to_string()));
        assert!(!control_paths.iter().any(|p| p.starts_with("/api/v1/self")));
        let services_paths = served(services).await;
        assert_eq!(services_paths, ["/api/v1/self", "/api/v1/self/status"]);
    }

    #[tokio::test]
    async fn a_tail_beyond_its_bound_is_refused_and_the_bound_itself_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let router = control_router(handle(dir.path()), Secret::new("right"));
        let logs = |tail: usize| format!("/api/v1/services/nobody/logs?tail={tail}");
        let (status, body) = call(&router, "GET", &logs(views::MAX_TAIL + 1), Some("right")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains(&views::MAX_TAIL.to_string()), "{body}");
        // Within the bound, the request goes on (to a 404: there is no such service).
        let (status, _) = call(&router, "GET", &logs(views::MAX_TAIL), Some("right")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
