//! Benchmark (prints figures; not a test): how fast the engine converges a cold host,
//! against a baseline that makes the same containers directly through bollard, and how
//! many engine API calls a steady-state tick costs.
//!
//!     cargo run --release -p ashtray-tests --example converge [-- SERVICES STEADY_SERVICES]
//!
//! Needs dockerd (scripts/setup-test-env.sh starts it).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ashtray_engine::container::{ContainerConfig, HostSettings};
use ashtray_engine::host_state::ServiceState;
use ashtray_engine::runtime::{Endpoint, Runtime};
use ashtray_engine::spec::{Desired, ServiceSpec};
use ashtray_engine::{EngineConfig, Secret};
use ashtray_tests::fake_ayon::FakeAyon;
use ashtray_tests::harness::{unique, Engine};
use ashtray_tests::images;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

const CONCURRENCY: usize = 8;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let cold = args.first().copied().unwrap_or(50);
    let steady = args.get(1).copied().unwrap_or(100);
    let engine = Engine::connect().await;
    let version = engine.docker.version().await?;
    println!(
        "machine: {}, Docker {} (API {})",
        ashtray_tests::bench::machine(),
        version.version.unwrap_or_default(),
        version.api_version.unwrap_or_default(),
    );

    // Baseline first, then ashtray, then the baseline again: the mean of the two
    // baselines is compared, so a warming engine favours neither.
    let baseline_a = baseline(&engine, cold, CONCURRENCY).await?;
    let ours = converge(&engine, cold).await?;
    let baseline_b = baseline(&engine, cold, CONCURRENCY).await?;
    let unbounded = baseline(&engine, cold, cold).await?;
    let baseline_mean = (baseline_a + baseline_b) / 2;
    println!("cold converge of {cold} services:");
    println!(
        "  ashtray engine (concurrency {CONCURRENCY}): {:.2} s",
        ours.as_secs_f64()
    );
    println!(
        "  baseline, bollard create+start, concurrency {CONCURRENCY}: {:.2} s and {:.2} s (mean {:.2} s)",
        baseline_a.as_secs_f64(),
        baseline_b.as_secs_f64(),
        baseline_mean.as_secs_f64()
    );
    println!(
        "  baseline, bollard create+start, all {cold} at once: {:.2} s",
        unbounded.as_secs_f64()
    );
    println!(
        "  ratio ashtray / baseline(mean, same concurrency): {:.2}",
        ours.as_secs_f64() / baseline_mean.as_secs_f64()
    );

    let (calls, ticks) = steady_state_calls(&engine, steady).await?;
    println!("steady state with {steady} declared services: {calls} engine API calls over {ticks} ticks = {:.2} per tick", calls as f64 / ticks as f64);
    println!("  (ash 0.4.0, from its code: 2 + {steady} container lists per tick)");
    Ok(())
}

