//! What one steady tick costs the loop itself, measured against the in-memory container
//! engine so that thousands of services fit on one machine: the list (observe), the
//! server's answer read and validated into a desired set, the plan, and the snapshot
//! with its comparison and publish. Network and Docker time are left out on purpose:
//! they are measured against the real parts elsewhere (`BENCHMARKS.md`).
//!
//! `examples/tick_cost.rs` prints these figures; the functions here are the loop's own
//! code, called in the order `HostLoop::run` calls them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::time::Instant;

use super::heartbeat::{Answer, HeartbeatReply};
use super::{build, Connections, EngineConfig, EventStream, HostLoop, Inbox};
use crate::ayon::wire::{HeartbeatRequest, HeartbeatResponse, ServiceOwners};
use crate::ayon::{AyonError, ServerApi};
use crate::host_state::ServiceState;
use crate::runtime::memory::MemoryRuntime;
use crate::runtime::Endpoint;
use crate::secret::Secret;

/// The median of each part of a steady tick, over the passes measured.
#[derive(Debug, Clone, Copy)]
pub struct TickCost {
    pub services: usize,
    /// Listing the containers and taking the list in (`HostLoop::observe`).
    pub observe: Duration,
    /// Reading the answer's JSON and taking its fingerprint. Not the loop's time: the
    /// heartbeat's own task does it (`AyonClient::heartbeat`, `Answer::judge`), while the
    /// loop goes on.
    pub parse: Duration,
    /// The answer taken in: its fingerprint compared with the last one's, validated into
    /// a desired set when it says something new (`on_heartbeat`).
    pub answer: Duration,
    /// The plan and its dispatch (`HostLoop::reconcile`).
    pub plan: Duration,
    /// The snapshot, its comparison with the last and the publish (`HostLoop::publish`).
    pub publish: Duration,
    /// The median of the loop's whole pass, observe to publish (the parse left out; not
    /// the sum of the medians above).
    pub total: Duration,
    /// The fastest whole pass: the machine's noise only ever adds to a pass, so this is
    /// the steadier figure for comparing two builds on a busy machine.
    pub fastest: Duration,
}

/// Never asked: the benchmark hands the loop its answers itself.
struct NoServer;

#[async_trait]
impl ServerApi for NoServer {
    async fn heartbeat(&self, _: &HeartbeatRequest) -> Result<HeartbeatResponse, AyonError> {
        unreachable!("the benchmark feeds the loop its answers")
    }
    async fn service_owners(&self) -> Result<ServiceOwners, AyonError> {
        Ok(ServiceOwners::default())
    }
    async fn service_user(&self) -> Result<String, AyonError> {
        Ok("bench".into())
    }
}

/// The heartbeat answer for `services` services on host `bench`, as bytes off the wire.
fn answer_bytes(services: usize) -> Vec<u8> {
    let entries: Vec<_> = (0..services)
        .map(|i| {
            json!({
                "name": format!("svc-{i:05}"), "hostname": "bench", "addonName": "bench-addon",
                "addonVersion": "1.0.0", "service": "worker", "shouldRun": true,
                "isRunning": true, "lastSeen": null, "lastSeenDelta": null,
                "data": {"image": "ashtest/ticker:1", "env": {"MODE": "steady"}}
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "services": entries })).expect("JSON")
}

/// Brings `services` services up on the in-memory engine, then measures `passes` steady
/// ticks (every service running, nothing to do) and returns the median of each part.
pub async fn measure(services: usize, passes: usize) -> TickCost {
    // Where the loop keeps its local stops: none are made here, nothing is written.
    let state_dir = std::env::temp_dir().join(format!("ashtray-tick-cost-{}", std::process::id()));
    let mut config = EngineConfig::new(
        "http://bench",
        Secret::new("bench-key"),
        "bench",
        Endpoint::resolve(Some("memory://"), false),
        state_dir,
    );
    config.print_service_output = false;
    config.concurrency = 64;
    let engine = MemoryRuntime::new();
    let connections = Connections {
        container_engine: Arc::new(engine.clone()),
        server: Arc::new(NoServer),
    };
    let (mut host_loop, _handle, mut inbox) = build(config, connections).expect("the loop");
    let bytes = answer_bytes(services);
    let mut events: Option<EventStream> = None;

    // Up: tick until every service runs and nothing is under way.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        tick(&mut host_loop, &mut events, &bytes).await;
        let state = host_loop.state_tx.borrow().clone();
        let all_running = state.services.len() == services
            && state
                .services
                .iter()
                .all(|s| s.state == ServiceState::Running);
        if all_running && host_loop.book.in_flight.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the services never all ran");
        settle(&mut host_loop, &mut inbox).await;
    }

    let mut parts: Vec<[Duration; 6]> = Vec::with_capacity(passes);
    for _ in 0..passes {
        parts.push(tick(&mut host_loop, &mut events, &bytes).await);
    }
    let median = |i: usize| {
        let mut values: Vec<Duration> = parts.iter().map(|p| p[i]).collect();
        values.sort();
        values[values.len() / 2]
    };
    TickCost {
        services,
        observe: median(0),
        parse: median(1),
        answer: median(2),
        plan: median(3),
        publish: median(4),
        total: median(5),
        fastest: parts.iter().map(|p| p[5]).min().unwrap_or_default(),
    }
}

/// One tick as `HostLoop::run` makes it, timed part by part.
async fn tick(
    host_loop: &mut HostLoop,
    events: &mut Option<EventStream>,
    answer: &[u8],
) -> [Duration; 6] {
    let started = Instant::now();
    host_loop.observe(events).await;
    let observed = Instant::now();
    // The heartbeat's task: the answer read, and judged against the one the loop holds.
    let response: HeartbeatResponse = serde_json::from_slice(answer).expect("the answer parses");
    let response = Answer::judge(response, host_loop.server.held());
    let parsed = Instant::now();
    host_loop.on_heartbeat(HeartbeatReply::answered(response));
    let answered = Instant::now();
    host_loop.reconcile();
    let planned = Instant::now();
    host_loop.publish();
    let published = Instant::now();
    [
        observed - started,
        parsed - observed,
        answered - parsed,
        planned - answered,
        published - planned,
        (published - started) - (parsed - observed),
    ]
}

/// Takes in what the actions under way came to, waiting for the first of them.
async fn settle(host_loop: &mut HostLoop, inbox: &mut Inbox) {
    if host_loop.book.in_flight.is_empty() {
        return;
    }
    if let Ok(Some(outcome)) =
        tokio::time::timeout(Duration::from_secs(10), inbox.outcomes.recv()).await
    {
        host_loop.on_outcome(outcome);
    }
    while let Ok(outcome) = inbox.outcomes.try_recv() {
        host_loop.on_outcome(outcome);
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_steady_tick_is_measured_once_every_service_runs() {
        let cost = super::measure(20, 3).await;
        assert_eq!(cost.services, 20);
        assert!(cost.total >= cost.plan && cost.total >= cost.publish);
    }
}
