//! Benchmark (prints figures; not a test): resident memory of the real daemon with many
//! services, idle (`noterm`: no output) and chatty (`wordy`: each prints more than its
//! log buffer keeps, 6 000 lines of 400 bytes), for this build and a baseline build (the
//! daemon before the host-wide log cap), one after the other in the same run.
//!
//!     ASHTRAY_BIN=<headless binary> ASHTRAY_BASELINE_BIN=<the baseline's> \
//!         cargo run -p ashtray-tests --example log_memory [-- SERVICES]
//!
//! Each measure is its own host and services; it is read once every service runs and the
//! log buffers have stopped growing (`ashtray_log_buffer_bytes` the same three seconds
//! running), then two heartbeats later.

use std::path::PathBuf;
use std::time::Duration;

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::harness::ashtray_bin;
use ashtray_tests::proc_stats::{pss_kib, rss_kib};
use ashtray_tests::world::World;
use serde_json::Value;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let services = ashtray_tests::bench::number_args()
        .first()
        .copied()
        .unwrap_or(50);
    let ours = ashtray_bin();
    let baseline = std::env::var("ASHTRAY_BASELINE_BIN")
        .map(PathBuf::from)
        .ok();
    println!("{}", ashtray_tests::bench::machine());
    println!("| build | {services} services | RSS MiB | PSS MiB | log buffers (text) MiB |");
    println!("|---|---|---|---|---|");
    for kind in ["noterm", "wordy"] {
        let mut builds = vec![("this build", ours.clone())];
        if let Some(baseline) = &baseline {
            builds.insert(0, ("baseline", baseline.clone()));
        }
        for (label, bin) in builds {
            let (rss, pss, buffered) = measure(&bin, services, kind).await?;
            println!(
                "| {label} | {} | {:.1} | {:.1} | {:.1} |",
                if kind == "noterm" { "idle" } else { "chatty" },
                rss as f64 / 1024.0,
                pss as f64 / 1024.0,
                buffered / (1024.0 * 1024.0)
            );
        }
    }
    Ok(())
}

/// RSS and PSS (KiB) and the log buffers' text (bytes) of the daemon `bin` running
/// `services` services of `kind`.
async fn measure(
    bin: &std::path::Path,
    services: usize,
    kind: &str,
) -> anyhow::Result<(u64, u64, f64)> {
    let world = World::new("logmem").await;
    let names: Vec<String> = (0..services)
        .map(|i| world.declare(&format!("s{i}"), kind, Value::Null))
        .collect();
    let config = tempfile::tempdir()?;
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let daemon = setup.apply(world.launch()).spawn_bin(bin);
    let all_run = world
        .wait_running_within(&names, std::time::Duration::from_secs(300))
        .await;
    anyhow::ensure!(all_run, "never all ran:\n{}", daemon.output());
    let api = Api::new(&setup.control_url(), None);
    anyhow::ensure!(api.wait_up(&daemon).await, "its API never answered");
    let api = api.with_token(Some(&setup.token()));
    let buffered = || async {
        let text = api.get("/metrics").await.text;
        text.lines()
            .find_map(|line| line.strip_prefix("ashtray_log_buffer_bytes "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Stopped growing: the same three polls in a row, a second apart.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let mut last: Vec<f64> = Vec::new();
    let buffered = loop {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the log buffers never settled: {last:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        last.push(buffered().await);
        let n = last.len();
        let some = kind == "noterm" || last[n - 1] > 0.0;
        if n >= 3 && some && last[n - 3..].iter().all(|v| *v == last[n - 1]) {
            break last[n - 1];
        }
    };
    anyhow::ensure!(world.wait_heartbeats(2, 200).await, "no heartbeats");
    let pid = daemon.pid();
    Ok((rss_kib(pid), pss_kib(pid), buffered))
}
