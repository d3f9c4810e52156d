//! Benchmark of the tray app's cost on a workstation (issues 6 and 14), not a test, with
//! 10 services idle: PSS of the always-on tray host with the window closed, beside the
//! headless daemon's own RSS/PSS in the same run; CPU over 60 s idle with the window
//! closed; PSS of the tree with the window shown, beside WebKitGTK's MiniBrowser on
//! `about:blank` (with and without compositing); the time from opening the window (a
//! window process launched by tauri-driver, the host already running) to live state; and
//! from a `docker kill` to the restart shown by the control API and by the window (issue
//! 18: the window must not lag the API).
//!
//! Run (after `bash scripts/setup-gui-env.sh` and the builds scripts/test.sh makes: the
//! headless binary, the GUI build, and the tray host laid out with the GUI build beside it
//! as `ashtray-window`):
//!   ASHTRAY_TRAY_BIN=$CARGO_TARGET_DIR/desktop/ashtray ASHTRAY_BIN=$CARGO_TARGET_DIR/headless/ashtray \
//!     ASHTRAY_BASELINE_GUI_BIN=$CARGO_TARGET_DIR/gui/ashtray \
//!     cargo run -p ashtray-tests --example bench_tray
//! Without `ASHTRAY_TRAY_BIN` the GUI build (`ASHTRAY_GUI_BIN`) is the tray host as well.
//! `ASHTRAY_BASELINE_GUI_BIN`, if set, is another tray host (say the GUI build, which links
//! GTK/WebKit) measured the same way with the window hidden. It prints a Markdown table.
//! `BENCH_TRAY_ONLY_SHOWN=1` measures only the window-shown tree and MiniBrowser;
//! `BENCH_TRAY_MAPPINGS=1` also prints each of their processes' largest mappings.

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
/// Services killed one after the other for the kill → shown figure.
const KILLS: usize = 5;
const SETTLE: Duration = Duration::from_secs(20);
const CPU_WINDOW: Duration = Duration::from_secs(60);
const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

fn gui_bin() -> PathBuf {
    std::env::var_os("ASHTRAY_GUI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ashtray-target/debug/ashtray"))
}

