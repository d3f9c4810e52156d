//! Benchmark (prints figures; not a test): how fast the real `ashtray` binary reacts, with
//! 10 and then 50 services on real dockerd and the fake AYON server at the default 2 s
//! poll, against the engine's own create+start measured in the same run.
//!
//!     cargo build -p ashtray --no-default-features      # or --release
//!     cargo build -p ashtray-tests --example react
//!     ASHTRAY_BIN=... $CARGO_TARGET_DIR/debug/examples/react [-- COUNTS... ]
//!
//! Per service count, 6 repetitions each (medians, then min and max):
//! - kill → running: `docker kill` of a service that had run for over 10 s, until the
//!   engine's `start` event of its new container;
//! - `shouldRun` false → stopped: the server's flag changed (at a random moment of the
//!   poll), until the engine's `destroy` event of its container;
//! - `shouldRun` true → running: the flag changed back, until the `start` event;
//! - baseline: one container of the same image created and started straight through
//!   bollard, as the engine does it, timed from the create request to the start's answer.
//!
//! While the `shouldRun` figures are taken, one more service ignores SIGTERM and is being
//! stopped (10 s grace): the longest gap between two heartbeats the fake server received
//! is printed, to show it delays neither the others nor the heartbeat.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ashtray_tests::harness::eventually;
use ashtray_tests::images;
use ashtray_tests::world::{slug, World};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, KillContainerOptions, RemoveContainerOptions,
};
use futures::StreamExt;
use tokio::sync::mpsc;

const REPETITIONS: usize = 6;
const LABEL_SERVICE: &str = "io.ayon.service.service_name";
/// The longest any one reaction may take before the run gives up on it.
const GIVE_UP: Duration = Duration::from_secs(60);

/// A container event as the benchmark saw it arrive.
struct Seen {
    at: Instant,
    action: String,
    service: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![10, 50]
    } else {
        counts
    };
    for count in counts {
        run(count).await?;
    }
    Ok(())
}

async fn run(count: usize) -> anyhow::Result<()> {
    let world = World::alone("react").await;
    let version = world.engine.docker.version().await?;
    println!(
        "== {count} services; {}, Docker {} (API {})",
        ashtray_tests::bench::machine(),
        version.version.unwrap_or_default(),
        version.api_version.unwrap_or_default(),
    );
    let names: Vec<String> = (0..count)
        .map(|i| world.declare(&format!("s{i:03}"), "ticker", serde_json::Value::Null))
        .collect();
    let noterm = world.declare("noterm", "noterm", serde_json::Value::Null);
    let mut events = watch_events(&world).await;
    let mut launch = world.launch();
    launch.args = vec!["--daemon".into(), "--poll-interval".into(), "2s".into()];
    if let Ok(filter) = std::env::var("REACT_RUST_LOG") {
        launch = launch.env("RUST_LOG", &filter);
    }
    let _ashtray = launch.spawn();
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.push(&noterm);
    // A busy engine takes its time to start them all: minutes, not the tests' 30 s.
    let mut expected: Vec<String> = all.iter().map(|s| slug(s)).collect();
    expected.sort();
    let all_ran = eventually(Duration::from_secs(600), || async {
        (world.running_names().await == expected).then_some(())
    })
    .await;
    anyhow::ensure!(
        all_ran.is_some(),
        "the {} services never all ran",
        all.len()
    );
    // Each service killed below must have run fine: longer than ashtray's 10 s.
    tokio::time::sleep(Duration::from_secs(11)).await;

    let mut past = Vec::new();
    let mut kill = Vec::new();
    for name in names.iter().take(REPETITIONS) {
        settle(&mut events, &mut past).await;
        let id = container_of(&world, name).await?;
        let started = Instant::now();
        world
            .engine
            .docker
            .kill_container(&id, None::<KillContainerOptions>)
            .await?;
        kill.push(until(&mut events, &mut past, name, "start", started).await?);
    }

    // The SIGTERM-ignoring service is being stopped during what follows.
    let beats_from = Instant::now();
    world
        .fake
        .patch_service(&noterm, serde_json::json!({"shouldRun": false}))
        .map_err(anyhow::Error::msg)?;
    let (mut stop, mut start) = (Vec::new(), Vec::new());
    for name in names.iter().cycle().skip(REPETITIONS).take(REPETITIONS) {
        for (should_run, action, figures) in
            [(false, "destroy", &mut stop), (true, "start", &mut start)]
        {
            settle(&mut events, &mut past).await;
            // A random moment of the 2 s poll, as a user's change would come.
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 2000)).await;
            let changed = Instant::now();
            world
                .fake
                .patch_service(name, serde_json::json!({"shouldRun": should_run}))
                .map_err(anyhow::Error::msg)?;
            figures.push(until(&mut events, &mut past, name, action, changed).await?);
        }
    }
    let gap = longest_heartbeat_gap(&world, beats_from);
    let noterm_stopped = match past
        .iter()
        .find(|seen| seen.service == noterm && seen.action == "destroy")
    {
        Some(seen) => seen.at.duration_since(beats_from),
        None => until(&mut events, &mut past, &noterm, "destroy", beats_from).await?,
    };

    let baseline = baseline(&world).await?;
    println!("  kill → running:        {}", figures(&kill));
    println!("  shouldRun true → running: {}", figures(&start));
    println!("  shouldRun false → stopped: {}", figures(&stop));
    println!(
        "  baseline, the engine's own create+start: {}",
        figures(&baseline)
    );
    println!(
        "  while a service ignoring SIGTERM was stopped ({:.1} s): longest heartbeat gap {:.2} s",
        noterm_stopped.as_secs_f64(),
        gap.as_secs_f64()
    );
    Ok(())
}

