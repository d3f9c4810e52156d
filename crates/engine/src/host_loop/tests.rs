//! The loop's timing and decisions end to end inside the engine: the in-memory container
//! engine and a scripted AYON server stand in for dockerd and the server, and the clock is
//! tokio's paused one, so seconds of backoff pass at once and nothing sleeps for real.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{spawn_with, Connections, EngineConfig, Handle};
use crate::ayon::wire::{HeartbeatRequest, HeartbeatResponse, ServiceOwners};
use crate::ayon::{AyonError, ServerApi};
use crate::host_state::{
    EngineState, HostState, ServerState, ServiceSource, ServiceState, ServiceView,
};
use crate::reconcile::backoff::RAN_FINE_AFTER;
use crate::runtime::memory::{CreateFault, MemoryRuntime};
use crate::runtime::{ContainerRuntime, Endpoint, OwnContainer};
use crate::secret::Secret;
use crate::testing::{config, entry};

/// What the scripted server answers to every heartbeat, until told otherwise.
enum Reply {
    Services(Vec<Value>),
    Fault(fn() -> AyonError),
}

struct ScriptedServer {
    reply: Mutex<Reply>,
    heartbeats: AtomicU64,
    logins: AtomicU64,
}

impl ScriptedServer {
    fn answer(&self, services: Vec<Value>) {
        *self.reply.lock().unwrap() = Reply::Services(services);
    }

    fn fail(&self, fault: fn() -> AyonError) {
        *self.reply.lock().unwrap() = Reply::Fault(fault);
    }
}

#[async_trait]
impl ServerApi for ScriptedServer {
    async fn heartbeat(&self, _: &HeartbeatRequest) -> Result<HeartbeatResponse, AyonError> {
        self.heartbeats.fetch_add(1, Ordering::Relaxed);
        match &*self.reply.lock().unwrap() {
            Reply::Services(services) => Ok(HeartbeatResponse {
                services: services.clone(),
            }),
            Reply::Fault(fault) => Err(fault()),
        }
    }

    async fn service_owners(&self) -> Result<ServiceOwners, AyonError> {
        Ok(ServiceOwners::default())
    }

    async fn service_user(&self) -> Result<String, AyonError> {
        self.logins.fetch_add(1, Ordering::Relaxed);
        Ok("service-h".into())
    }
}

/// One ashtray host (`h` of `http://s`) running against the in-memory engine.
struct Host {
    engine: MemoryRuntime,
    server: Arc<ScriptedServer>,
    handle: Handle,
    cancel: CancellationToken,
    _state_dir: tempfile::TempDir,
}

/// Long enough that a test sees what happens between ticks.
const SLOW_POLL: Duration = Duration::from_secs(60);

impl Host {
    async fn start(engine: MemoryRuntime, services: Vec<Value>, poll: Duration) -> Host {
        Host::start_in(tempfile::tempdir().unwrap(), engine, services, poll, |_| {}).await
    }

    /// [`Host::start`] with its state in `state_dir` and the config changed by `tweak`.
    async fn start_in(
        state_dir: tempfile::TempDir,
        engine: MemoryRuntime,
        services: Vec<Value>,
        poll: Duration,
        tweak: impl FnOnce(&mut EngineConfig),
    ) -> Host {
        let mut config = EngineConfig::new(
            "http://s",
            Secret::new("k"),
            "h",
            Endpoint::resolve(Some("memory://"), false),
            state_dir.path().to_path_buf(),
        );
        config.poll_interval = poll;
        tweak(&mut config);
        config.print_service_output = false;
        // Never this machine's docker login.
        config.registry_auth = false;
        let server = Arc::new(ScriptedServer {
            reply: Mutex::new(Reply::Services(services)),
            heartbeats: AtomicU64::new(0),
            logins: AtomicU64::new(0),
        });
        let connections = Connections {
            container_engine: Arc::new(engine.clone()),
            server: server.clone(),
        };
        let cancel = CancellationToken::new();
        let (handle, _task) = spawn_with(config, connections, cancel.clone()).unwrap();
        Host {
            engine,
            server,
            handle,
            cancel,
            _state_dir: state_dir,
        }
    }

    /// Waits (on the paused clock) until the published state satisfies `what`.
    async fn until(&self, what: &str, test: impl Fn(&HostState) -> bool) -> Arc<HostState> {
        let mut states = self.handle.watch();
        let reached = tokio::time::timeout(
            Duration::from_secs(3600),
            states.wait_for(|state| test(state)),
        )
        .await;
        match reached {
            Ok(Ok(state)) => state.clone(),
            _ => panic!("never: {what}; last state: {:#?}", self.handle.state()),
        }
    }

