//! Benchmark (prints figures; not a test): Docker requests per steady tick of the real
//! daemon, observing from the event stream against the list-per-tick mode it replaced
//! (`--relist-every-tick`), counted by a proxy on the Docker socket.
//!
//!     ASHTRAY_BIN=<headless binary> cargo run -p ashtray-tests --example observe_requests [-- TICKS SERVICES...]
//!
//! Defaults: 20 ticks, at 10 and 50 services. Each run is its own host with its own
//! services (silent `noterm` containers), polling every 500 ms; the window opens once
//! every service runs and two more heartbeats went by.

use std::collections::BTreeMap;

use ashtray_tests::docker_proxy::DockerProxy;
use ashtray_tests::world::World;
use serde_json::Value;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ashtray_tests::bench::number_args();
    let ticks = args.first().copied().unwrap_or(20);
    let counts = match args.get(1..) {
        Some(rest) if !rest.is_empty() => rest.to_vec(),
        _ => vec![10, 50],
    };
    println!("{}", ashtray_tests::bench::machine());
    println!("| services | mode | requests over {ticks} ticks | per tick | which |");
    println!("|---|---|---|---|---|");
    for &services in &counts {
        for every_tick in [true, false] {
            let (requests, which) = measure(services, ticks, every_tick).await?;
            println!(
                "| {services} | {} | {requests} | {:.2} | {} |",
                if every_tick {
                    "list per tick (baseline)"
                } else {
                    "event-kept"
                },
                requests as f64 / ticks as f64,
                which
            );
        }
    }
    Ok(())
}

/// Requests over `ticks` steady ticks, and how many of each kind.
async fn measure(
    services: usize,
    ticks: usize,
    every_tick: bool,
) -> anyhow::Result<(usize, String)> {
    let world = World::new("obsbench").await;
    let names: Vec<String> = (0..services)
        .map(|i| world.declare(&format!("s{i}"), "noterm", Value::Null))
        .collect();
    let proxy = DockerProxy::start();
    let mut launch = world.launch().env("DOCKER_HOST", &proxy.docker_host());
    if every_tick {
        launch = launch.arg("--relist-every-tick");
    }
    let daemon = launch.spawn();
    let all_run = world
        .wait_running_within(&names, std::time::Duration::from_secs(300))
        .await;
    anyhow::ensure!(
        all_run,
        "{services} services never all ran:\n{}",
        daemon.output()
    );
    anyhow::ensure!(world.wait_heartbeats(2, 200).await, "no heartbeats");
    let before = proxy.count();
    anyhow::ensure!(world.wait_heartbeats(ticks, 200).await, "no heartbeats");
    let seen = proxy.since(before);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for request in &seen {
        let path = request.path.split('?').next().unwrap_or_default();
        *kinds
            .entry(format!("{} {path}", request.method))
            .or_default() += 1;
    }
    let which = kinds
        .iter()
        .map(|(kind, n)| format!("{n} × {kind}"))
        .collect::<Vec<_>>()
        .join(", ");
    drop(daemon);
    Ok((
        seen.len(),
        if which.is_empty() {
            "none".into()
        } else {
            which
        },
    ))
}