fn specs(prefix: &str, count: usize) -> Vec<ServiceSpec> {
    (0..count)
        .map(|i| {
            let model = serde_json::from_value(serde_json::json!({
                "name": format!("{prefix}-{i:03}"), "hostname": "bench", "addonName": "ticker",
                "addonVersion": "1.0.0", "service": "ticker", "shouldRun": true, "isRunning": false,
                "lastSeen": null, "lastSeenDelta": null, "data": {"image": images::TICKER}
            }))
            .expect("a service model");
            match ServiceSpec::from_wire(&model) {
                Desired::Run(spec) => *spec,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

/// The same containers ashtray would make, created and started straight through bollard.
async fn baseline(engine: &Engine, count: usize, concurrency: usize) -> anyhow::Result<Duration> {
    let prefix = unique("bench-base");
    let host = HostSettings {
        server_url: "http://127.0.0.1:1".into(),
        api_key: Secret::new("k".repeat(32)),
        ayon_hostname: prefix.clone(),
        network_mode: None,
        service_api: None,
        limits: Default::default(),
        storage_binds: Vec::new(),
    };
    let configs: Vec<ContainerConfig> = specs(&prefix, count)
        .iter()
        .map(|s| ContainerConfig::for_service(s, &host))
        .collect();
    let runtime = Runtime::connect(&Endpoint::resolve(
        std::env::var("ASHTEST_DOCKER_HOST").ok().as_deref(),
        false,
    ))
    .await?;
    let started = Instant::now();
    let results: Vec<_> =
        futures::stream::iter(configs.iter().map(|c| runtime.create_and_start(c)))
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let elapsed = started.elapsed();
    for result in results {
        result?;
    }
    engine.clean(&prefix).await;
    Ok(elapsed)
}

async fn start_engine(
    fake: &FakeAyon,
    host: &str,
    state_dir: &std::path::Path,
) -> anyhow::Result<(
    ashtray_engine::Handle,
    CancellationToken,
    tokio::task::JoinHandle<()>,
)> {
    let mut config = EngineConfig::new(
        &fake.url(),
        Secret::new(fake.service_key()),
        host,
        Endpoint::resolve(std::env::var("ASHTEST_DOCKER_HOST").ok().as_deref(), false),
        state_dir.to_path_buf(),
    );
    config.print_service_output = false;
    config.concurrency = CONCURRENCY;
    let cancel = CancellationToken::new();
    let (handle, task) = ashtray_engine::spawn(config, cancel.clone())?;
    Ok((handle, cancel, task))
}

fn declare(fake: &FakeAyon, host: &str, prefix: &str, count: usize) {
    fake.add_host(host);
    for i in 0..count {
        fake.put_service(
            &format!("{prefix}-{i:03}"),
            "ticker",
            "1.0.0",
            "ticker",
            host,
            serde_json::Value::Null,
        )
        .expect("declaring a service");
    }
}

async fn wait_all_running(handle: &ashtray_engine::Handle, count: usize) {
    let mut states = handle.watch();
    loop {
        let running = states
            .borrow()
            .services
            .iter()
            .filter(|s| s.state == ServiceState::Running)
            .count();
        if running == count {
            return;
        }
        states.changed().await.expect("the engine runs");
    }
}

/// Cold start to all running, measured in-process from spawn to the snapshot that shows
/// every service running.
async fn converge(engine: &Engine, count: usize) -> anyhow::Result<Duration> {
    let fake = FakeAyon::start().await;
    let prefix = unique("bench-cold");
    let host = format!("{prefix}-host");
    declare(&fake, &host, &prefix, count);
    let state_dir = tempfile::tempdir()?;
    let started = Instant::now();
    let (handle, cancel, task) = start_engine(&fake, &host, state_dir.path()).await?;
    tokio::time::timeout(Duration::from_secs(300), wait_all_running(&handle, count)).await?;
    let elapsed = started.elapsed();
    cancel.cancel();
    task.await?;
    engine.clean(&prefix).await;
    Ok(elapsed)
}

/// Engine API calls between two points in steady state, divided by the heartbeats
/// (ticks) in between.
async fn steady_state_calls(engine: &Engine, count: usize) -> anyhow::Result<(u64, usize)> {
    let fake = FakeAyon::start().await;
    let prefix = unique("bench-steady");
    let host = format!("{prefix}-host");
    declare(&fake, &host, &prefix, count);
    let state_dir = tempfile::tempdir()?;
    let (handle, cancel, task) = start_engine(&fake, &host, state_dir.path()).await?;
    tokio::time::timeout(Duration::from_secs(600), wait_all_running(&handle, count)).await?;
    // Let the last starts settle, then count over ten ticks.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let beats = |fake: &FakeAyon| fake.heartbeats().len();
    let (calls_before, beats_before) = (
        handle.metrics().engine_api_calls.load(Ordering::Relaxed),
        beats(&fake),
    );
    while beats(&fake) < beats_before + 10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (calls_after, beats_after) = (
        handle.metrics().engine_api_calls.load(Ordering::Relaxed),
        beats(&fake),
    );
    cancel.cancel();
    task.await?;
    engine.clean(&prefix).await;
    Ok((calls_after - calls_before, beats_after - beats_before))
}