    async fn until_service(&self, what: &str, test: impl Fn(&ServiceView) -> bool) -> ServiceView {
        let state = self
            .until(what, |state| {
                state.services.iter().any(|s| s.name == "a" && test(s))
            })
            .await;
        state.service("a").unwrap().clone()
    }

    /// Kills `a`'s container; how long until it runs again as restart number `restarts`.
    async fn crash_and_time_restart(&self, restarts: u32) -> Duration {
        let died = Instant::now();
        self.engine.kill("a", 1);
        self.until_service("restarted", |a| {
            a.restarts == restarts && a.state == ServiceState::Running
        })
        .await;
        died.elapsed()
    }

    /// Three crashes in a row, from restart number `first`: each restart waits 1, 2, 4 s.
    async fn crash_in_a_row(&self, first: u32) {
        for (restarts, wait) in (first..).zip([1, 2, 4]) {
            let took = self.crash_and_time_restart(restarts).await;
            let wait = Duration::from_secs(wait);
            assert!(
                took >= wait && took < wait + Duration::from_millis(500),
                "restart {restarts} came after {took:?}, not {wait:?}"
            );
        }
    }

    async fn running(&self) -> ServiceView {
        self.until_service("a runs", |a| a.state == ServiceState::Running)
            .await
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn crash_restarts_wait_1_2_4_s_and_running_quietly_forgives_them() {
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], SLOW_POLL).await;
    host.running().await;
    host.crash_in_a_row(1).await;
    // Running a while (on the paused clock) proves the service works again.
    tokio::time::sleep(RAN_FINE_AFTER).await;
    let took = host.crash_and_time_restart(4).await;
    assert!(
        took < Duration::from_millis(100),
        "after the reset: {took:?}"
    );
    let a = host.handle.state().service("a").unwrap().clone();
    assert_eq!(a.last_exit_code, Some(1));
    assert_eq!(a.last_restart_reason.as_deref(), Some("it had exited"));
}

#[tokio::test(start_paused = true)]
async fn a_service_that_ran_fine_is_restarted_at_once_and_backs_off_only_on_failures_in_a_row() {
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], SLOW_POLL).await;
    host.running().await;
    tokio::time::sleep(RAN_FINE_AFTER).await;
    // The die event's debounce is all it waits: no backoff.
    let took = host.crash_and_time_restart(1).await;
    assert!(
        took <= Duration::from_millis(60),
        "a service that ran fine came back after {took:?}"
    );
    // Dying again at once, it is a failure in a row each time: 1, 2, 4 s.
    host.crash_in_a_row(2).await;
}

#[tokio::test(start_paused = true)]
async fn container_events_are_looked_at_after_50_ms_once_per_burst() {
    let answer = vec![entry("a", "img:1"), entry("b", "img:1")];
    let host = Host::start(MemoryRuntime::new(), answer, SLOW_POLL).await;
    host.until("both run", |state| {
        state
            .services
            .iter()
            .filter(|s| s.state == ServiceState::Running)
            .count()
            == 2
    })
    .await;
    // Let the start-up looks settle, well before the next tick.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // An exit is read (inspected) by the look after an event, not before.
    let reads = host.engine.requests("inspect");
    host.engine.kill("a", 1);
    tokio::time::sleep(Duration::from_millis(30)).await;
    host.engine.kill("b", 2);
    tokio::time::sleep(Duration::from_millis(19)).await;
    assert_eq!(
        host.engine.requests("inspect"),
        reads,
        "looked before the debounce"
    );
    // The first event's 50 ms cover the second: one look reads both exits.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let state = host.handle.state();
    let exit_of = |name: &str| state.service(name).unwrap().last_exit_code;
    assert_eq!((exit_of("a"), exit_of("b")), (Some(1), Some(2)));
}

/// Every request of the in-memory engine made so far, of any kind.
fn all_requests(engine: &MemoryRuntime) -> u64 {
    ContainerRuntime::api_calls(engine)
}

