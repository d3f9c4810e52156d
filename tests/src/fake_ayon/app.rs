//! The state every request shares, and the service changes that both the HTTP
//! routes and the Rust handle make through it: a test's `put_service` goes through
//! the same validation and the same errors as a PUT.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::auth::Accounts;
use super::body::RequestBody;
use super::errors::ApiError;
use super::faults::Fault;
use super::recorder::Recorder;
use super::state::Db;
use super::validate;

pub struct Shared {
    pub accounts: Accounts,
    pub recorder: Recorder,
    db: Mutex<Db>,
    fault: Mutex<Fault>,
    started: Instant,
}

impl Shared {
    /// A fresh server that knows addon `ticker` 1.0.0, which conformance.py needs.
    pub fn new(service_key: String) -> Shared {
        let mut db = Db::default();
        db.add_addon(
            "ticker",
            "1.0.0",
            &[
                ("ticker", "ashtest/ticker:1"),
                ("noterm", "ashtest/noterm:1"),
            ],
        );
        Shared {
            accounts: Accounts::new(service_key),
            recorder: Recorder::new(),
            db: Mutex::new(db),
            fault: Mutex::new(Fault::None),
            started: Instant::now(),
        }
    }

    pub fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().expect("fake database lock")
    }

    pub fn fault(&self) -> Fault {
        self.fault.lock().expect("fault lock").clone()
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().expect("fault lock") = fault;
    }

    /// Whole seconds, as a float: `136.0`.
    pub fn uptime(&self) -> f64 {
        self.started.elapsed().as_secs() as f64
    }

    /// PUT /api/services/{name} once the caller is known; `path` is the request's.
    pub fn put_service(&self, name: &str, path: &str, body: &RequestBody) -> Result<(), ApiError> {
        let spawn = validate::spawn(body).map_err(|e| ApiError::validation("PUT", path, e))?;
        self.db()
            .spawn(name, &spawn)
            .map_err(|e| ApiError::store("PUT", name, e))
    }

    /// PATCH /api/services/{name} once the caller is known.
    pub fn patch_service(
        &self,
        name: &str,
        path: &str,
        body: &RequestBody,
    ) -> Result<(), ApiError> {
        let patch = validate::patch(body).map_err(|e| ApiError::validation("PATCH", path, e))?;
        self.db()
            .patch(name, &patch)
            .map_err(|e| ApiError::store("PATCH", name, e))
    }
}