/// Every event of a service container, as it arrives.
async fn watch_events(world: &World) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("label".to_string(), vec![LABEL_SERVICE.to_string()]),
    ]);
    let mut stream = world.engine.docker.events(Some(EventsOptions {
        filters: Some(filters),
        ..Default::default()
    }));
    tokio::spawn(async move {
        while let Some(Ok(event)) = stream.next().await {
            let actor = event.actor.unwrap_or_default();
            let service = actor
                .attributes
                .unwrap_or_default()
                .remove(LABEL_SERVICE)
                .unwrap_or_default();
            let seen = Seen {
                at: Instant::now(),
                action: event.action.unwrap_or_default(),
                service,
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    rx
}

/// Lets the last reaction's events pass, keeping them in `past`.
async fn settle(events: &mut mpsc::UnboundedReceiver<Seen>, past: &mut Vec<Seen>) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(seen) = events.try_recv() {
        past.push(seen);
    }
}

/// Time from `since` to the first `action` event of `service`; the others go to `past`.
async fn until(
    events: &mut mpsc::UnboundedReceiver<Seen>,
    past: &mut Vec<Seen>,
    service: &str,
    action: &str,
    since: Instant,
) -> anyhow::Result<Duration> {
    let wait = async {
        while let Some(seen) = events.recv().await {
            if seen.service == service && seen.action == action {
                return Some(seen.at.duration_since(since));
            }
            past.push(seen);
        }
        None
    };
    tokio::time::timeout(GIVE_UP, wait)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| anyhow::anyhow!("no {action} event of {service} within {GIVE_UP:?}"))
}

async fn container_of(world: &World, service: &str) -> anyhow::Result<String> {
    world
        .engine
        .running(service)
        .await
        .into_iter()
        .find(|c| c.labels.get(LABEL_SERVICE).map(String::as_str) == Some(service))
        .map(|c| c.id)
        .ok_or_else(|| anyhow::anyhow!("{service} runs no container"))
}

fn longest_heartbeat_gap(world: &World, from: Instant) -> Duration {
    let beats: Vec<Instant> = world
        .fake
        .heartbeats()
        .into_iter()
        .filter(|beat| beat.body["hostname"] == world.host.as_str())
        .map(|beat| beat.at)
        .collect();
    beats
        .windows(2)
        .filter(|pair| pair[1] >= from)
        .map(|pair| pair[1].duration_since(pair[0]))
        .max()
        .unwrap_or_default()
}

/// The engine's own create+start of the same image, one container at a time.
async fn baseline(world: &World) -> anyhow::Result<Vec<Duration>> {
    let docker = &world.engine.docker;
    let mut took = Vec::new();
    for i in 0..REPETITIONS {
        let name = format!("{}-baseline-{i}", world.prefix);
        let started = Instant::now();
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                ContainerCreateBody {
                    image: Some(images::TICKER.to_string()),
                    ..Default::default()
                },
            )
            .await?;
        docker.start_container(&created.id, None).await?;
        took.push(started.elapsed());
        docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await?;
    }
    Ok(took)
}

/// `median 0.41 s (0.33 to 0.52 s, 6 runs)`.
fn figures(samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    let median = if n.is_multiple_of(2) {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    } else {
        sorted[n / 2]
    };
    format!(
        "median {:.2} s ({:.2} to {:.2} s, {n} runs)",
        median.as_secs_f64(),
        sorted[0].as_secs_f64(),
        sorted[n - 1].as_secs_f64()
    )
}
