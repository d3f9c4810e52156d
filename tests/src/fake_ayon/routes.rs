//! The HTTP surface: which path and method reach which handler, in which order a
//! request is checked, and what every answer carries.
//!
//! Order as on the real server: routing (404, 405, trailing-slash 307) first; then
//! reading the body (malformed JSON is a 400 even without credentials); then
//! authentication; then the body's validation; then the rule of the route
//! (only service users beat) and the database.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::Router;
use serde::Serialize;

use super::app::Shared;
use super::auth::{random_hex, Principal};
use super::body::RequestBody;
use super::clock::Timestamp;
use super::errors::{json_response, ApiError};
use super::faults::{self, Fault, SendLate};
use super::recorder::{self, HEARTBEAT_PATH};
use super::validate;
use super::wire::{HostList, Info, ServiceList};

type App = State<Arc<Shared>>;

pub fn router(app: Arc<Shared>) -> Router {
    // Faults hit the handlers only. They are layered on each method router before
    // its 405 fallback is set, because a layer over the whole Router would also wrap
    // that fallback, and a wrong method must be answered before anything else.
    let faulty = |handlers: MethodRouter<Arc<Shared>>| {
        handlers.route_layer(middleware::from_fn_with_state(app.clone(), faults::apply))
    };
    let only = |allow: &'static str| move || async move { ApiError::MethodNotAllowed { allow } };
    Router::new()
        .route("/api/users/me", faulty(get(users_me)).fallback(only("GET")))
        .route(
            HEARTBEAT_PATH,
            faulty(post(heartbeat)).fallback(only("POST")),
        )
        .route(
            "/api/services",
            faulty(get(list_services)).fallback(only("GET")),
        )
        .route(
            "/api/services/{name}",
            faulty(put(put_service).patch(patch_service).delete(delete_service))
                .fallback(only("PUT")),
        )
        .route("/api/hosts", faulty(get(list_hosts)).fallback(only("GET")))
        .route("/api/info", get(info).fallback(only("GET")))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            recorder::record_heartbeats,
        ))
        .layer(middleware::from_fn(finish))
        .with_state(app)
}

async fn users_me(State(app): App, headers: HeaderMap) -> Result<Response, ApiError> {
    let who = app.accounts.authenticate(&headers).await?;
    Ok(ok_json(&app.accounts.me(who)))
}

async fn heartbeat(
    State(app): App,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let path = decoded_path(&uri);
    let body = read_body(&headers, &bytes, "POST", &path)?;
    let who = app.accounts.authenticate(&headers).await?;
    let beat = validate::heartbeat(&body).map_err(|e| ApiError::validation("POST", &path, e))?;
    if who != Principal::Service {
        return Err(ApiError::plain(
            StatusCode::FORBIDDEN,
            "Only services have hearts to beat",
        ));
    }
    let mut db = app.db();
    db.heartbeat(&beat, Timestamp::now());
    // lastSeenDelta is measured when the answer is made, a moment after the update.
    let answer = ServiceList::new(db.services_to_run(&beat.hostname), Timestamp::now());
    if let Fault::ExtraEntries(extra) = app.fault() {
        let mut answer = serde_json::to_value(&answer).expect("answers serialize");
        if let Some(services) = answer["services"].as_array_mut() {
            services.extend(extra);
        }
        return Ok(ok_json(&answer));
    }
    Ok(ok_json(&answer))
}

async fn list_services(State(app): App, headers: HeaderMap) -> Result<Response, ApiError> {
    app.accounts.authenticate(&headers).await?;
    let db = app.db();
    Ok(ok_json(&ServiceList::new(db.services(), Timestamp::now())))
}

/// Both users may manage services (the service user counts as an admin).
async fn put_service(
    State(app): App,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let path = decoded_path(&uri);
    let body = read_body(&headers, &bytes, "PUT", &path)?;
    app.accounts.authenticate(&headers).await?;
    app.put_service(&name, &path, &body)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn patch_service(
    State(app): App,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let path = decoded_path(&uri);
    let body = read_body(&headers, &bytes, "PATCH", &path)?;
    app.accounts.authenticate(&headers).await?;
    app.patch_service(&name, &path, &body)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_service(
    State(app): App,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    app.accounts.authenticate(&headers).await?;
    app.db().delete(&name);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_hosts(State(app): App, headers: HeaderMap) -> Result<Response, ApiError> {
    app.accounts.authenticate(&headers).await?;
    let db = app.db();
    Ok(ok_json(&HostList::new(db.hosts())))
}

/// The one route without credentials.
async fn info(State(app): App) -> Response {
    ok_json(&Info {
        version: "1.16.0+DEVELOP",
        uptime: app.uptime(),
        disable_feedback: true,
        offline_mode: true,
    })
}

/// No route: Starlette first tries the path without its trailing slash and
/// redirects there if a route (with any method) serves it.
async fn unknown_route(uri: Uri, headers: HeaderMap) -> Response {
    let raw = uri.path();
    let stripped = raw.trim_end_matches('/');
    if stripped.len() < raw.len() && is_route(stripped) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("http://{host}{stripped}{query}");
        if let Ok(location) = HeaderValue::from_str(&location) {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    ApiError::RouteNotFound {
        path: decoded_path(&uri),
    }
    .into_response()
}

fn is_route(path: &str) -> bool {
    const FIXED: [&str; 5] = [
        "/api/users/me",
        HEARTBEAT_PATH,
        "/api/services",
        "/api/hosts",
        "/api/info",
    ];
    FIXED.contains(&path)
        || path
            .strip_prefix("/api/services/")
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Outermost layer: the request runs in a task of its own, so a client that hangs
/// up (say during the pause for an unknown key) cannot cancel it half way: its
/// effects and its heartbeat record happen whole. Then a slow answer is held back,
/// and every answer gets uvicorn's headers.
async fn finish(request: Request, next: Next) -> Response {
    let mut response = match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            .into_response(),
    };
    if let Some(SendLate(delay)) = response.extensions_mut().remove::<SendLate>() {
        tokio::time::sleep(delay).await;
    }
    let headers = response.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static("uvicorn"));
    if let Ok(id) = HeaderValue::from_str(&random_hex(16)) {
        headers.insert("x-request-id", id);
    }
    response
}

fn read_body(
    headers: &HeaderMap,
    bytes: &[u8],
    method: &'static str,
    path: &str,
) -> Result<RequestBody, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("application/octet-stream"));
    RequestBody::read(content_type, bytes).map_err(|e| ApiError::body(method, path, e))
}

fn ok_json(body: &impl Serialize) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_string(body).expect("answers serialize"),
    )
}

/// The path as the server quotes it in errors: percent-decoded.
fn decoded_path(uri: &Uri) -> String {
    let raw = uri.path().as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            raw[i],
            raw.get(i + 1).copied().and_then(hex),
            raw.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_for_messages() {
        let uri: Uri = "/api/services/a%20b%2Fc%zz".parse().unwrap();
        assert_eq!(decoded_path(&uri), "/api/services/a b/c%zz");
    }

    #[test]
    fn known_routes_for_redirects() {
        assert!(is_route("/api/hosts/heartbeat"));
        assert!(is_route("/api/services/x"));
        assert!(is_route("/api/services"));
        assert!(!is_route("/api/services/x/y"));
        assert!(!is_route("/api/nosuchthing"));
    }
}
