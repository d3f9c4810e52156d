//! Benchmark (prints figures; not a test): N ashtray hosts on one dockerd and one fake
//! AYON server, one service each, heartbeating every 2 s as in production. Prints the
//! heartbeat rate the server sees and the hosts' memory and CPU over a quiet window,
//! beside the same figures of one host alone measured first in the same run.
//!
//!     ASHTRAY_BIN=<release headless binary> cargo run --release -p ashtray-tests --example fleet [-- HOSTS WINDOW_S]
//!
//! Needs dockerd (scripts/setup-test-env.sh starts it).

use std::time::{Duration, Instant};

use ashtray_tests::fleet::Fleet;
use ashtray_tests::images;
use ashtray_tests::proc_stats::{cpu_ticks, pss_kib, rss_kib};
use ashtray_tests::world::World;

/// `sysconf(_SC_CLK_TCK)` on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

struct Figures {
    hosts: usize,
    heartbeats_per_s: f64,
    rss_mib: f64,
    pss_mib: f64,
    cpu_percent: f64,
}

async fn measure(hosts: usize, window: Duration) -> Figures {
    let world = World::new("fleet-bench").await;
    let fleet = Fleet::start(&world, hosts, "2s");
    fleet
        .wait_all_running(&world, Duration::from_secs(600))
        .await
        .expect("every host's service runs");
    // Let the start-up settle: a few heartbeats of every host.
    let settle = Instant::now() + Duration::from_secs(6);
    while Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pids: Vec<u32> = fleet.hosts.iter().map(|h| h.daemon.pid()).collect();
    let cpu_before: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    let beats_before = world.fake.heartbeats().len();
    let started = Instant::now();
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let beats = world.fake.heartbeats().len() - beats_before;
    let cpu: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum::<u64>() - cpu_before;
    Figures {
        hosts,
        heartbeats_per_s: beats as f64 / elapsed,
        rss_mib: pids.iter().map(|&p| rss_kib(p)).sum::<u64>() as f64 / 1024.0,
        pss_mib: pids.iter().map(|&p| pss_kib(p)).sum::<u64>() as f64 / 1024.0,
        cpu_percent: cpu as f64 / TICKS_PER_SECOND / elapsed * 100.0,
    }
}

fn print(f: &Figures) {
    println!(
        "{:>5} hosts: {:>6.1} heartbeats/s at the server; RSS {:>7.1} MiB ({:.1} per host), PSS {:>7.1} MiB ({:.1} per host); CPU {:>5.2} % of a core ({:.3} per host)",
        f.hosts,
        f.heartbeats_per_s,
        f.rss_mib,
        f.rss_mib / f.hosts as f64,
        f.pss_mib,
        f.pss_mib / f.hosts as f64,
        f.cpu_percent,
        f.cpu_percent / f.hosts as f64,
    );
}

#[tokio::main]
async fn main() {
    images::ensure_images().expect("test images");
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let hosts = args.first().copied().unwrap_or(100) as usize;
    let window = Duration::from_secs(args.get(1).copied().unwrap_or(30));
    println!(
        "binary: {}; window {} s; poll 2 s; {}",
        ashtray_tests::harness::ashtray_bin().display(),
        window.as_secs(),
        String::from_utf8_lossy(
            &std::process::Command::new("date")
                .args(["-u", "+%F %H:%M UTC"])
                .output()
                .expect("date")
                .stdout
        )
        .trim()
    );
    let alone = measure(1, window).await;
    print(&alone);
    let many = measure(hosts, window).await;
    print(&many);
}
