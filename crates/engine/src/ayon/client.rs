//! The AYON server client: `GET /api/users/me` once at start, then heartbeats.
//!
//! Every request has a timeout, so a slow server costs one missed heartbeat, never a
//! stalled loop. Errors say which of "unreachable", "bad key", "not a service account",
//! "server error" and "answer I cannot read" happened; the API key never appears in one.

use std::time::Duration;

use reqwest::StatusCode;

use super::wire::{
    ErrorBody, HeartbeatRequest, HeartbeatResponse, ServiceOwner, ServiceOwners, ServicesList,
    UserMe,
};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum AyonError {
    #[error("cannot reach the AYON server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the AYON server at {url} did not answer within {} s", timeout.as_secs_f32())]
    Timeout { url: String, timeout: Duration },
    #[error("the AYON server refused the API key ({detail}): check AYON_API_KEY")]
    Unauthorized { detail: String },
    #[error("the API key belongs to user {user:?}, which is not a service account: create a service user in AYON and use its key")]
    NotServiceAccount { user: String },
    #[error("the AYON server refused the request ({status}: {detail})")]
    Refused { status: u16, detail: String },
    #[error("the AYON server failed ({status}: {detail})")]
    ServerError { status: u16, detail: String },
    #[error("the AYON server's answer to {what} cannot be read: {reason}")]
    BadAnswer { what: &'static str, reason: String },
}

impl AyonError {
    /// Whether trying again later may help (the server is away or failing), as opposed to
    /// a refusal that needs a person to fix the configuration.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AyonError::Unreachable { .. }
                | AyonError::Timeout { .. }
                | AyonError::ServerError { .. }
                | AyonError::BadAnswer { .. }
        )
    }
}

#[derive(Clone)]
pub struct AyonClient {
    http: reqwest::Client,
    base: String,
    key: Secret,
    timeout: Duration,
}

impl AyonClient {
    pub fn new(server_url: &str, key: Secret, timeout: Duration) -> AyonClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(crate::build_info::user_agent())
            .build()
            .expect("the HTTP client builds with static settings");
        AyonClient {
            http,
            base: server_url.trim_end_matches('/').to_string(),
            key,
            timeout,
        }
    }

    pub fn server_url(&self) -> &str {
        &self.base
    }

    /// Who the key belongs to; an error unless it is a service account.
    pub async fn service_user(&self) -> Result<String, AyonError> {
        let response = self.send(self.http.get(self.url("/api/users/me"))).await?;
        let body = self.body_of(response).await?;
        let me: UserMe = serde_json::from_slice(&body).map_err(|error| AyonError::BadAnswer {
            what: "GET /api/users/me",
            reason: error.to_string(),
        })?;
        if me.data.is_service != Some(true) {
            return Err(AyonError::NotServiceAccount { user: me.name });
        }
        Ok(me.name)
    }

    /// Sends one heartbeat; the answer's entries are returned raw, each to be validated
    /// on its own.
    pub async fn heartbeat(
        &self,
        request: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, AyonError> {
        let response = self
            .send(
                self.http
                    .post(self.url("/api/hosts/heartbeat"))
                    .json(request),
            )
            .await?;
        let body = self.body_of(response).await?;
        serde_json::from_slice(&body).map_err(|error| AyonError::BadAnswer {
            what: "the heartbeat",
            reason: error.to_string(),
        })
    }

    /// Who owns each service the server knows (`GET /api/services`): asked only when
    /// this host finds a container it cannot place by its labels. Entries that cannot be
    /// read are counted, not dropped: a list with holes cannot prove a service is gone.
    pub async fn service_owners(&self) -> Result<ServiceOwners, AyonError> {
        let mut owners = ServiceOwners::default();
        for entry in self.services().await? {
            match serde_json::from_value::<ServiceOwner>(entry) {
                Ok(owner) => owners.owners.push(owner),
                Err(_) => owners.unreadable += 1,
            }
        }
        Ok(owners)
    }

    /// Every service the server knows, of every host (`GET /api/services`), as raw
    /// entries: each is read on its own by whoever asks.
    pub async fn services(&self) -> Result<Vec<serde_json::Value>, AyonError> {
        let response = self.send(self.http.get(self.url("/api/services"))).await?;
        let body = self.body_of(response).await?;
        let list: ServicesList =
            serde_json::from_slice(&body).map_err(|error| AyonError::BadAnswer {
                what: "GET /api/services",
                reason: error.to_string(),
            })?;
        Ok(list.services)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, AyonError> {
        request
            .header("X-Api-Key", self.key.expose())
            .send()
            .await
            .map_err(|error| self.transport_error(error))
    }

    fn transport_error(&self, error: reqwest::Error) -> AyonError {
        if error.is_timeout() {
            AyonError::Timeout {
                url: self.base.clone(),
                timeout: self.timeout,
            }
        } else {
            // The innermost cause is the readable one ("Connection refused").
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                reason = cause.to_string();
                source = cause.source();
            }
            AyonError::Unreachable {
                url: self.base.clone(),
                reason,
            }
        }
    }

    async fn body_of(&self, response: reqwest::Response) -> Result<Vec<u8>, AyonError> {
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| self.transport_error(error))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .and_then(|error| error.detail)
            .unwrap_or_else(|| excerpt(&body));
        Err(match status {
            StatusCode::UNAUTHORIZED => AyonError::Unauthorized { detail },
            status if status.is_server_error() => AyonError::ServerError {
                status: status.as_u16(),
                detail,
            },
            status => AyonError::Refused {
                status: status.as_u16(),
                detail,
            },
        })
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no body".to_string()
    } else {
        text.chars().take(200).collect()
    }
}