#[tokio::test(start_paused = true)]
async fn steady_ticks_make_no_engine_request_and_the_events_keep_the_view() {
    let poll = Duration::from_secs(2);
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], poll).await;
    host.running().await;
    tokio::time::sleep(poll * 2).await;
    let before = all_requests(&host.engine);
    tokio::time::sleep(poll * 10).await;
    assert_eq!(
        all_requests(&host.engine),
        before,
        "10 steady ticks asked the engine"
    );
    // A death comes by its event: read (one inspect) and restarted, with no list.
    let lists = host.engine.requests("list");
    host.engine.kill("a", 1);
    host.until_service("restarted", |a| {
        a.restarts == 1 && a.state == ServiceState::Running
    })
    .await;
    assert_eq!(host.engine.requests("inspect"), 1, "the exit read");
    // Our own create is confirmed by one list (its events may still be on their way).
    assert_eq!(host.engine.requests("list"), lists + 1);
    // A container `ash` runs for a service the server does not have is seen from its
    // events alone (the safety list is minutes away) and removed; one list confirms that.
    let lists = host.engine.requests("list");
    host.engine.run_as_ash(&config("b", "img:1"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host.engine.running("b").is_empty() {
        assert!(Instant::now() < deadline, "b was never noticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(host.engine.requests("list"), lists + 1);
}

#[tokio::test(start_paused = true)]
async fn the_engine_is_listed_again_on_the_safety_timer_and_every_tick_in_the_baseline_mode() {
    let poll = Duration::from_secs(2);
    let every = Duration::from_secs(60);
    let host = Host::start_in(
        tempfile::tempdir().unwrap(),
        MemoryRuntime::new(),
        vec![entry("a", "img:1")],
        poll,
        |config| config.relist_interval = every,
    )
    .await;
    host.running().await;
    let lists = host.engine.requests("list");
    tokio::time::sleep(every + poll).await;
    assert_eq!(host.engine.requests("list"), lists + 1, "one safety list");

    let baseline = Host::start_in(
        tempfile::tempdir().unwrap(),
        MemoryRuntime::new(),
        vec![entry("a", "img:1")],
        poll,
        |config| config.relist_every_tick = true,
    )
    .await;
    baseline.running().await;
    // The events of our own create (each one a look soon in this mode) settle first;
    // then a window of ten polls, off the ticks' phase, holds exactly ten ticks.
    tokio::time::sleep(poll / 2).await;
    let lists = baseline.engine.requests("list");
    tokio::time::sleep(poll * 10).await;
    assert_eq!(
        baseline.engine.requests("list"),
        lists + 10,
        "one list a tick"
    );
}

#[tokio::test(start_paused = true)]
async fn a_broken_event_stream_makes_the_next_look_list() {
    let poll = Duration::from_secs(2);
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], poll).await;
    host.running().await;
    let lists = host.engine.requests("list");
    // The engine restarts between two ticks: its stream ends, its containers stay.
    host.engine.go_down();
    host.engine.come_back();
    tokio::time::sleep(poll + Duration::from_millis(10)).await;
    assert_eq!(host.engine.requests("list"), lists + 1);
    // And the new stream keeps the view again: a kill is acted on.
    host.crash_and_time_restart(1).await;
}

#[tokio::test(start_paused = true)]
async fn a_dying_container_wakes_the_loop_before_the_next_tick() {
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], SLOW_POLL).await;
    host.running().await;
    let died = Instant::now();
    host.engine.kill("a", 3);
    host.until_service("its exit is read", |a| a.last_exit_code == Some(3))
        .await;
    assert!(
        died.elapsed() < Duration::from_secs(1),
        "{:?}",
        died.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn each_server_fault_leaves_the_services_running_and_says_what_it_is() {
    let faults: [(fn() -> AyonError, ServerState); 7] = [
        (
            || AyonError::Unreachable {
                url: "http://s".into(),
                reason: "Connection refused".into(),
            },
            ServerState::Unreachable,
        ),
        (
            || AyonError::Timeout {
                url: "http://s".into(),
                timeout: Duration::from_secs(10),
            },
            ServerState::Unreachable,
        ),
        (
            || AyonError::ServerError {
                status: 502,
                detail: "bad gateway".into(),
            },
            ServerState::Unreachable,
        ),
        (
            || AyonError::BadAnswer {
                what: "the heartbeat",
                reason: "expected value".into(),
            },
            ServerState::Unreachable,
        ),
        (
            || AyonError::Unauthorized {
                detail: "invalid key".into(),
            },
            ServerState::Unauthorized,
        ),
        (
            || AyonError::NotServiceAccount {
                user: "admin".into(),
            },
            ServerState::Unauthorized,
        ),
        (
            || AyonError::Refused {
                status: 403,
                detail: "only service users".into(),
            },
            ServerState::Unauthorized,
        ),
    ];
    for (fault, expected) in faults {
        let poll = Duration::from_secs(2);
        let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], poll).await;
        let running = host.running().await;
        host.server.fail(fault);
        let state = host
            .until("the fault is shown", |state| state.server.state == expected)
            .await;
        assert_eq!(state.server.reason, Some(fault().to_string()));
        // Several unanswered heartbeats later, nothing was stopped or started.
        let asked = host.server.heartbeats.load(Ordering::Relaxed);
        tokio::time::sleep(poll * 5).await;
        assert!(host.server.heartbeats.load(Ordering::Relaxed) >= asked + 4);
        let a = host.handle.state().service("a").unwrap().clone();
        assert_eq!(a.state, ServiceState::Running, "{expected:?}");
        assert_eq!(a.container_id, running.container_id);
        assert_eq!(host.engine.requests("stop"), 0, "{expected:?}");
        assert_eq!(host.engine.requests("create"), 1, "{expected:?}");
        // And the first answer after it ends the fault.
        host.server.answer(vec![entry("a", "img:1")]);
        host.until("connected again", |state| {
            state.server.state == ServerState::Connected
        })
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn inside_a_container_services_join_its_first_network_and_get_its_storage() {
    let engine = MemoryRuntime::new();
    engine.run_inside(OwnContainer {
        id: "own".into(),
        networks: [
            (
                "stack_default".to_string(),
                Some("10.9.0.5".parse().unwrap()),
            ),
            ("zz_other".to_string(), None),
        ]
        .into(),
        mounts: vec![
            "/var/run/docker.sock:/var/run/docker.sock".into(),
            "/mnt/projects:/storage".into(),
        ],
    });
    let host = Host::start(engine, vec![entry("a", "img:1")], Duration::from_secs(2)).await;
    host.running().await;
    let created = host.engine.running("a").pop().expect("a runs");
    assert_eq!(created.network_mode.as_deref(), Some("stack_default"));
    assert_eq!(created.applied.binds, ["/mnt/projects:/storage"]);
}

#[tokio::test(start_paused = true)]
async fn an_ash_container_that_matches_the_spec_is_adopted_as_it_is() {
    let engine = MemoryRuntime::new();
    let ash = engine.run_as_ash(&config("a", "img:1"));
    let host = Host::start(engine, vec![entry("a", "img:1")], Duration::from_secs(2)).await;
    let a = host.running().await;
    assert_eq!(a.container_id.as_deref(), Some(ash.as_str()));
    tokio::time::sleep(Duration::from_secs(20)).await;
    let a = host.handle.state().service("a").unwrap().clone();
    assert_eq!(a.container_id.as_deref(), Some(ash.as_str()));
    assert_eq!(a.restarts, 0);
    assert_eq!(host.engine.requests("create"), 0);
    assert_eq!(host.engine.requests("stop"), 0);
    assert_eq!(
        host.engine.requests("inspect"),
        1,
        "inspected once, not every tick"
    );
}

#[tokio::test(start_paused = true)]
async fn drift_from_the_spec_recreates_the_container_and_says_why() {
    let engine = MemoryRuntime::new();
    let ash = engine.run_as_ash(&config("a", "img:0"));
    let host = Host::start(engine, vec![entry("a", "img:1")], Duration::from_secs(2)).await;
    let a = host
        .until_service("the ash container is replaced", |a| {
            a.restarts == 1 && a.state == ServiceState::Running
        })
        .await;
    assert_ne!(a.container_id.as_deref(), Some(ash.as_str()));
    assert_eq!(
        a.last_restart_reason.as_deref(),
        Some("its spec changed on the server")
    );
    assert_eq!(host.engine.running("a")[0].image, "img:1");

    // A spec changed on the server replaces ashtray's own container too.
    let mut events = host.handle.events();
    host.server.answer(vec![entry("a", "img:2")]);
    let a = host
        .until_service("recreated for the new spec", |a| {
            a.restarts == 2 && a.state == ServiceState::Running
        })
        .await;
    assert_eq!(a.image.as_deref(), Some("img:2"));
    let reason = loop {
        match events.recv().await.unwrap().event {
            crate::host_state::HostEvent::ServiceRestarted { reason, .. } => break reason,
            _ => continue,
        }
    };
    assert_eq!(reason, "its spec changed on the server");
    assert_eq!(host.engine.containers().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_create_the_engine_dies_during_waits_for_the_engine_not_for_a_backoff() {
    let engine = MemoryRuntime::new();
    engine.fail_creates(Some(CreateFault::EngineDies));
    let host = Host::start(engine, vec![entry("a", "img:1")], Duration::from_secs(2)).await;
    let state = host
        .until("the engine is down", |state| {
            state.engine.state == EngineState::Down
        })
        .await;
    let a = state.service("a").unwrap();
    assert_eq!(
        a.last_error, None,
        "the engine's fault is not the service's"
    );
    assert_eq!(a.next_restart_at_ms, None);
    assert_ne!(a.state, ServiceState::Failed);

    let back = Instant::now();
    host.engine.come_back();
    let a = host.running().await;
    assert!(
        back.elapsed() <= Duration::from_secs(2),
        "{:?}",
        back.elapsed()
    );
    assert_eq!(a.restarts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_create_the_engine_refuses_is_the_services_failure_and_backs_off() {
    let engine = MemoryRuntime::new();
    engine.fail_creates(Some(CreateFault::Refused("no such image".into())));
    let host = Host::start(engine, vec![entry("a", "img:1")], Duration::from_secs(2)).await;
    let a = host
        .until_service("the failure is shown", |a| a.last_error.is_some())
        .await;
    assert!(a.last_error.unwrap().contains("no such image"));
    assert_eq!(a.state, ServiceState::Failed);
    assert!(a.next_restart_at_ms.is_some());
    assert_eq!(host.handle.state().engine.state, EngineState::Up);
}

#[tokio::test(start_paused = true)]
async fn a_refused_pull_fails_its_service_with_the_registrys_words_and_backs_off_alone() {
    let engine = MemoryRuntime::new();
    engine.lose_image("registry.lan/private:1");
    engine.fail_pulls(Some("unauthorized: authentication required"));
    let answer = vec![entry("a", "registry.lan/private:1"), entry("b", "img:1")];
    let host = Host::start(engine, answer, Duration::from_secs(2)).await;
    let state = host
        .until("a failed and b runs", |state| {
            let a = state.service("a").is_some_and(|a| a.last_error.is_some());
            let b = state
                .service("b")
                .is_some_and(|b| b.state == ServiceState::Running);
            a && b
        })
        .await;
    let a = state.service("a").unwrap();
    let error = a.last_error.as_deref().unwrap();
    assert!(
        error.contains("registry.lan/private:1")
            && error.contains("unauthorized: authentication required"),
        "{error}"
    );
    assert!(a.next_restart_at_ms.is_some(), "retried after its backoff");
    assert_eq!(a.pull, None, "no pull shown once it ended");
    assert_eq!(host.engine.requests("create"), 1, "only b was created");

    // The registry lets it in: the next try after the backoff pulls and starts it.
    host.engine.fail_pulls(None);
    let a = host
        .until_service("a runs after its backoff", |a| {
            a.name == "a" && a.state == ServiceState::Running
        })
        .await;
    assert_eq!(a.last_error, None);
    assert_eq!(host.engine.requests("pull"), 2);
}

#[tokio::test(start_paused = true)]
async fn the_service_user_is_shown_once_heard_and_asked_once_per_connection() {
    let poll = Duration::from_secs(2);
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], poll).await;
    let state = host
        .until("the user is known", |state| state.server.user.is_some())
        .await;
    assert_eq!(state.server.user.as_deref(), Some("service-h"));
    let beats = host.server.heartbeats.load(Ordering::Relaxed);
    tokio::time::sleep(poll * 5).await;
    assert!(host.server.heartbeats.load(Ordering::Relaxed) >= beats + 4);
    assert_eq!(host.server.logins.load(Ordering::Relaxed), 1, "asked once");

    // A refused key logs nobody in; the next answered heartbeat asks again.
    host.server.fail(|| AyonError::Unauthorized {
        detail: "invalid key".into(),
    });
    host.until("refused, nobody logged in", |state| {
        state.server.state == ServerState::Unauthorized && state.server.user.is_none()
    })
    .await;
    host.server.answer(vec![entry("a", "img:1")]);
    host.until("logged in again", |state| state.server.user.is_some())
        .await;
    assert_eq!(host.server.logins.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_services_spec_is_asked_of_the_loop_and_only_while_it_is_wanted() {
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], SLOW_POLL).await;
    host.running().await;
    let spec = host.handle.spec("a").await.unwrap().expect("a is wanted");
    assert_eq!(spec.image, "img:1");
    assert_eq!(host.handle.spec("nobody").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_services_history_says_it_started_exited_and_was_recreated_and_why() {
    use crate::history::HistoryKind;
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], SLOW_POLL).await;
    host.running().await;
    host.engine.kill("a", 3);
    host.until_service("restarted", |a| {
        a.restarts == 1 && a.state == ServiceState::Running
    })
    .await;
    let details = host.handle.details("a").await.unwrap();
    let kinds: Vec<_> = details.history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            HistoryKind::Started,
            HistoryKind::Exited,
            HistoryKind::Restarted
        ],
        "{:?}",
        details.history
    );
    assert_eq!(details.history[1].text, "exited with code 3");
    assert_eq!(details.history[2].text, "recreated: it had exited");
    assert_eq!(details.spec.expect("a is wanted").image, "img:1");
    assert!(host
        .handle
        .details("nobody")
        .await
        .unwrap()
        .history
        .is_empty());
}

fn unreachable() -> AyonError {
    AyonError::Unreachable {
        url: "http://s".into(),
        reason: "Connection refused".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_with_the_server_down_runs_its_cached_answer_until_the_server_answers() {
    let state_dir = tempfile::tempdir().unwrap();
    let keep = state_dir.path().to_path_buf();
    let first = Host::start_in(
        state_dir,
        MemoryRuntime::new(),
        vec![entry("a", "img:1")],
        SLOW_POLL,
        |_| {},
    )
    .await;
    first.running().await;
    let a = first.handle.state().service("a").unwrap().clone();
    assert_eq!(a.source, ServiceSource::Server);
    // A reboot: ashtray stops, its containers are gone, the server is down.
    first.cancel.cancel();
    let cache = std::fs::read_to_string(keep.join("server-answer-h.json")).unwrap();
    assert!(
        !cache.contains("\"k\""),
        "the API key is never cached: {cache}"
    );
    let state_dir = tempfile::TempDir::new_in(keep.parent().unwrap()).unwrap();
    std::fs::copy(
        keep.join("server-answer-h.json"),
        state_dir.path().join("server-answer-h.json"),
    )
    .unwrap();
    drop(first);
    let host = Host::start_in(
        state_dir,
        MemoryRuntime::new(),
        vec![],
        Duration::from_secs(2),
        |_| {},
    )
    .await;
    host.server.fail(unreachable);
    let a = host.running().await;
    assert_eq!(a.source, ServiceSource::Cache);
    assert!(a.unreachable_since_ms.is_some(), "{a:?}");
    // The server is back, and wants b instead: its answer takes over.
    host.server.answer(vec![entry("b", "img:1")]);
    let state = host
        .until("b runs and a is gone", |state| {
            state.service("a").is_none()
                && state.service("b").is_some_and(|b| {
                    b.state == ServiceState::Running && b.source == ServiceSource::Server
                })
        })
        .await;
    assert_eq!(host.engine.running("a").len(), 0, "{state:?}");
}

#[tokio::test(start_paused = true)]
async fn with_no_cache_a_restart_with_the_server_down_starts_nothing() {
    let state_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        state_dir.path().join("server-answer-h.json"),
        serde_json::json!({"server_url": "http://s", "saved_at_ms": 1, "services": [entry("a", "img:1")]}).to_string(),
    )
    .unwrap();
    let host = Host::start_in(
        state_dir,
        MemoryRuntime::new(),
        vec![],
        Duration::from_secs(2),
        |c| c.answer_cache = false,
    )
    .await;
    host.server.fail(unreachable);
    host.until("unreachable", |s| {
        s.server.state == ServerState::Unreachable
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(host.engine.containers().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_broken_cache_is_ignored() {
    let state_dir = tempfile::tempdir().unwrap();
    std::fs::write(state_dir.path().join("server-answer-h.json"), "{ not json").unwrap();
    let host = Host::start_in(
        state_dir,
        MemoryRuntime::new(),
        vec![entry("a", "img:1")],
        Duration::from_secs(2),
        |_| {},
    )
    .await;
    let a = host.running().await;
    assert_eq!(a.source, ServiceSource::Server);
}

#[tokio::test(start_paused = true)]
async fn local_services_run_without_a_server_and_follow_their_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("services.toml");
    let declare = |image: &str| {
        std::fs::write(
            &file,
            format!("[[services]]\nname = \"a\"\nimage = \"{image}\"\n"),
        )
        .unwrap()
    };
    declare("img:1");
    let path = file.clone();
    let host = Host::start_in(
        tempfile::tempdir().unwrap(),
        MemoryRuntime::new(),
        vec![],
        Duration::from_secs(2),
        |c| {
            c.server_url = String::new();
            c.local_services = Some(path);
        },
    )
    .await;
    let a = host.running().await;
    assert_eq!(a.source, ServiceSource::Local);
    assert_eq!(host.handle.state().server.state, ServerState::NotConfigured);
    assert_eq!(
        host.server.heartbeats.load(Ordering::Relaxed),
        0,
        "no server, no heartbeat"
    );
    declare("img:2");
    host.until_service("a runs img:2", |a| {
        a.image.as_deref() == Some("img:2") && a.state == ServiceState::Running
    })
    .await;
    std::fs::write(&file, "[[services]]\nname = \"a\"\nimgae = \"img:3\"\n").unwrap();
    let state = host
        .until("the error is shown", |s| {
            s.local_services.as_ref().is_some_and(|l| l.error.is_some())
        })
        .await;
    let error = state
        .local_services
        .as_ref()
        .unwrap()
        .error
        .clone()
        .unwrap();
    assert!(
        error.contains("line 3") && error.contains("imgae"),
        "{error}"
    );
    assert_eq!(
        state.service("a").unwrap().image.as_deref(),
        Some("img:2"),
        "the last good set stays"
    );
    assert_eq!(host.engine.running("a").len(), 1);
    // Removing a service from the file removes its container (no server to wait for).
    std::fs::write(&file, "").unwrap();
    host.until("a is gone", |s| s.service("a").is_none()).await;
}

#[tokio::test(start_paused = true)]
async fn a_name_the_local_file_and_the_server_both_declare_runs_neither() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("services.toml");
    std::fs::write(
        &file,
        "[[services]]\nname = \"a\"\nimage = \"img:2\"\n[[services]]\nname = \"l\"\nimage = \"img:2\"\n",
    )
    .unwrap();
    let host = Host::start_in(
        tempfile::tempdir().unwrap(),
        MemoryRuntime::new(),
        vec![entry("a", "img:1"), entry("s", "img:1")],
        Duration::from_secs(2),
        |c| c.local_services = Some(file),
    )
    .await;
    let state = host
        .until("l and s run", |state| {
            ["l", "s"].iter().all(|n| {
                state
                    .service(n)
                    .is_some_and(|s| s.state == ServiceState::Running)
            })
        })
        .await;
    let a = state.service("a").unwrap();
    assert_eq!(a.state, ServiceState::Failed);
    assert!(
        a.last_error
            .as_deref()
            .unwrap_or("")
            .contains("declared both in the local services file"),
        "{a:?}"
    );
    assert_eq!(state.service("l").unwrap().source, ServiceSource::Local);
    assert_eq!(state.service("s").unwrap().source, ServiceSource::Server);
    assert!(
        host.engine.running("a").is_empty(),
        "never a container for a"
    );
}

#[tokio::test(start_paused = true)]
async fn a_container_unhealthy_longer_than_the_limit_is_replaced_saying_why() {
    use super::DEFAULT_UNHEALTHY_RESTART_AFTER as LIMIT;
    use crate::host_state::ContainerHealth;
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], SLOW_POLL).await;
    host.running().await;
    host.engine.set_health("a", ContainerHealth::Healthy);
    host.until_service("healthy", |a| a.health == Some(ContainerHealth::Healthy))
        .await;
    // Unhealthy for a while, then healthy again: forgiven, not replaced.
    host.engine.set_health("a", ContainerHealth::Unhealthy);
    host.until_service("unhealthy", |a| {
        a.health == Some(ContainerHealth::Unhealthy)
    })
    .await;
    tokio::time::sleep(LIMIT / 2).await;
    host.engine.set_health("a", ContainerHealth::Healthy);
    tokio::time::sleep(LIMIT).await;
    let a = host.handle.state().service("a").unwrap().clone();
    assert_eq!((a.restarts, a.health), (0, Some(ContainerHealth::Healthy)));
    // Unhealthy for the whole limit: replaced once it is reached, with the reason kept.
    let unhealthy = Instant::now();
    host.engine.set_health("a", ContainerHealth::Unhealthy);
    let a = host
        .until_service("replaced", |a| {
            a.restarts == 1 && a.state == ServiceState::Running
        })
        .await;
    let took = unhealthy.elapsed();
    assert!(
        took >= LIMIT && took < LIMIT + Duration::from_millis(500),
        "replaced after {took:?}"
    );
    assert_eq!(
        a.last_restart_reason.as_deref(),
        Some("its health check said unhealthy for 60 s")
    );
    assert_eq!(a.health, None, "the new container has said nothing yet");
    assert_eq!(host.engine.running("a").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_death_announced_before_the_list_shows_it_is_acted_on_at_once() {
    let host = Host::start(MemoryRuntime::new(), vec![entry("a", "img:1")], SLOW_POLL).await;
    host.running().await;
    tokio::time::sleep(RAN_FINE_AFTER).await;
    // dockerd sends `die` a moment before its list says exited: the list still says
    // running when the loop looks.
    host.engine.list_lags_deaths(true);
    let took = host.crash_and_time_restart(1).await;
    assert!(took < Duration::from_secs(1), "restarted after {took:?}");
}

/// The loop itself, not running: its answers handed in by the test.
fn idle_loop(state_dir: &tempfile::TempDir) -> super::HostLoop {
    let config = EngineConfig::new(
        "http://s",
        Secret::new("k"),
        "h",
        Endpoint::resolve(Some("memory://"), false),
        state_dir.path().to_path_buf(),
    );
    let server = Arc::new(ScriptedServer {
        reply: Mutex::new(Reply::Services(Vec::new())),
        heartbeats: AtomicU64::new(0),
        logins: AtomicU64::new(0),
    });
    let connections = Connections {
        container_engine: Arc::new(MemoryRuntime::new()),
        server,
    };
    super::build(config, connections).unwrap().0
}

/// `services` answered, judged as the heartbeat's task judges it, and taken in.
fn answer(host_loop: &mut super::HostLoop, services: Vec<Value>) -> bool {
    let judged =
        super::heartbeat::Answer::judge(HeartbeatResponse { services }, host_loop.server.held());
    let carried_entries = judged.entries.is_some();
    host_loop.on_heartbeat(super::heartbeat::HeartbeatReply::answered(judged));
    carried_entries
}

fn image_of(host_loop: &super::HostLoop, name: &str) -> Option<String> {
    host_loop
        .desired
        .as_ref()?
        .specs()
        .find(|spec| spec.name == name)
        .map(|spec| spec.image.clone())
}

#[tokio::test]
async fn a_repeated_answer_is_not_read_again_and_a_changed_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let mut host_loop = idle_loop(&dir);
    let seen = |mut entry: Value, delta: f64| {
        entry["lastSeenDelta"] = serde_json::json!(delta);
        entry
    };
    assert!(answer(&mut host_loop, vec![seen(entry("a", "img:1"), 1.0)]));
    assert_eq!(image_of(&host_loop, "a").as_deref(), Some("img:1"));
    let cached = || std::fs::read(dir.path().join("server-answer-h.json")).unwrap();
    let cache = cached();
    let first = host_loop.desired.clone();

    // The same services, only the server's bookkeeping moved: the task drops the
    // entries and the loop keeps its set as it was (nothing validated, nothing written).
    assert!(!answer(
        &mut host_loop,
        vec![seen(entry("a", "img:1"), 3.5)]
    ));
    assert_eq!(host_loop.desired, first);
    assert_eq!(cached(), cache, "the cache was written again");

    // A changed spec is carried whole and read.
    assert!(answer(&mut host_loop, vec![entry("a", "img:2")]));
    assert_eq!(image_of(&host_loop, "a").as_deref(), Some("img:2"));

    // A reply judged against a fingerprint the loop does not hold (it cannot happen with
    // one heartbeat at a time) changes nothing, and the next answer comes whole.
    let stray = super::heartbeat::Answer {
        fingerprint: crate::reconcile::answer_fingerprint::AnswerFingerprint::of(&[entry(
            "a", "img:3",
        )]),
        entries: None,
    };
    host_loop.on_heartbeat(super::heartbeat::HeartbeatReply::answered(stray));
    assert_eq!(image_of(&host_loop, "a").as_deref(), Some("img:2"));
    assert!(answer(&mut host_loop, vec![entry("a", "img:3")]));
    assert_eq!(image_of(&host_loop, "a").as_deref(), Some("img:3"));
}
