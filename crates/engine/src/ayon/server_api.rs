//! The seam between the reconciler and the AYON server: the requests the loop makes
//! while it runs. [`AyonClient`] (reqwest) is the real one; the loop's tests script
//! answers and faults through it. Nothing here may decide what an answer means.

use async_trait::async_trait;

use super::wire::{HeartbeatRequest, HeartbeatResponse, ServiceOwners};
use super::{AyonClient, AyonError};

#[async_trait]
pub trait ServerApi: Send + Sync {
    /// One heartbeat: this host's health and running services in, its services out.
    async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<HeartbeatResponse, AyonError>;

    /// Who owns each service the server knows.
    async fn service_owners(&self) -> Result<ServiceOwners, AyonError>;

    /// The name of the service user the API key logs in as (`GET /api/users/me`).
    async fn service_user(&self) -> Result<String, AyonError>;
}

#[async_trait]
impl ServerApi for AyonClient {
    async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<HeartbeatResponse, AyonError> {
        AyonClient::heartbeat(self, request).await
    }

    async fn service_owners(&self) -> Result<ServiceOwners, AyonError> {
        AyonClient::service_owners(self).await
    }

    async fn service_user(&self) -> Result<String, AyonError> {
        AyonClient::service_user(self).await
    }
}
