//! Carries out one planned [`Action`] against the container engine and says what came of
//! it. The engine runs many at once under a bound (a semaphore); each is independent.

use std::sync::Arc;
use std::time::Duration;

use super::plan::{Action, RecreateReason, RemoveReason};
use crate::container::ContainerConfig;
use crate::runtime::{
    registry_auth, ContainerRuntime, ExitInfo, PullPolicy, PullProgress, RuntimeError,
};

/// Where a pull's progress goes while it runs (the loop shows it on the service).
pub type PullReporter = Arc<dyn Fn(PullProgress) + Send + Sync>;

/// How actions are carried out: the host's settings that shape them.
#[derive(Clone)]
pub struct ActionSettings {
    /// SIGTERM to SIGKILL when a container is stopped.
    pub grace: Duration,
    pub pull_policy: PullPolicy,
    pub on_pull: PullReporter,
    /// Whether pulls take credentials from the engine client's configuration (tests of
    /// the executor must not read this machine's).
    pub registry_auth: bool,
}

impl ActionSettings {
    /// `grace`, the default pull policy, progress dropped.
    pub fn new(grace: Duration) -> ActionSettings {
        ActionSettings {
            grace,
            pull_policy: PullPolicy::default(),
            on_pull: Arc::new(|_| {}),
            registry_auth: true,
        }
    }
}

/// What came of one action. Errors stay [`RuntimeError`]s, so the loop can tell an engine
/// that is gone from a request it refused.
#[derive(Debug)]
pub enum Outcome {
    Started {
        service: String,
        container_id: String,
        /// Why an older container was replaced, if one was.
        replaced: Option<RestartReason>,
    },
    StartFailed {
        service: String,
        error: StartFailure,
    },
    Removed {
        service: String,
        reason: RemoveReason,
    },
    RemoveFailed {
        service: String,
        error: RuntimeError,
    },
    ExitRecorded {
        service: String,
        container_id: String,
        exit: Result<ExitInfo, RuntimeError>,
    },
    Inspected {
        service: String,
        container_id: String,
        result: Result<Adoption, RuntimeError>,
    },
}

/// Why ashtray replaced a running or exited container: shown with the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    SpecChanged,
    Requested,
    Exited,
    /// Its own HEALTHCHECK said unhealthy for this long.
    Unhealthy(Duration),
}

impl std::fmt::Display for RestartReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RestartReason::SpecChanged => "its spec changed on the server",
            RestartReason::Requested => "a restart was asked for",
            RestartReason::Exited => "it had exited",
            RestartReason::Unhealthy(unhealthy_for) => {
                return write!(
                    f,
                    "its health check said unhealthy for {} s",
                    unhealthy_for.as_secs()
                )
            }
        })
    }
}

impl From<RecreateReason> for RestartReason {
    fn from(reason: RecreateReason) -> RestartReason {
        match reason {
            RecreateReason::SpecChanged => RestartReason::SpecChanged,
            RecreateReason::Requested => RestartReason::Requested,
            RecreateReason::Unhealthy(unhealthy_for) => RestartReason::Unhealthy(unhealthy_for),
        }
    }
}

