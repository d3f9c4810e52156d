//! A log of every heartbeat request the fake received, whatever it answered, so
//! tests can assert what the host sent and wait for it to send something.
//!
//! The recording layer sits outside the fault layer and the route: a heartbeat
//! refused by a fault, by authentication or by validation is recorded all the same,
//! with the status it got.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::watch;

use super::app::Shared;
use super::auth::presented_api_key;
use super::errors::ApiError;

pub const HEARTBEAT_PATH: &str = "/api/hosts/heartbeat";

#[derive(Clone, Debug)]
pub struct HeartbeatRecord {
    /// The JSON body; a body that is not JSON is kept as a string, no body as null.
    pub body: Value,
    pub status: u16,
    /// `X-Api-Key`, or the key of `Authorization: ApiKey <key>`.
    pub api_key: Option<String>,
    /// The `User-Agent` header, as sent.
    pub user_agent: Option<String>,
    /// When the request arrived.
    pub at: Instant,
}

pub struct Recorder {
    records: Mutex<Vec<HeartbeatRecord>>,
    /// Bumped on every new record; waiters watch it instead of polling.
    count: watch::Sender<usize>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            records: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
        }
    }

    fn push(&self, record: HeartbeatRecord) {
        let mut records = self.records.lock().expect("heartbeat records lock");
        records.push(record);
        self.count.send_replace(records.len());
    }

    /// Oldest first, by arrival.
    pub fn all(&self) -> Vec<HeartbeatRecord> {
        let mut records = self.records.lock().expect("heartbeat records lock").clone();
        records.sort_by_key(|r| r.at);
        records
    }

    /// The oldest record satisfying `pred`, waiting for new ones until `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&HeartbeatRecord) -> bool,
    ) -> Option<HeartbeatRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Subscribing before looking means no record can slip in between unseen.
        let mut changes = self.count.subscribe();
        loop {
            if let Some(found) = self.all().into_iter().find(|r| pred(r)) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.all().into_iter().find(|r| pred(r)),
            }
        }
    }
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

/// Layer over the whole router; only `POST /api/hosts/heartbeat` is recorded.
pub async fn record_heartbeats(
    State(app): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || request.uri().path() != HEARTBEAT_PATH {
        return next.run(request).await;
    }
    let at = Instant::now();
    let api_key = presented_api_key(request.headers());
    let user_agent = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(String::from);
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        // The client went away mid-body: there is nobody to answer.
        return ApiError::plain(axum::http::StatusCode::BAD_REQUEST, "Incomplete body")
            .into_response();
    };
    let recorded = body_value(&bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    app.recorder.push(HeartbeatRecord {
        body: recorded,
        status: response.status().as_u16(),
        api_key,
        user_agent,
        at,
    });
    response
}

fn body_value(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(status: u16) -> HeartbeatRecord {
        HeartbeatRecord {
            body: json!({}),
            status,
            api_key: None,
            user_agent: None,
            at: Instant::now(),
        }
    }

    #[tokio::test]
    async fn wait_for_sees_past_and_future_records() {
        let recorder = Arc::new(Recorder::new());
        recorder.push(record(401));
        let found = recorder
            .wait_for(Duration::from_millis(10), |r| r.status == 401)
            .await;
        assert_eq!(found.map(|r| r.status), Some(401));
        let later = Arc::clone(&recorder);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            later.push(record(200));
        });
        let found = recorder
            .wait_for(Duration::from_secs(5), |r| r.status == 200)
            .await;
        assert_eq!(found.map(|r| r.status), Some(200));
        assert!(recorder
            .wait_for(Duration::from_millis(20), |r| r.status == 500)
            .await
            .is_none());
    }

    #[test]
    fn bodies_are_kept_even_when_not_json() {
        assert_eq!(body_value(&Bytes::from_static(b"")), Value::Null);
        assert_eq!(
            body_value(&Bytes::from_static(b"{\"a\":1}")),
            json!({"a": 1})
        );
        assert_eq!(
            body_value(&Bytes::from_static(b"{\"a\":")),
            json!("{\"a\":")
        );
    }
}