/// The tray host that the user runs: the build without GTK/WebKit when given, with the
/// window's build beside it as `ashtray-window`.
fn tray_bin() -> PathBuf {
    std::env::var_os("ASHTRAY_TRAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(gui_bin)
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

/// The `count` mappings of `pid` with the most PSS, as "file PSS MB" (anonymous memory
/// under its smaps name, "[heap]" or "anon"): where a process's memory goes.
fn largest_mappings(pid: u32, count: usize) -> Vec<String> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by_name: std::collections::HashMap<String, u64> = Default::default();
    let mut current = String::new();
    for line in smaps.lines() {
        if let Some(kib) = line.strip_prefix("Pss:") {
            let kib: u64 = kib
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            *by_name.entry(current.clone()).or_default() += kib;
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-'))
        {
            // A mapping's header: range perms offset dev inode [path].
            let path = line.split_whitespace().nth(5).unwrap_or("anon");
            current = path.rsplit('/').next().unwrap_or(path).to_string();
        }
    }
    let mut all: Vec<(String, u64)> = by_name.into_iter().collect();
    all.sort_by_key(|b| std::cmp::Reverse(b.1));
    all.into_iter()
        .take(count)
        .map(|(name, kib)| format!("{name} {:.1}", kib as f64 / 1024.0))
        .collect()
}

/// With `BENCH_TRAY_MAPPINGS=1`, each process of the tree and its largest mappings.
fn print_mappings(what: &str, pid: u32) {
    if std::env::var_os("BENCH_TRAY_MAPPINGS").is_none() {
        return;
    }
    for p in tree(pid) {
        let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        eprintln!(
            "{what}: {} PSS {:.1} MB: {}",
            name.trim(),
            proc_stats::pss_kib(p) as f64 / 1024.0,
            largest_mappings(p, 12).join(", ")
        );
    }
}

/// CPU ticks (user + system) used so far by the tree.
fn cpu_ticks(pid: u32) -> u64 {
    tree(pid).into_iter().map(proc_stats::cpu_ticks).sum()
}

fn launch(desktop: &Desktop, env: &[(String, String)], hidden: bool) -> Child {
    launch_bin(
        &tray_bin(),
        desktop,
        env,
        if hidden { &["--hidden"] } else { &[] },
    )
}

fn launch_bin(
    bin: &std::path::Path,
    desktop: &Desktop,
    env: &[(String, String)],
    args: &[&str],
) -> Child {
    let mut command = Command::new(bin);
    command.args(args);
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

/// A tauri-driver of its own, for one window session.
fn tauri_driver(desktop: &Desktop, env: &[(String, String)]) -> Driver {
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
    Driver::spawn(command, port)
}

/// Launch to "the window shows all services running", through tauri-driver.
async fn launch_to_live(desktop: &Desktop, env: &[(String, String)]) -> (Duration, Duration) {
    let driver = tauri_driver(desktop, env);
    let started = Instant::now();
    let client = driver
        .session(json!({"tauri:options": {"application": tray_bin(), "args": ["window"]}}))
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

/// `docker kill` of a service to the moment the control API, then the window, count its
/// restart: one window kept open, each repetition on another service (none held by a
/// backoff). Both are read in the same loop, so the window's lag behind the API is
/// measured to the loop's period (a WebDriver query and an HTTP request).
async fn kill_to_shown(
    desktop: &Desktop,
    env: &[(String, String)],
    config: &std::path::Path,
    names: &[String],
) -> Vec<(Duration, Duration, Duration)> {
    let driver = tauri_driver(desktop, env);
    let client = driver
        .session(json!({"tauri:options": {"application": tray_bin(), "args": ["window"]}}))
        .await;
    let url = std::fs::read_to_string(config.join("control-url")).expect("control-url");
    let token = std::fs::read_to_string(config.join("token")).expect("token");
    let http = reqwest::Client::new();
    let api_restarts = |name: &str| {
        let request = http
            .get(format!("{}/api/v1/services/{name}", url.trim()))
            .bearer_auth(token.trim());
        async move {
            let view: Value = request.send().await.ok()?.json().await.ok()?;
            view["restarts"].as_u64()
        }
    };
    let shown_restarts = |name: &str| {
        let css = format!("tr[data-service=\"{name}\"] [data-role=\"restarts\"]");
        let client = &client;
        async move { text_of(client, &css).await?.parse::<u64>().ok() }
    };
    let mut figures = vec![];
    for name in names {
        let before = loop {
            match (api_restarts(name).await, shown_restarts(name).await) {
                (Some(a), Some(w)) if a == w => break a,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let killed = ashtray_tests::images::docker_cli()
            .args(["kill", &ashtray_tests::world::slug(name)])
            .output()
            .expect("docker kill");
        assert!(killed.status.success(), "docker kill {name}");
        let start = Instant::now();
        let (mut api_at, mut window_at) = (None, None);
        // How long the query that saw it took: the window showed it within that of
        // `window_at`, so it bounds how well the lag is measured.
        let mut query = Duration::ZERO;
        while api_at.is_none() || window_at.is_none() {
            if api_at.is_none() && api_restarts(name).await.is_some_and(|r| r > before) {
                api_at = Some(start.elapsed());
            }
            if window_at.is_none() {
                let asked = Instant::now();
                if shown_restarts(name).await.is_some_and(|r| r > before) {
                    window_at = Some(start.elapsed());
                    query = asked.elapsed();
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{name}: no restart shown within a minute (API {api_at:?}, window {window_at:?})"
            );
        }
        let figure = (api_at.unwrap(), window_at.unwrap(), query);
        eprintln!(
            "kill {name}: API after {:?}, window after {:?} (its query took {query:?})",
            figure.0, figure.1
        );
        figures.push(figure);
    }
    let _ = client.close().await;
    drop(driver);
    figures
}

/// The tray host launched with its window shown, measured once it settled: (RSS, PSS,
/// each process).
async fn window_shown(desktop: &Desktop, env: &[(String, String)]) -> (f64, f64, Vec<String>) {
    let shown = launch(desktop, env, false);
    tokio::time::sleep(SETTLE).await;
    let (rss, pss, processes) = memory(shown.id());
    print_mappings("window shown", shown.id());
    eprintln!("window shown: RSS {rss:.0} MB, PSS {pss:.0} MB over {processes:?}");
    stop(shown);
    (rss, pss, processes)
}

/// PSS of WebKitGTK's MiniBrowser showing about:blank, once it settled.
fn minibrowser(desktop: &Desktop, compositing: bool) -> f64 {
    let mut command = Command::new(MINIBROWSER);
    command
        .arg("about:blank")
        .envs(desktop.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !compositing {
        command.env("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    let child = command.spawn().expect("starting MiniBrowser");
    std::thread::sleep(SETTLE);
    let (_, pss, processes) = memory(child.id());
    print_mappings("MiniBrowser", child.id());
    eprintln!("MiniBrowser (compositing {compositing}): {pss:.0} MB over {processes:?}");
    stop(child);
    pss
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    println!("{}", ashtray_tests::bench::machine());
    println!("tray host: {}", tray_bin().display());
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

    // `BENCH_TRAY_ONLY_SHOWN=1`: only the window-shown tree against MiniBrowser, the
    // quick loop for work on the window's memory.
    if std::env::var_os("BENCH_TRAY_ONLY_SHOWN").is_some() {
        let (_, shown_pss, shown_processes) = window_shown(&desktop, &env).await;
        let browser = minibrowser(&desktop, false);
        println!(
            "| tree with the window shown (PSS) | {shown_pss:.0} MB ({}) | MiniBrowser about:blank without compositing: {browser:.0} MB | ≤ MiniBrowser |",
            shown_processes.join(", ")
        );
        return;
    }

    // The daemon alone, the same engine and API: what the tray host should cost.
    let daemon_bin = std::env::var_os("ASHTRAY_BIN").map(PathBuf::from);
    let daemon = daemon_bin.as_ref().map(|bin| {
        let daemon = launch_bin(bin, &desktop, &env, &["--daemon"]);
        std::thread::sleep(SETTLE);
        let (rss, pss, _) = memory(daemon.id());
        stop(daemon);
        (rss, pss)
    });
    eprintln!("daemon: {daemon:?}");

    // The tray host is up (hidden) before the window opens: the time is Open to live.
    let host = launch(&desktop, &env, true);
    let (cold_rows, cold_live) = launch_to_live(&desktop, &env).await;
    eprintln!("first open: rows after {cold_rows:?}, all running after {cold_live:?}");
    let (warm_rows, warm_live) = launch_to_live(&desktop, &env).await;
    eprintln!("second open: rows after {warm_rows:?}, all running after {warm_live:?}");
    assert!(
        world
            .wait_running(&names.iter().map(String::as_str).collect::<Vec<_>>())
            .await
    );
    let kills = kill_to_shown(&desktop, &env, config.path(), &names[..KILLS]).await;
    assert!(
        world
            .wait_running(&names.iter().map(String::as_str).collect::<Vec<_>>())
            .await
    );
    tokio::time::sleep(SETTLE).await;
    let (hidden_rss, hidden_pss, processes) = memory(host.id());
    eprintln!("window closed: RSS {hidden_rss:.0} MB, PSS {hidden_pss:.0} MB over {processes:?}");
    let ticks_per_second = 100.0; // USER_HZ, which /proc counts in on Linux
    let before = cpu_ticks(host.id());
    let t0 = Instant::now();
    tokio::time::sleep(CPU_WINDOW).await;
    let used = (cpu_ticks(host.id()) - before) as f64 / ticks_per_second;
    let cpu = 100.0 * used / t0.elapsed().as_secs_f64();
    stop(host);

    let (shown_rss, shown_pss, shown_processes) = window_shown(&desktop, &env).await;

    let baseline = std::env::var_os("ASHTRAY_BASELINE_GUI_BIN").map(|bin| {
        let old = launch_bin(std::path::Path::new(&bin), &desktop, &env, &["--hidden"]);
        std::thread::sleep(SETTLE);
        let (rss, pss, _) = memory(old.id());
        stop(old);
        (rss, pss)
    });

    let browser_plain = minibrowser(&desktop, false);
    let browser_composited = minibrowser(&desktop, true);

    let mb = |v: Option<(f64, f64)>| {
        v.map_or("not measured".to_string(), |(r, p)| {
            format!("RSS {r:.0} MB / PSS {p:.0} MB")
        })
    };
    println!("end: {}", ashtray_tests::bench::machine());
    println!("| measure | ashtray | baseline, same run | goal |");
    println!("| --- | --- | --- | --- |");
    println!("| always-on process, window closed, {SERVICES} services idle (RSS / PSS) | RSS {hidden_rss:.0} MB / PSS {hidden_pss:.0} MB ({}) | daemon: {}; the GUI build as tray host (ASHTRAY_BASELINE_GUI_BIN), hidden: {} | PSS ≤ 20 MB |", processes.join(", "), mb(daemon), mb(baseline));
    println!(
        "| CPU over {} s idle, window closed | {cpu:.2} % of one core | | < 0.2 % |",
        CPU_WINDOW.as_secs()
    );
    println!("| tree with the window shown (RSS / PSS) | RSS {shown_rss:.0} MB / PSS {shown_pss:.0} MB ({}) | MiniBrowser about:blank, PSS: {browser_plain:.0} MB with WEBKIT_DISABLE_COMPOSITING_MODE=1, {browser_composited:.0} MB without | ≤ MiniBrowser |", shown_processes.join(", "));
    println!("| Open to live state, the host just started, {SERVICES} services (first rows / all running) | {:.2} s / {:.2} s | | ≤ 1.0 s |", cold_rows.as_secs_f64(), cold_live.as_secs_f64());
    println!("| Open to live state, the host settled, {SERVICES} running (first rows / all running) | {:.2} s / {:.2} s | | ≤ 1.0 s |", warm_rows.as_secs_f64(), warm_live.as_secs_f64());
    let lags: Vec<Duration> = kills
        .iter()
        .map(|(api, window, _)| window.saturating_sub(*api))
        .collect();
    let range = |v: Vec<Duration>| {
        let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
        format!(
            "{:.2} s ({:.2} to {:.2})",
            median(v.clone()).as_secs_f64(),
            lo.as_secs_f64(),
            hi.as_secs_f64()
        )
    };
    println!("| `docker kill` to the restart shown, window open, {KILLS} services in turn (median, min to max) | window: {} | control API: {}; the window behind it: {}, of which the WebDriver query that saw it: {} | the window no later than the API's own answer |", range(kills.iter().map(|k| k.1).collect()), range(kills.iter().map(|k| k.0).collect()), range(lags), range(kills.iter().map(|k| k.2).collect()));
}
