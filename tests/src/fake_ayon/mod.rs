//! A fake AYON server (ayon-backend 1.16.0 as seen by a service host) for the
//! end-to-end tests, speaking the wire format captured in
//! `shared/ayon-api/samples/` byte for byte, and checked by
//! `shared/ayon-api/conformance.py` (see `tests/tests/conformance.rs`).
//!
//! It owns an in-memory database (addons, hosts, services), two users (a service
//! user and an admin), fault switches and a record of every heartbeat. It never
//! persists anything and never talks to anything but its own clients.
//!
//! Layout: `routes` (HTTP surface) -> `auth` (who), `body` + `pyjson` (reading
//! bodies like FastAPI), `validate` (pydantic-style models), `app` + `state` (the
//! database and its rules) -> `wire` / `errors` (exact answers). `faults` and
//! `recorder` are layers around the routes; `server` runs the listener.

mod app;
mod auth;
mod body;
mod clock;
mod errors;
mod faults;
mod pyjson;
mod recorder;
mod routes;
mod server;
mod state;
mod validate;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;

pub use faults::Fault;
pub use recorder::HeartbeatRecord;

use app::Shared;
use body::RequestBody;
use clock::Timestamp;
use pyjson::Py;
use server::Serving;
use wire::ServiceModel;

/// A running fake server. Dropping it shuts the server down.
pub struct FakeAyon {
    shared: Arc<Shared>,
    router: Router,
    /// The bound address; `come_back` listens on it again.
    addr: SocketAddr,
    /// None while gone away.
    serving: Mutex<Option<Serving>>,
}

impl FakeAyon {
    /// On 127.0.0.1, a free port.
    pub async fn start() -> FakeAyon {
        FakeAyon::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// On `addr` (port 0 picks a free one), with a random service key.
    pub async fn start_on(addr: SocketAddr) -> FakeAyon {
        FakeAyon::try_start(addr, None)
            .await
            .unwrap_or_else(|e| panic!("fake AYON server cannot start on {addr}: {e}"))
    }

    /// On `addr`, with the given service-user key (random when None), which must be
    /// what the server accepts: 32 characters of `[A-Za-z0-9]`.
    pub async fn try_start(
        addr: SocketAddr,
        service_key: Option<&str>,
    ) -> Result<FakeAyon, String> {
        let service_key = service_key.map_or_else(auth::random_key, str::to_string);
        if !auth::is_valid_service_key(&service_key) {
            return Err(format!(
                "a service key must be 32 characters of [A-Za-z0-9], got {} characters",
                service_key.chars().count()
            ));
        }
        let shared = Arc::new(Shared::new(service_key));
        let router = routes::router(Arc::clone(&shared));
        let serving = Serving::start(addr, router.clone())
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(FakeAyon {
            shared,
            router,
            addr: serving.addr(),
            serving: Mutex::new(Some(serving)),
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API key of the service user "service-user".
    pub fn service_key(&self) -> String {
        self.shared.accounts.service_key.clone()
    }

    /// An API key of "admin", who is not a service user (heartbeats get 403).
    pub fn admin_key(&self) -> String {
        self.shared.accounts.admin_key.clone()
    }

    /// A login session token of "admin", for `Authorization: Bearer`.
    pub fn admin_token(&self) -> String {
        self.shared.accounts.admin_token.clone()
    }

    /// Declares an addon version and its services as (service, image).
    pub fn add_addon(&self, name: &str, version: &str, services: &[(&str, &str)]) {
        self.shared.db().add_addon(name, version, services);
    }

    /// Makes the host exist as if it had sent a heartbeat before (so services can be
    /// assigned to it), without touching its services; an existing host is unchanged.
    pub fn add_host(&self, hostname: &str) {
        self.shared.db().add_host(hostname, Timestamp::now());
    }

    /// Same effect and errors as PUT /api/services/{name}; `config` is the PUT's
    /// `config` object, or `Value::Null` for none. The error is the body the server
    /// would answer, e.g. `{"path":...,"error":"foreign-key-violation","code":409}`.
    pub fn put_service(
        &self,
        name: &str,
        addon: &str,
        version: &str,
        service: &str,
        hostname: &str,
        config: serde_json::Value,
    ) -> Result<(), String> {
        let mut body = serde_json::json!({
            "addonName": addon,
            "addonVersion": version,
            "service": service,
            "hostname": hostname,
        });
        if !config.is_null() {
            body["config"] = config;
        }
        let body = RequestBody::Json(Py::from(&body));
        self.shared
            .put_service(name, &format!("/api/services/{name}"), &body)
            .map_err(|e| e.body_text())
    }

    /// Same effect and errors as PATCH /api/services/{name} with this body.
    pub fn patch_service(&self, name: &str, patch: serde_json::Value) -> Result<(), String> {
        let body = match patch {
            serde_json::Value::Null => RequestBody::Missing,
            patch => RequestBody::Json(Py::from(&patch)),
        };
        self.shared
            .patch_service(name, &format!("/api/services/{name}"), &body)
            .map_err(|e| e.body_text())
    }

    /// Same as DELETE /api/services/{name}: fine whether or not it exists.
    pub fn delete_service(&self, name: &str) {
        self.shared.db().delete(name);
    }

    /// The ServiceModel JSON the server would list for it now.
    pub fn service(&self, name: &str) -> Option<serde_json::Value> {
        let db = self.shared.db();
        let service = db.service(name)?;
        Some(
            serde_json::to_value(ServiceModel::new(service, Timestamp::now()))
                .expect("a service model serializes"),
        )
    }

    /// Applies to every authenticated route (users/me, heartbeat, services, hosts);
    /// /api/info, unknown routes and wrong methods keep answering normally.
    /// Heartbeats are still recorded, with the status given. `Slow` works the answer
    /// out (and records the heartbeat) at once and holds back only its sending, so a
    /// client that gives up has still been heard, and nothing lands late.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.set_fault(fault);
    }

    /// Closes the listener and every open connection: clients get "connection refused".
    pub async fn go_away(&self) {
        let serving = self.serving.lock().expect("serving lock").take();
        if let Some(serving) = serving {
            serving.stop().await;
        }
    }

    /// Listens again on the same port (no-op when already listening). The database,
    /// keys, fault and heartbeat records are kept.
    pub async fn come_back(&self) {
        if self.serving.lock().expect("serving lock").is_some() {
            return;
        }
        let serving = Serving::start(self.addr, self.router.clone())
            .await
            .unwrap_or_else(|e| {
                panic!("fake AYON server cannot listen on {} again: {e}", self.addr)
            });
        *self.serving.lock().expect("serving lock") = Some(serving);
    }

    /// Every heartbeat request received (any status), oldest first.
    pub fn heartbeats(&self) -> Vec<HeartbeatRecord> {
        self.shared.recorder.all()
    }

    /// Waits until a received heartbeat (including those already received) satisfies
    /// `pred`, or the timeout passes; returns the oldest such heartbeat.
    pub async fn wait_for_heartbeat(
        &self,
        timeout: Duration,
        pred: impl Fn(&HeartbeatRecord) -> bool,
    ) -> Option<HeartbeatRecord> {
        self.shared.recorder.wait_for(timeout, pred).await
    }
}

impl Drop for FakeAyon {
    fn drop(&mut self) {
        if let Ok(mut serving) = self.serving.lock() {
            if let Some(serving) = serving.take() {
                serving.stop_soon();
            }
        }
    }
}

#[cfg(test)]
mod tests;
