//! Who is asking: the fake's two users, and how a request's credentials name one.
//!
//! Follows the server's rules. `X-Api-Key`, else `Authorization: ApiKey <key>`, is
//! an API key; otherwise `Authorization: Bearer <token>` is a session token, and
//! only a 64-character token counts as one (a Bearer API key is simply "missing").
//! An unknown API key is answered after a pause of about 200 ms (the server's
//! brute-force delay) with "Invalid API key", and the server then remembers it: the
//! same key within 60 s gets "Invalid session" instead.
//!
//! This module decides identity only; what a user may do is the routes' business.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use rand::distr::Alphanumeric;
use rand::Rng;

use super::clock::Timestamp;
use super::errors::ApiError;
use super::wire::{Attrib, UserData, UserModel, OWN_ATTRIB};

/// The users the fake knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The service user ("service-user"): may send heartbeats, is also an admin.
    Service,
    /// An ordinary admin: may manage services, but has no heart to beat.
    Admin,
}

const SERVICE_USER: &str = "service-user";
const REJECT_PAUSE: Duration = Duration::from_millis(200);
const REJECT_MEMORY: Duration = Duration::from_secs(60);

pub struct Accounts {
    pub service_key: String,
    pub admin_key: String,
    pub admin_token: String,
    created: Timestamp,
    /// What users/me shows in place of the stored secrets.
    service_key_hash: String,
    admin_password_hash: String,
    /// Unknown API keys and when they were first refused.
    rejected: Mutex<HashMap<String, Instant>>,
}

impl Accounts {
    pub fn new(service_key: String) -> Accounts {
        Accounts {
            service_key,
            admin_key: random_key(),
            admin_token: random_hex(64),
            created: Timestamp::now(),
            service_key_hash: random_hex(64),
            admin_password_hash: random_hex(64),
            rejected: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        if let Some(key) = presented_api_key(headers) {
            if key == self.service_key {
                return Ok(Principal::Service);
            }
            if key == self.admin_key {
                return Ok(Principal::Admin);
            }
            let detail = self.remember_rejected(&key);
            tokio::time::sleep(REJECT_PAUSE).await;
            return Err(ApiError::unauthorized(detail));
        }
        match session_token(headers) {
            Some(token) if token == self.admin_token => Ok(Principal::Admin),
            // A well-formed token of no live session.
            Some(_) => Err(ApiError::unauthorized("Invalid session")),
            None => Err(ApiError::unauthorized("Access token is missing")),
        }
    }

    /// The first refusal of a key says so; repeats within a minute say "Invalid session".
    fn remember_rejected(&self, key: &str) -> &'static str {
        let mut rejected = self.rejected.lock().expect("rejected keys lock");
        let now = Instant::now();
        rejected.retain(|_, first| now.duration_since(*first) < REJECT_MEMORY);
        if rejected.contains_key(key) {
            "Invalid session"
        } else {
            rejected.insert(key.to_string(), now);
            "Invalid API key"
        }
    }

    /// GET /api/users/me for this user.
    pub fn me(&self, who: Principal) -> UserModel {
        let (name, full_name, data) = match who {
            Principal::Service => (
                SERVICE_USER.to_string(),
                format!("Service {SERVICE_USER}"),
                UserData::Service {
                    api_key: self.service_key_hash.clone(),
                    created_by: "admin",
                    is_service: true,
                    api_key_preview: preview(&self.service_key),
                },
            ),
            Principal::Admin => (
                "admin".to_string(),
                "Admin".to_string(),
                UserData::Admin {
                    access_groups: serde_json::Map::new(),
                    default_access_groups: Vec::new(),
                    is_admin: true,
                    password: self.admin_password_hash.clone(),
                },
            ),
        };
        UserModel {
            name,
            ui_exposure_level: 900,
            attrib: Attrib { full_name },
            data,
            active: true,
            own_attrib: OWN_ATTRIB,
            created_at: self.created.utc_iso(),
            updated_at: self.created.utc_iso(),
        }
    }
}

