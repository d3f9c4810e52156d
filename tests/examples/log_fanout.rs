//! Log fan-out benchmark: one service printing as fast as it can (`ashtest/chatty`), ten
//! SSE followers of its log (`/api/v1/services/NAME/logs?follow=true`), the real daemon
//! and dockerd. Prints lines per second delivered to the followers, lines they missed,
//! what the service produced, and ashtray's peak memory (VmHWM) meanwhile.
//!
//!     cargo build -p ashtray --release --no-default-features
//!     ASHTRAY_BIN=$CARGO_TARGET_DIR/release/ashtray cargo run -p ashtray-tests --release --example log_fanout [SECONDS]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::harness::eventually;
use ashtray_tests::proc_stats::{peak_rss_kib, rss_kib};
use ashtray_tests::world::{World, CONVERGE};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};

const FOLLOWERS: usize = 10;

#[derive(Default)]
struct Counts {
    lines: AtomicU64,
    missed: AtomicU64,
    last_seq: AtomicU64,
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let world = World::new("fanout").await;
    let name = world.declare("chatty", "chatty", json!(null));
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().to_path_buf());
    // The daemon copies service output to its own log at info: keep that out of the measure.
    let daemon = setup.apply(world.launch()).env("RUST_LOG", "warn").spawn();
    let api = Api::new(&setup.control_url(), None);
    assert!(api.wait_up(&daemon).await, "ashtray did not start");
    let api = api.with_token(Some(&setup.token()));
    eventually(CONVERGE, || async {
        (api.get(&format!("/api/v1/services/{name}")).await.json["state"] == "running")
            .then_some(())
    })
    .await
    .expect("the chatty service runs");
    let idle_rss = rss_kib(daemon.pid());

    let counts: Vec<Arc<Counts>> = (0..FOLLOWERS)
        .map(|_| Arc::new(Counts::default()))
        .collect();
    let url = format!(
        "{}/api/v1/services/{name}/logs?follow=true&tail=0",
        setup.control_url()
    );
    for count in &counts {
        let (count, url, token) = (count.clone(), url.clone(), setup.token());
        tokio::spawn(async move {
            let response = reqwest::Client::new()
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .expect("a follower connects");
            let mut events = response.bytes_stream().eventsource();
            while let Some(Ok(event)) = events.next().await {
                match event.event.as_str() {
                    "line" => {
                        count.lines.fetch_add(1, Ordering::Relaxed);
                        count
                            .last_seq
                            .store(event.id.parse().unwrap_or(0), Ordering::Relaxed);
                    }
                    "missed" => {
                        let missed = serde_json::from_str::<Value>(&event.data)
                            .ok()
                            .and_then(|d| d["missed"].as_u64())
                            .unwrap_or(0);
                        count.missed.fetch_add(missed, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        });
    }
    // Let every follower connect before measuring.
    eventually(CONVERGE, || async {
        counts
            .iter()
            .all(|c| c.lines.load(Ordering::Relaxed) > 0)
            .then_some(())
    })
    .await
    .expect("every follower gets lines");
    let start_lines: u64 = counts.iter().map(|c| c.lines.load(Ordering::Relaxed)).sum();
    let start_seq = counts
        .iter()
        .map(|c| c.last_seq.load(Ordering::Relaxed))
        .max()
        .unwrap();
    let start_missed: u64 = counts
        .iter()
        .map(|c| c.missed.load(Ordering::Relaxed))
        .sum();
    let started = Instant::now();
    let mut peak_rss = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak_rss = peak_rss.max(rss_kib(daemon.pid()));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let lines: u64 = counts
        .iter()
        .map(|c| c.lines.load(Ordering::Relaxed))
        .sum::<u64>()
        - start_lines;
    let missed: u64 = counts
        .iter()
        .map(|c| c.missed.load(Ordering::Relaxed))
        .sum::<u64>()
        - start_missed;
    let produced = counts
        .iter()
        .map(|c| c.last_seq.load(Ordering::Relaxed))
        .max()
        .unwrap()
        - start_seq;
    let hwm = peak_rss_kib(daemon.pid());
    let metrics = api.get("/metrics").await.text;
    let buffered = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ashtray_log_buffer_bytes "))
        .unwrap_or("?")
        .to_string();

    println!("log fan-out: {FOLLOWERS} SSE followers of one service printing as fast as it can, {elapsed:.1} s");
    println!(
        "  lines read by ashtray from the service: {:.0}/s",
        produced as f64 / elapsed
    );
    println!(
        "  lines delivered, all followers:         {:.0}/s",
        lines as f64 / elapsed
    );
    println!(
        "  lines delivered, per follower:          {:.0}/s",
        lines as f64 / elapsed / FOLLOWERS as f64
    );
    println!(
        "  lines missed by followers (told):       {:.0}/s",
        missed as f64 / elapsed
    );
    println!(
        "  ashtray RSS idle before: {} MiB; peak RSS during: {} MiB; VmHWM: {} MiB",
        idle_rss / 1024,
        peak_rss / 1024,
        hwm / 1024
    );
    println!("  log buffer at the end: {buffered} bytes (bound 2 MiB per service)");
    drop(daemon);
}
