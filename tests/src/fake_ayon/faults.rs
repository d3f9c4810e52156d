//! Misbehaviour on demand: the fault a test sets is applied to every authenticated
//! route (users/me, the heartbeat, services, hosts) in place of the route, or, for
//! `Slow`, after it. /api/info, unknown routes and wrong methods are left alone, so
//! a test can still tell "the server is up but broken" from "the server is gone"
//! (`go_away`).
//!
//! A slow answer is worked out and recorded at once and only its sending is held
//! back: a heartbeat that the client gives up on still lands when it arrives, never
//! half a minute later after the test has moved on.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::app::Shared;
use super::errors::{json_response, ApiError};

/// What the fake does instead of (or before) answering normally.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    None,
    /// every /api route except /api/info answers HTTP 500 with a JSON error body
    ServerError,
    /// 200 with a body that is not JSON (e.g. "<html>oops")
    Garbage,
    /// 200 with valid JSON of the wrong shape, e.g. {"services": "nope"}
    WrongShape,
    /// the answer is delayed by this long before it is sent
    Slow(Duration),
    /// 401 {"code":401,"detail":"Invalid API key"} for every authenticated route
    Unauthorized,
    /// `GET /api/services` alone answers HTTP 500; heartbeats are answered normally (a
    /// server whose service list cannot be read, while it still takes heartbeats)
    ServicesListFails,
    /// heartbeat answers carry these raw entries after the real services (entries that
    /// are not service objects); other routes answer normally
    ExtraEntries(Vec<serde_json::Value>),
}

/// Marks an answer to be held back this long before it is sent; the outermost
/// layer (routes::finish) waits, after the heartbeat record is made.
#[derive(Clone, Copy, Debug)]
pub struct SendLate(pub Duration);

/// The answer a fault gives in place of the route's; None when the route should run.
fn replacement(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::None | Fault::Slow(_) | Fault::ExtraEntries(_) | Fault::ServicesListFails => None,
        Fault::ServerError => Some(
            ApiError::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                .into_response(),
        ),
        // What a misconfigured proxy in front of the server would send.
        Fault::Garbage => Some(
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                "<html>oops",
            )
                .into_response(),
        ),
        // Neither a service list (heartbeat, services) nor a user (no `name`).
        Fault::WrongShape => Some(json_response(
            StatusCode::OK,
            r#"{"services":"nope"}"#.into(),
        )),
        Fault::Unauthorized => Some(ApiError::unauthorized("Invalid API key").into_response()),
    }
}

/// Route layer over the authenticated routes.
pub async fn apply(State(app): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let fault = app.fault();
    if let Some(response) = replacement(&fault) {
        return response;
    }
    if fault == Fault::ServicesListFails
        && request.method() == axum::http::Method::GET
        && request.uri().path() == "/api/services"
    {
        return replacement(&Fault::ServerError).expect("a server error replaces the route");
    }
    let mut response = next.run(request).await;
    if let Fault::Slow(delay) = fault {
        response.extensions_mut().insert(SendLate(delay));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn each_fault_answers_as_documented() {
        assert!(replacement(&Fault::None).is_none());
        assert!(replacement(&Fault::Slow(Duration::from_millis(1))).is_none());
        let (status, body) = body_of(replacement(&Fault::ServerError).unwrap()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
        let (status, body) = body_of(replacement(&Fault::Garbage).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
        let (status, body) = body_of(replacement(&Fault::WrongShape).unwrap()).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"services":"nope"}"#)
        );
        let (status, body) = body_of(replacement(&Fault::Unauthorized).unwrap()).await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::UNAUTHORIZED,
                r#"{"code":401,"detail":"Invalid API key"}"#
            )
        );
    }
}