/// The API key a request carries, if any (what a heartbeat record shows).
pub fn presented_api_key(headers: &HeaderMap) -> Option<String> {
    let header_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    if let Some(key) = header_key {
        return Some(key.to_string());
    }
    authorization(headers, "apikey").map(str::to_string)
}

/// A Bearer token of the session-token length.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    authorization(headers, "bearer").filter(|token| token.chars().count() == 64)
}

/// The credential of an `Authorization: <scheme> <credential>` header: exactly two
/// words, the scheme compared without case.
fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let mut words = value.split_whitespace();
    let (kind, credential) = (words.next()?, words.next()?);
    (words.next().is_none() && kind.eq_ignore_ascii_case(scheme)).then_some(credential)
}

fn preview(key: &str) -> String {
    let head: String = key.chars().take(4).collect();
    let tail: String = key
        .chars()
        .skip(key.chars().count().saturating_sub(4))
        .collect();
    format!("{head}***{tail}")
}

/// A service-user style API key: 32 characters of `[A-Za-z0-9]`.
pub fn random_key() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

pub fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("a hex digit"))
        .collect()
}

/// What the server accepts as a service user's key.
pub fn is_valid_service_key(key: &str) -> bool {
    key.len() == 32 && key.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    async fn detail(
        accounts: &Accounts,
        pairs: &[(&'static str, &str)],
    ) -> Result<Principal, String> {
        accounts
            .authenticate(&headers(pairs))
            .await
            .map_err(|e| e.body_text())
    }

    #[tokio::test]
    async fn credentials_name_the_right_user() {
        let accounts = Accounts::new(random_key());
        let service = accounts.service_key.clone();
        let bearer = format!("Bearer {}", accounts.admin_token);
        assert_eq!(
            detail(&accounts, &[("x-api-key", &service)]).await,
            Ok(Principal::Service)
        );
        assert_eq!(
            detail(
                &accounts,
                &[("authorization", &format!("apikey {service}"))]
            )
            .await,
            Ok(Principal::Service)
        );
        assert_eq!(
            detail(&accounts, &[("x-api-key", &accounts.admin_key.clone())]).await,
            Ok(Principal::Admin)
        );
        assert_eq!(
            detail(&accounts, &[("authorization", &bearer)]).await,
            Ok(Principal::Admin)
        );
        // X-Api-Key wins over Authorization.
        assert_eq!(
            detail(
                &accounts,
                &[("x-api-key", &service), ("authorization", &bearer)]
            )
            .await,
            Ok(Principal::Service)
        );
    }

    #[tokio::test]
    async fn missing_and_bearer_api_key_are_both_missing() {
        let accounts = Accounts::new(random_key());
        let missing = Err(r#"{"code":401,"detail":"Access token is missing"}"#.to_string());
        assert_eq!(detail(&accounts, &[]).await, missing);
        let bearer_key = format!("Bearer {}", accounts.service_key);
        assert_eq!(
            detail(&accounts, &[("authorization", &bearer_key)]).await,
            missing
        );
        let unknown_session = format!("Bearer {}", random_hex(64));
        assert_eq!(
            detail(&accounts, &[("authorization", &unknown_session)]).await,
            Err(r#"{"code":401,"detail":"Invalid session"}"#.to_string())
        );
    }

    #[tokio::test]
    async fn unknown_key_is_slow_then_an_invalid_session() {
        let accounts = Accounts::new(random_key());
        let started = Instant::now();
        assert_eq!(
            detail(&accounts, &[("x-api-key", "nope")]).await,
            Err(r#"{"code":401,"detail":"Invalid API key"}"#.to_string())
        );
        assert!(started.elapsed() >= REJECT_PAUSE);
        assert_eq!(
            detail(&accounts, &[("x-api-key", "nope")]).await,
            Err(r#"{"code":401,"detail":"Invalid session"}"#.to_string())
        );
    }

    #[test]
    fn generated_keys_look_like_service_keys() {
        assert!(is_valid_service_key(&random_key()));
        assert!(!is_valid_service_key("short"));
        assert!(!is_valid_service_key(&"a-".repeat(16)));
        assert_eq!(random_hex(64).len(), 64);
    }
}
