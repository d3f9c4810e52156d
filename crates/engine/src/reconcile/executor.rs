//! Carries out one planned [`Action`] against the container engine and says what came of
//! it. The engine runs many at once under a bound (a semaphore); each is independent.

use std::time::Duration;

use super::plan::{Action, RecreateReason, RemoveReason};
use crate::runtime::{ExitInfo, Runtime};

#[derive(Debug)]
pub enum Outcome {
    Started {
        service: String,
        container_id: String,
        /// Why an older container was replaced, if one was.
        replaced: Option<String>,
    },
    StartFailed {
        service: String,
        error: String,
    },
    Removed {
        service: String,
        reason: RemoveReason,
    },
    RemoveFailed {
        service: String,
        error: String,
    },
    ExitRecorded {
        service: String,
        container_id: String,
        exit: Result<ExitInfo, String>,
    },
    Inspected {
        service: String,
        container_id: String,
        result: Result<(bool, String), String>,
    },
}

impl Outcome {
    pub fn service(&self) -> &str {
        match self {
            Outcome::Started { service, .. }
            | Outcome::StartFailed { service, .. }
            | Outcome::Removed { service, .. }
            | Outcome::RemoveFailed { service, .. }
            | Outcome::ExitRecorded { service, .. }
            | Outcome::Inspected { service, .. } => service,
        }
    }
}

pub async fn execute(runtime: &Runtime, action: Action, grace: Duration) -> Outcome {
    match action {
        Action::Create { service, config } => match runtime.create_and_start(&config).await {
            Ok(container_id) => Outcome::Started {
                service,
                container_id,
                replaced: None,
            },
            Err(error) => Outcome::StartFailed {
                service,
                error: error.to_string(),
            },
        },
        Action::Recreate {
            service,
            old_id,
            config,
            reason,
        } => {
            let why = match reason {
                RecreateReason::SpecChanged => "its spec changed on the server",
                RecreateReason::Requested => "a restart was asked for",
            };
            replace(runtime, service, &old_id, &config, grace, why).await
        }
        Action::Restart {
            service,
            old_id,
            config,
        } => replace(runtime, service, &old_id, &config, grace, "it had exited").await,
        Action::RecordExit {
            service,
            container_id,
        } => {
            let exit = runtime
                .exit_info(&container_id)
                .await
                .map_err(|error| error.to_string());
            Outcome::ExitRecorded {
                service,
                container_id,
                exit,
            }
        }
        Action::Inspect {
            service,
            container_id,
            config,
        } => {
            let result = runtime
                .applied_config(&container_id)
                .await
                .map(|applied| (applied.satisfies(&config), config.spec_hash().to_string()))
                .map_err(|error| error.to_string());
            Outcome::Inspected {
                service,
                container_id,
                result,
            }
        }
        Action::Remove {
            service,
            container_id,
            reason,
        } => match runtime.stop_and_remove(&container_id, grace).await {
            Ok(()) => Outcome::Removed { service, reason },
            Err(error) => Outcome::RemoveFailed {
                service,
                error: error.to_string(),
            },
        },
    }
}

async fn replace(
    runtime: &Runtime,
    service: String,
    old_id: &str,
    config: &crate::container::ContainerConfig,
    grace: Duration,
    why: &str,
) -> Outcome {
    if let Err(error) = runtime.stop_and_remove(old_id, grace).await {
        return Outcome::StartFailed {
            service,
            error: format!("could not remove the old container: {error}"),
        };
    }
    match runtime.create_and_start(config).await {
        Ok(container_id) => Outcome::Started {
            service,
            container_id,
            replaced: Some(why.to_string()),
        },
        Err(error) => Outcome::StartFailed {
            service,
            error: error.to_string(),
        },
    }
}