/// Why a container could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error("could not remove the old container: {0}")]
    OldContainer(#[source] RuntimeError),
    #[error("{0}")]
    Pull(#[source] RuntimeError),
    #[error("{0}")]
    Create(#[source] RuntimeError),
}

impl StartFailure {
    pub fn runtime_error(&self) -> &RuntimeError {
        match self {
            StartFailure::OldContainer(error)
            | StartFailure::Pull(error)
            | StartFailure::Create(error) => error,
        }
    }
}

/// What an inspection of a container started by `ash` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// It is what the spec with this hash would start: kept as it is.
    Matches { spec_hash: String },
    /// It differs from the server's spec: to be replaced.
    Differs,
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

    /// Whether the action may have changed containers; reading an exit or inspecting
    /// does not.
    pub fn changed_containers(&self) -> bool {
        !matches!(
            self,
            Outcome::ExitRecorded { .. } | Outcome::Inspected { .. }
        )
    }

    /// The engine error that says the container engine itself is gone, if this is one.
    pub fn engine_down(&self) -> Option<&RuntimeError> {
        let error = match self {
            Outcome::StartFailed { error, .. } => error.runtime_error(),
            Outcome::RemoveFailed { error, .. } => error,
            Outcome::ExitRecorded {
                exit: Err(error), ..
            } => error,
            Outcome::Inspected {
                result: Err(error), ..
            } => error,
            _ => return None,
        };
        error.engine_down().then_some(error)
    }
}

/// Makes sure the engine has the image `config` runs, as the pull policy says: pulled
/// when missing, or before every create with `always`.
async fn ensure_image(
    runtime: &dyn ContainerRuntime,
    config: &ContainerConfig,
    how: &ActionSettings,
) -> Result<(), RuntimeError> {
    let pull = match how.pull_policy {
        PullPolicy::Always => true,
        PullPolicy::Missing => !runtime.has_image(&config.image).await?,
    };
    if !pull {
        return Ok(());
    }
    let auth = match how.registry_auth {
        true => registry_auth::lookup(&config.image, runtime.client_config()).await?,
        false => None,
    };
    runtime
        .pull_image(&config.image, auth.as_ref(), how.on_pull.as_ref())
        .await
}

pub async fn execute(
    runtime: &dyn ContainerRuntime,
    action: Action,
    how: &ActionSettings,
) -> Outcome {
    let grace = how.grace;
    match action {
        Action::Create { service, config } => {
            if let Err(error) = ensure_image(runtime, &config, how).await {
                return Outcome::StartFailed {
                    service,
                    error: StartFailure::Pull(error),
                };
            }
            match runtime.create_and_start(&config).await {
                Ok(container_id) => Outcome::Started {
                    service,
                    container_id,
                    replaced: None,
                },
                Err(error) => Outcome::StartFailed {
                    service,
                    error: StartFailure::Create(error),
                },
            }
        }
        Action::Recreate {
            service,
            old_id,
            config,
            reason,
        } => replace(runtime, service, &old_id, &config, how, reason.into()).await,
        Action::Restart {
            service,
            old_id,
            config,
        } => {
            replace(
                runtime,
                service,
                &old_id,
                &config,
                how,
                RestartReason::Exited,
            )
            .await
        }
        Action::RecordExit {
            service,
            container_id,
        } => {
            let exit = runtime.exit_info(&container_id).await;
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
            let result = runtime.applied_config(&container_id).await.map(|applied| {
                if applied.satisfies(&config) {
                    Adoption::Matches {
                        spec_hash: config.spec_hash().to_string(),
                    }
                } else {
                    Adoption::Differs
                }
            });
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
            Err(error) => Outcome::RemoveFailed { service, error },
        },
    }
}

async fn replace(
    runtime: &dyn ContainerRuntime,
    service: String,
    old_id: &str,
    config: &ContainerConfig,
    how: &ActionSettings,
    why: RestartReason,
) -> Outcome {
    // The image first: the old container keeps running through a long pull, and through
    // a failed one.
    if let Err(error) = ensure_image(runtime, config, how).await {
        return Outcome::StartFailed {
            service,
            error: StartFailure::Pull(error),
        };
    }
    if let Err(error) = runtime.stop_and_remove(old_id, how.grace).await {
        return Outcome::StartFailed {
            service,
            error: StartFailure::OldContainer(error),
        };
    }
    match runtime.create_and_start(config).await {
        Ok(container_id) => Outcome::Started {
            service,
            container_id,
            replaced: Some(why),
        },
        Err(error) => Outcome::StartFailed {
            service,
            error: StartFailure::Create(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::memory::{CreateFault, MemoryRuntime};
    use crate::runtime::ContainerStatus;
    use crate::testing::config;

    const GRACE: Duration = Duration::from_secs(10);

    fn create(service: &str) -> Action {
        Action::Create {
            service: service.into(),
            config: Box::new(config(service, "img:1")),
        }
    }

    /// Creates `service`'s container; its id.
    async fn started(engine: &MemoryRuntime, service: &str) -> String {
        match execute(engine, create(service), &ActionSettings::new(GRACE)).await {
            Outcome::Started { container_id, .. } => container_id,
            other => panic!("not started: {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_starts_one_container_and_recreate_replaces_it_saying_why() {
        let engine = MemoryRuntime::new();
        let Outcome::Started {
            container_id: first,
            replaced: None,
            ..
        } = execute(&engine, create("a"), &ActionSettings::new(GRACE)).await
        else {
            panic!("not started")
        };
        let recreate = Action::Recreate {
            service: "a".into(),
            old_id: first.clone(),
            config: Box::new(config("a", "img:2")),
            reason: RecreateReason::SpecChanged,
        };
        let outcome = execute(&engine, recreate, &ActionSettings::new(GRACE)).await;
        assert!(
            matches!(
                &outcome,
                Outcome::Started { replaced: Some(RestartReason::SpecChanged), container_id, .. } if *container_id != first
            ),
            "{outcome:?}"
        );
        let running = engine.running("a");
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].image, "img:2");
    }

    #[tokio::test]
    async fn a_create_on_a_stopped_engine_is_engine_down_and_a_refused_one_is_not() {
        let engine = MemoryRuntime::new();
        engine.fail_creates(Some(CreateFault::EngineDies));
        let down = execute(&engine, create("a"), &ActionSettings::new(GRACE)).await;
        assert!(matches!(down, Outcome::StartFailed { .. }), "{down:?}");
        assert!(down.engine_down().is_some());

        engine.come_back();
        engine.fail_creates(Some(CreateFault::Refused("no such image".into())));
        let refused = execute(&engine, create("a"), &ActionSettings::new(GRACE)).await;
        assert!(
            matches!(refused, Outcome::StartFailed { .. }),
            "{refused:?}"
        );
        assert!(refused.engine_down().is_none());
        assert!(engine.containers().is_empty());
    }

    #[tokio::test]
    async fn an_exit_is_read_with_its_code_and_last_output() {
        let engine = MemoryRuntime::new();
        let container_id = started(&engine, "a").await;
        engine.print(&container_id, "boom");
        engine.kill("a", 3);
        let record = Action::RecordExit {
            service: "a".into(),
            container_id: container_id.clone(),
        };
        let Outcome::ExitRecorded { exit: Ok(exit), .. } =
            execute(&engine, record, &ActionSettings::new(GRACE)).await
        else {
            panic!("exit not read")
        };
        assert_eq!(exit.exit_code, 3);
        assert_eq!(exit.last_lines, ["boom"]);
        // Ours are kept until their exit is read.
        assert_eq!(engine.containers()[0].status, ContainerStatus::Exited);
    }

    #[tokio::test]
    async fn an_ash_container_is_adopted_when_it_matches_and_not_when_it_differs() {
        let engine = MemoryRuntime::new();
        let id = engine.run_as_ash(&config("a", "img:1"));
        let inspect = |image: &str| Action::Inspect {
            service: "a".into(),
            container_id: id.clone(),
            config: Box::new(config("a", image)),
        };
        let same = execute(&engine, inspect("img:1"), &ActionSettings::new(GRACE)).await;
        let spec_hash = config("a", "img:1").spec_hash().to_string();
        assert!(
            matches!(&same, Outcome::Inspected { result: Ok(Adoption::Matches { spec_hash: h }), .. } if *h == spec_hash),
            "{same:?}"
        );
        let other = execute(&engine, inspect("img:2"), &ActionSettings::new(GRACE)).await;
        assert!(
            matches!(
                other,
                Outcome::Inspected {
                    result: Ok(Adoption::Differs),
                    ..
                }
            ),
            "{other:?}"
        );
    }

    #[tokio::test]
    async fn remove_stops_the_container_with_one_request() {
        let engine = MemoryRuntime::new();
        let container_id = started(&engine, "a").await;
        let remove = Action::Remove {
            service: "a".into(),
            container_id,
            reason: RemoveReason::Paused,
        };
        let outcome = execute(&engine, remove, &ActionSettings::new(GRACE)).await;
        assert!(matches!(
            outcome,
            Outcome::Removed {
                reason: RemoveReason::Paused,
                ..
            }
        ));
        assert!(engine.containers().is_empty());
        assert_eq!(engine.requests("stop"), 1);
    }

    fn pulling(policy: PullPolicy) -> (ActionSettings, Arc<std::sync::Mutex<Vec<PullProgress>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let how = ActionSettings {
            pull_policy: policy,
            on_pull: Arc::new(move |p| sink.lock().unwrap().push(p)),
            registry_auth: false,
            ..ActionSettings::new(GRACE)
        };
        (how, seen)
    }

    #[tokio::test]
    async fn a_missing_image_is_pulled_with_progress_and_a_present_one_is_not() {
        let engine = MemoryRuntime::new();
        let (how, seen) = pulling(PullPolicy::Missing);
        started_with(&engine, &how).await;
        assert_eq!(engine.requests("pull"), 0, "the engine had img:1");

        engine.lose_image("img:1");
        let outcome = execute(&engine, create("b"), &how).await;
        assert!(matches!(outcome, Outcome::Started { .. }), "{outcome:?}");
        assert_eq!(engine.requests("pull"), 1);
        assert_eq!(seen.lock().unwrap()[0].image, "img:1");
    }

    async fn started_with(engine: &MemoryRuntime, how: &ActionSettings) {
        let outcome = execute(engine, create("a"), how).await;
        assert!(matches!(outcome, Outcome::Started { .. }), "{outcome:?}");
    }

    #[tokio::test]
    async fn always_pulls_before_every_create() {
        let engine = MemoryRuntime::new();
        let (how, _) = pulling(PullPolicy::Always);
        started_with(&engine, &how).await;
        assert_eq!(engine.requests("pull"), 1);
        assert_eq!(engine.requests("inspect_image"), 0, "no need to ask first");
    }

    #[tokio::test]
    async fn a_failed_pull_fails_the_start_with_the_registrys_words_and_keeps_the_old_container() {
        let engine = MemoryRuntime::new();
        let (how, _) = pulling(PullPolicy::Always);
        let old = started(&engine, "a").await;
        engine.fail_pulls(Some("unauthorized: authentication required"));
        let recreate = Action::Recreate {
            service: "a".into(),
            old_id: old.clone(),
            config: Box::new(config("a", "img:2")),
            reason: RecreateReason::SpecChanged,
        };
        let outcome = execute(&engine, recreate, &how).await;
        let Outcome::StartFailed { error, .. } = &outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(error, StartFailure::Pull(_)), "{error:?}");
        let words = error.to_string();
        assert!(
            words.contains("img:2") && words.contains("unauthorized: authentication required"),
            "{words}"
        );
        assert!(
            outcome.engine_down().is_none(),
            "a refused pull is the service's failure"
        );
        assert_eq!(
            engine.running("a")[0].id,
            old,
            "the old container still runs"
        );
    }
}
