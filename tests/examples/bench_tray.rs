//! Benchmark of the tray app's cost on a workstation (issue 6, point 9), not a test:
//! resident memory of the whole process tree (ashtray and its WebKit processes) idle with
//! 10 services, window shown and hidden; CPU over 60 s idle with the window hidden; and
//! the time from launch to the window showing live state.
//!
//! Run (after `bash scripts/setup-gui-env.sh` and `cargo build -p ashtray`):
//!   ASHTRAY_GUI_BIN=/var/tmp/ashtray-target/gui/ashtray \
//!     cargo run -p ashtray-tests --example bench_tray
//! It prints a Markdown table for BENCHMARKS.md.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ashtray_tests::desktop::{free_port, text_of, tool, Desktop, Driver};
use ashtray_tests::proc_stats;
use ashtray_tests::world::World;
use fantoccini::Locator;
use serde_json::{json, Value};

const SERVICES: usize = 10;
const SETTLE: Duration = Duration::from_secs(20);
const CPU_WINDOW: Duration = Duration::from_secs(60);

fn gui_bin() -> PathBuf {
    std::env::var_os("ASHTRAY_GUI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ashtray-target/debug/ashtray"))
}

/// `pid` and every process below it.
fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut seen: HashSet<u32> = HashSet::from([pid]);
    loop {
        let mut added = false;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            // The fields after the command name, which may hold spaces: state, ppid, ...
            let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
                continue;
            };
            let ppid: u32 = after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if seen.contains(&ppid) && seen.insert(child) {
                all.push(child);
                added = true;
            }
        }
        if !added {
            return all;
        }
    }
}

/// (RSS sum, PSS sum) of the tree in MB, and each process as "name RSS/PSS".
fn memory(pid: u32) -> (f64, f64, Vec<String>) {
    let pids = tree(pid);
    let mut processes = vec![];
    let (mut rss, mut pss) = (0, 0);
    for p in pids {
        let (r, s) = (proc_stats::rss_kib(p), proc_stats::pss_kib(p));
        let name = std::fs::read_to_string(format!("/proc/{p}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        processes.push(format!("{name} {}/{} MB", r / 1024, s / 1024));
        rss += r;
        pss += s;
    }
    (rss as f64 / 1024.0, pss as f64 / 1024.0, processes)
}

/// CPU ticks (user + system) used so far by the tree.
fn cpu_ticks(pid: u32) -> u64 {
    tree(pid).into_iter().map(proc_stats::cpu_ticks).sum()
}

fn launch(desktop: &Desktop, env: &[(String, String)], hidden: bool) -> Child {
    let mut command = Command::new(gui_bin());
    if hidden {
        command.arg("--hidden");
    }
    command
        .envs(desktop.env())
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().expect("starting ashtray")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Launch to "the window shows all services running", through tauri-driver.
async fn launch_to_live(desktop: &Desktop, env: &[(String, String)]) -> (Duration, Duration) {
    let port = free_port();
    let mut command = Command::new(tool("tauri-driver").expect("tauri-driver"));
    command
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &free_port().to_string(),
        ])
        .envs(desktop.env())
        .envs(env.iter().cloned());
    let driver = Driver::spawn(command, port);
    let started = Instant::now();
    let client = driver
        .session(json!({"tauri:options": {"application": gui_bin()}}))
        .await;
    let mut first_rows = None;
    loop {
        let running = client
            .find_all(Locator::Css("tr[data-state=\"running\"]"))
            .await
            .map(|r| r.len())
            .unwrap_or(0);
        let rows = client
            .find_all(Locator::Css("tr[data-service]"))
            .await
            .map(|r| r.len())
            .unwrap_or(0);
        if rows > 0 && first_rows.is_none() {
            first_rows = Some(started.elapsed());
        }
        if running == SERVICES {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not live after 2 minutes: {:?}",
            text_of(&client, "body").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let live = started.elapsed();
    let _ = client.close().await;
    drop(driver);
    (first_rows.unwrap_or(live), live)
}

#[tokio::main]
async fn main() {
    let desktop = Desktop::start().unwrap_or_else(|missing| panic!("{missing}"));
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::alone("bench").await;
    let names: Vec<String> = (0..SERVICES)
        .map(|i| world.declare(&format!("s{i}"), "noterm", Value::Null))
        .collect();
    let config = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = vec![
        ("AYON_SERVER_URL".into(), world.fake.url()),
        ("AYON_API_KEY".into(), world.fake.service_key()),
        ("AYON_HOSTNAME".into(), world.host.clone()),
        (
            "ASHTRAY_CONFIG_DIR".into(),
            config.path().display().to_string(),
        ),
        (
            "ASHTRAY_LOG_DIR".into(),
            config.path().join("logs").display().to_string(),
        ),
        (
            "ASHTRAY_STATE_DIR".into(),
            world.state.path().display().to_string(),
        ),
        ("WEBKIT_DISABLE_COMPOSITING_MODE".into(), "1".into()),
    ];

    let (cold_rows, cold_live) = launch_to_live(&desktop, &env).await;
    eprintln!("cold launch: rows after {cold_rows:?}, all running after {cold_live:?}");
    let (warm_rows, warm_live) = launch_to_live(&desktop, &env).await;
    eprintln!("warm launch: rows after {warm_rows:?}, all running after {warm_live:?}");
    assert!(
        world
            .wait_running(&names.iter().map(String::as_str).collect::<Vec<_>>())
            .await
    );

    let shown = launch(&desktop, &env, false);
    tokio::time::sleep(SETTLE).await;
    let (shown_rss, shown_pss, processes) = memory(shown.id());
    eprintln!("window shown: RSS {shown_rss:.0} MB, PSS {shown_pss:.0} MB over {processes:?}");
    stop(shown);

    let hidden = launch(&desktop, &env, true);
    tokio::time::sleep(SETTLE).await;
    let (hidden_rss, hidden_pss, processes) = memory(hidden.id());
    eprintln!("window hidden: RSS {hidden_rss:.0} MB, PSS {hidden_pss:.0} MB over {processes:?}");
    let ticks_per_second = 100.0; // USER_HZ, which /proc counts in on Linux
    let before = cpu_ticks(hidden.id());
    let t0 = Instant::now();
    tokio::time::sleep(CPU_WINDOW).await;
    let used = (cpu_ticks(hidden.id()) - before) as f64 / ticks_per_second;
    let cpu = 100.0 * used / t0.elapsed().as_secs_f64();
    stop(hidden);

    println!("| measure | result | target |");
    println!("| --- | --- | --- |");
    println!("| memory, window shown, idle, {SERVICES} services (RSS sum / PSS sum of the tree) | {shown_rss:.0} MB / {shown_pss:.0} MB | < 150 MB |");
    println!("| memory, window hidden, idle, {SERVICES} services (RSS sum / PSS sum) | {hidden_rss:.0} MB / {hidden_pss:.0} MB | |");
    println!(
        "| CPU over {} s idle, window hidden | {cpu:.2} % of one core | < 1 % |",
        CPU_WINDOW.as_secs()
    );
    println!("| launch to live state, {SERVICES} containers to create (first rows / all running) | {:.2} s / {:.2} s | |", cold_rows.as_secs_f64(), cold_live.as_secs_f64());
    println!("| launch to live state, {SERVICES} containers adopted (first rows / all running) | {:.2} s / {:.2} s | |", warm_rows.as_secs_f64(), warm_live.as_secs_f64());
}
