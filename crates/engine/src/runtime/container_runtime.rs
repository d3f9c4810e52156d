//! The seam between the reconciler and a container engine: what the loop, the executor
//! and the catalog may ask of Docker, Podman or the in-memory engine, and nothing more.
//!
//! It owns no state and decides nothing; each implementation only translates. The trait
//! is `async_trait` rather than native `async fn`: the loop holds the runtime as
//! `Arc<dyn ContainerRuntime>` (which one is known at start-up only), native async trait
//! methods are not object safe, and one box per call costs nothing next to a socket
//! round trip.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::registry_auth::ClientConfig;
use super::stats::StatsSample;
#[cfg(doc)]
use super::EVENTS_REPLAY;
use super::{
    ContainerEvent, Endpoint, ExitInfo, ObservedContainer, OutputFrom, OutputLine, OwnContainer,
    PullProgress, RegistryAuth, Runtime, RuntimeError,
};
use crate::container::{AppliedConfig, ContainerConfig};

/// One container engine, connected.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Engine API requests made so far (streams count once, when opened).
    fn api_calls(&self) -> u64;

    /// The engine's version, e.g. `20.10.24`.
    async fn version(&self) -> Result<String, RuntimeError>;

    /// Every service container on this engine (running or not), in ONE request.
    async fn list_service_containers(&self) -> Result<Vec<ObservedContainer>, RuntimeError>;

    /// Creates and starts the container; a leftover of the same name is replaced.
    async fn create_and_start(&self, config: &ContainerConfig) -> Result<String, RuntimeError>;

    /// Whose client configuration a pull's credentials come from: the engine's own CLI's.
    fn client_config(&self) -> ClientConfig {
        ClientConfig::Docker
    }

    /// Whether the engine has `image` already.
    async fn has_image(&self, image: &str) -> Result<bool, RuntimeError>;

    /// Pulls `image` (with `auth` when its registry wants it), handing `progress` the
    /// figures now and then while it runs; a refusal carries the registry's message.
    async fn pull_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<(), RuntimeError>;

    /// Stops the container (SIGTERM, then SIGKILL after `grace`) and removes it.
    async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;

    /// Exit code, run time and last output of a container that stopped.
    async fn exit_info(&self, id: &str) -> Result<ExitInfo, RuntimeError>;

    /// What a container was given, to decide whether to adopt it as it is.
    async fn applied_config(&self, id: &str) -> Result<AppliedConfig, RuntimeError>;

    /// The container this process runs in, if it runs in one.
    async fn own_container(&self) -> Option<OwnContainer>;

    /// Service containers' events, which keep the loop's [`super::ObservedSet`] and wake
    /// it early. Asked for before a list, so that no event between the two is lost: a
    /// runtime that cannot promise to be subscribed at once replays a little of the
    /// past (Docker: [`EVENTS_REPLAY`]), marking those events [`ContainerEvent::replayed`].
    fn events(&self) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>>;

    /// A container's output from `from` on.
    fn follow_output(&self, id: &str, from: OutputFrom) -> BoxStream<'static, OutputLine>;

    /// A running container's resource use as the engine streams it. None by default (the
    /// in-memory engine has no processes to measure).
    fn follow_stats(&self, _id: &str) -> BoxStream<'static, StatsSample> {
        Box::pin(futures::stream::empty())
    }
}

/// How the loop reaches a container engine, tried again while the engine is down.
#[async_trait]
pub trait Connect: Send + Sync {
    async fn connect(&self) -> Result<Arc<dyn ContainerRuntime>, RuntimeError>;
}

/// Docker or Podman at an endpoint, through bollard.
#[async_trait]
impl Connect for Endpoint {
    async fn connect(&self) -> Result<Arc<dyn ContainerRuntime>, RuntimeError> {
        Ok(Arc::new(Runtime::connect(self).await?))
    }
}

#[async_trait]
impl ContainerRuntime for Runtime {
    fn api_calls(&self) -> u64 {
        Runtime::api_calls(self)
    }

    fn client_config(&self) -> ClientConfig {
        Runtime::client_config(self)
    }

    async fn version(&self) -> Result<String, RuntimeError> {
        Runtime::version(self).await
    }

    async fn list_service_containers(&self) -> Result<Vec<ObservedContainer>, RuntimeError> {
        Runtime::list_service_containers(self).await
    }

    async fn create_and_start(&self, config: &ContainerConfig) -> Result<String, RuntimeError> {
        Runtime::create_and_start(self, config).await
    }

    async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        Runtime::has_image(self, image).await
    }

    async fn pull_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<(), RuntimeError> {
        Runtime::pull_image(self, image, auth, progress).await
    }

    async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        Runtime::stop_and_remove(self, id, grace).await
    }

    async fn exit_info(&self, id: &str) -> Result<ExitInfo, RuntimeError> {
        Runtime::exit_info(self, id).await
    }

    async fn applied_config(&self, id: &str) -> Result<AppliedConfig, RuntimeError> {
        Runtime::applied_config(self, id).await
    }

    async fn own_container(&self) -> Option<OwnContainer> {
        Runtime::own_container(self).await
    }

    fn events(&self) -> BoxStream<'static, Result<ContainerEvent, RuntimeError>> {
        Box::pin(Runtime::events(self))
    }

    fn follow_output(&self, id: &str, from: OutputFrom) -> BoxStream<'static, OutputLine> {
        Box::pin(Runtime::follow_output(self, id, from))
    }

    fn follow_stats(&self, id: &str) -> BoxStream<'static, StatsSample> {
        Box::pin(Runtime::follow_stats(self, id))
    }
}
