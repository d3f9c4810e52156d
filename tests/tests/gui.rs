//! The tray app's window, driven as an artist would through tauri-driver and WebKit's
//! WebDriver, on a private Xvfb display with its own D-Bus session and unlocked
//! gnome-keyring, against the fake AYON server and real dockerd. The app is laid out as
//! the desktop package installs it: `ashtray`, the tray host without GTK/WebKit, and the
//! GUI build beside it as `ashtray-window`; `ashtray window` hands over to the latter.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ashtray_tests::desktop::{
    attr_of, click, free_port, require_tools, text_of, tray_bin, type_into, until, window_pids,
    Desktop, Driver, Missing,
};
use ashtray_tests::harness::eventually;
use ashtray_tests::world::{slug, World, CONVERGE};
use fantoccini::Client;
use serde_json::{json, Value};

const SEEN: Duration = Duration::from_secs(20);
const WIDTH: u32 = 1180;
const HEIGHT: u32 = 760;

/// Where the test is, on stderr, so a hang says where it hangs.
fn step(what: &str) {
    eprintln!(
        "[gui test {:?}] {what}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            % 3600
    );
}

/// Everything the app gets: the desktop, scratch directories, and no AYON_* settings,
/// so that it is a first run.
fn app_env(desktop: &Desktop, world: &World, dirs: &AppDirs) -> Vec<(String, String)> {
    let mut env = desktop.env();
    env.extend([
        (
            "ASHTRAY_CONFIG_DIR".into(),
            dirs.config.display().to_string(),
        ),
        ("ASHTRAY_LOG_DIR".into(), dirs.logs.display().to_string()),
        (
            "ASHTRAY_STATE_DIR".into(),
            world.state.path().display().to_string(),
        ),
        ("RUST_LOG".into(), "info".into()),
        // Let the window render without GPU paths Xvfb does not have.
        ("WEBKIT_DISABLE_COMPOSITING_MODE".into(), "1".into()),
    ]);
    if let Ok(host) = std::env::var("ASHTEST_DOCKER_HOST") {
        env.push(("DOCKER_HOST".into(), host));
    }
    env
}

const CLEARED: &[&str] = &[
    "AYON_SERVER_URL",
    "AYON_API_KEY",
    "AYON_HOSTNAME",
    "AYON_NETWORK",
    "AYON_NETWORK_MODE",
    "AYON_USE_PODMAN",
    "CONTAINER_HOST",
    "ASHTRAY_POLL_INTERVAL",
    "WAYLAND_DISPLAY",
];

struct AppDirs {
    _root: tempfile::TempDir,
    config: PathBuf,
    logs: PathBuf,
    workdir: PathBuf,
}

impl AppDirs {
    fn new() -> AppDirs {
        let root = tempfile::tempdir().unwrap();
        let dirs = AppDirs {
            config: root.path().join("config"),
            logs: root.path().join("logs"),
            workdir: root.path().join("work"),
            _root: root,
        };
        std::fs::create_dir_all(&dirs.workdir).unwrap();
        dirs
    }
}

/// `GET path` on the running host's control API, as the window reaches it: the address
/// and token the host wrote into its config directory.
async fn control_get(dirs: &AppDirs, path: &str) -> Result<Value, reqwest::Error> {
    let url = std::fs::read_to_string(dirs.config.join("control-url")).expect("control-url");
    let token = std::fs::read_to_string(dirs.config.join("token")).expect("token");
    reqwest::Client::new()
        .get(format!("{}{path}", url.trim()))
        .bearer_auth(token.trim())
        .send()
        .await?
        .json()
        .await
}

async fn view(client: &Client) -> Option<String> {
    attr_of(client, "body", "data-view").await
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn highest_tick(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.rsplit("tick ").next()?.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// A WebDriver session on the window process, `ashtray window` (which execs
/// `ashtray-window`, and that starts the tray host when none runs).
fn window_capabilities() -> Value {
    json!({"tauri:options": {"application": tray_bin(), "args": ["window"]}})
}

/// tauri-driver on free ports, in front of WebKit's WebDriver, launching the app with
/// `env` (and none of the variables in `CLEARED`).
fn spawn_tauri_driver(
    tauri_driver: &Path,
    webkit_driver: &Path,
    workdir: &Path,
    env: &[(String, String)],
) -> Driver {
    let (port, native_port) = (free_port(), free_port());
    let mut command = Command::new(tauri_driver);
    command
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .arg("--native-driver")
        .arg(webkit_driver)
        .current_dir(workdir)
        .envs(env.iter().cloned());
    for key in CLEARED {
        command.env_remove(key);
    }
    Driver::spawn(command, port)
}

/// The desktop and both WebDriver servers, or a failure naming what is missing.
fn gui_tools(desktop: Result<Desktop, Missing>) -> (Desktop, PathBuf, PathBuf) {
    let [tauri_driver, webkit_driver] =
        require_tools("the GUI test", ["tauri-driver", "WebKitWebDriver"]);
    let desktop =
        desktop.unwrap_or_else(|missing| panic!("the GUI test needs its desktop: {missing}"));
    (desktop, tauri_driver, webkit_driver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_settings_then_live_services_stop_logs_keyring_and_one_instance() {
    let (desktop, tauri_driver, webkit_driver) = gui_tools(Desktop::start());
    ashtray_tests::images::ensure_images().expect("test images");
    step("desktop up; building test images");
    let world = World::new("gui").await;
    let names = [
        world.declare("alpha", "ticker", Value::Null),
        world.declare("bravo", "ticker", Value::Null),
        world.declare("charlie", "ticker", Value::Null),
    ];
    let dirs = AppDirs::new();
    let env = app_env(&desktop, &world, &dirs);

    let driver = spawn_tauri_driver(&tauri_driver, &webkit_driver, &dirs.workdir, &env);
    step("tauri-driver listens");
    let client = driver.session(window_capabilities()).await;
    let _ = client.set_window_size(WIDTH, HEIGHT).await;
    step("the app runs");

    // First run: no configuration, so the window opens on Settings.
    until("the Settings page on first run", SEEN, || async {
        (view(&client).await.as_deref() == Some("settings")).then_some(())
    })
    .await;
    let keyring = text_of(&client, "#keyring-status")
        .await
        .unwrap_or_default();
    assert!(
        keyring.contains("keyring"),
        "Settings says where the key goes: {keyring:?}"
    );
    // The Services tab is disabled, and says why.
    assert!(
        attr_of(&client, "#nav-services", "disabled")
            .await
            .is_some(),
        "nothing to list before the server is set"
    );
    let why = attr_of(&client, "#nav-services", "title")
        .await
        .unwrap_or_default();
    assert!(
        why.contains("Settings"),
        "the disabled tab says why: {why:?}"
    );

    type_into(&client, "#set-server-url", &world.fake.url()).await;
    type_into(&client, "#set-api-key", &world.fake.service_key()).await;
    type_into(&client, "#set-hostname", &world.host).await;
    type_into(&client, "#set-poll-interval", "0.5").await;
    click(&client, "#settings-test").await;
    let result = until("the test connection's answer", SEEN, || async {
        let text = text_of(&client, "#settings-result").await?;
        (!text.contains("Testing")).then_some(text)
    })
    .await;
    assert!(
        result.contains("service-user"),
        "Test connection names the service user: {result:?}"
    );
    desktop.screenshot("gui-settings.png", WIDTH, HEIGHT);
    step("settings tested");

    // Start at login, ticked as a user would.
    let ticked = client
        .execute(
            "return document.querySelector('#set-start-at-login').checked",
            vec![],
        )
        .await
        .expect("reading Start at login");
    if ticked != Value::Bool(true) {
        click(&client, "#set-start-at-login").await;
    }

    // Saving starts the engine in place: three running rows.
    click(&client, "#settings-save").await;
    until("the service list", CONVERGE, || async {
        (view(&client).await.as_deref() == Some("services")).then_some(())
    })
    .await;
    // Start at login starts the tray host, not the GUI build beside it: the one that
    // runs all day must be the one without GTK.
    let entry = desktop
        .home
        .path()
        .join(".config/autostart/ashtray.desktop");
    let entry = std::fs::read_to_string(&entry)
        .unwrap_or_else(|e| panic!("Start at login wrote no {}: {e}", entry.display()));
    let exec = entry
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .unwrap_or_else(|| panic!("no Exec= in the autostart entry: {entry}"));
    let host = tray_bin().display().to_string();
    assert!(
        exec.contains(&host) && exec.contains("--hidden") && !exec.contains("ashtray-window"),
        "the autostart entry starts {exec:?}, not {host} --hidden"
    );
    for name in &names {
        let css = format!("tr[data-service=\"{name}\"] [data-role=\"state\"]");
        until(&format!("{name} shown running"), CONVERGE, || async {
            (text_of(&client, &css).await.as_deref() == Some("Running")).then_some(())
        })
        .await;
    }
    assert!(
        world.wait_running(&[&names[0], &names[1], &names[2]]).await,
        "three containers run"
    );
    desktop.screenshot("gui-services.png", WIDTH, HEIGHT);
    step("three running");
    // The window says where the browser dashboard is.
    let dashboard = until("the dashboard's address", SEEN, || async {
        let text = text_of(&client, "#host-dashboard").await?;
        text.starts_with("http://127.0.0.1:").then_some(text)
    })
    .await;
    // A refused key: the key was typed into Settings here, so the banner offers Settings
    // rather than advice about AYON_API_KEY.
    world
        .fake
        .set_fault(ashtray_tests::fake_ayon::Fault::Unauthorized);
    let banner = until("the banner of a refused key", CONVERGE, || async {
        attr_of(&client, "#banner-settings", "hidden")
            .await
            .is_none()
            .then_some(())?;
        text_of(&client, "#banner-text").await
    })
    .await;
    assert!(banner.contains("refuses this host's API key"), "{banner:?}");
    assert!(!banner.contains("AYON_API_KEY"), "{banner:?}");
    click(&client, "#banner-settings").await;
    until("Settings, opened from the banner", SEEN, || async {
        (view(&client).await.as_deref() == Some("settings")).then_some(())
    })
    .await;
    world.fake.set_fault(ashtray_tests::fake_ayon::Fault::None);
    click(&client, "#nav-services").await;
    until(
        "the banner gone once the key is taken again",
        CONVERGE,
        || async { attr_of(&client, "#banner", "hidden").await.map(|_| ()) },
    )
    .await;
    // Quit asks first, and says the services keep running; Cancel quits nothing.
    click(&client, "#quit").await;
    let asked = until("the Quit confirmation", SEEN, || async {
        attr_of(&client, "#confirm", "open").await?;
        text_of(&client, "#confirm-text").await
    })
    .await;
    assert!(asked.contains("keep running"), "{asked:?}");
    click(&client, "#confirm-cancel").await;
    until("the confirmation closed", SEEN, || async {
        attr_of(&client, "#confirm", "open")
            .await
            .is_none()
            .then_some(())
    })
    .await;

    // Stop on one: its container goes away and its row says stopped. Once its CPU and
    // memory show, so that the row has a reading to drop.
    let usage = format!("tr[data-service=\"{}\"] [data-role=\"usage\"]", names[0]);
    // Its engine's stats stream first, then the page's next poll: once, beside the
    // dashboard's browser tests on 2 cores, that took over 30 s.
    until(
        "the first service's CPU and memory",
        2 * CONVERGE,
        || async { text_of(&client, &usage).await.filter(|u| u.contains('%')) },
    )
    .await;
    click(
        &client,
        &format!(
            "tr[data-service=\"{}\"] button[data-action=\"stop\"]",
            names[0]
        ),
    )
    .await;
    assert!(
        world.wait_running(&[&names[1], &names[2]]).await,
        "running: {:?}",
        world.running_names().await
    );
    let gone = eventually(CONVERGE, || async {
        let all = world.engine.containers(&world.prefix).await;
        (!all.iter().any(|c| c.name == slug(&names[0]))).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the stopped service's container is removed");
    let row = format!("tr[data-service=\"{}\"] [data-role=\"state\"]", names[0]);
    until("the stopped row", SEEN, || async {
        (text_of(&client, &row).await.as_deref() == Some("Stopped")).then_some(())
    })
    .await;
    // No CPU and memory for it: its container's last reading outlives it by seconds.
    // Watched over two of the page's stats polls (every 2 s), not just the redraw.
    let watch_until = std::time::Instant::now() + Duration::from_millis(4500);
    while std::time::Instant::now() < watch_until {
        let shown = text_of(&client, &usage).await.unwrap_or_default();
        assert!(
            shown.is_empty(),
            "the stopped service shows usage {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    step("stopped");

    // The log pane follows a ticker: new lines within seconds.
    click(
        &client,
        &format!(
            "tr[data-service=\"{}\"] button[data-action=\"logs\"]",
            names[1]
        ),
    )
    .await;
    let first = until("the ticker's lines in the log pane", SEEN, || async {
        let text = text_of(&client, "#log-lines").await?;
        let tick = highest_tick(&text);
        (tick > 0).then_some(tick)
    })
    .await;
    until("newer lines, live", Duration::from_secs(5), || async {
        let tick = highest_tick(&text_of(&client, "#log-lines").await?);
        (tick > first + 2).then_some(())
    })
    .await;
    // The search filters as one types: some lines show, and each has what was searched.
    // An empty pane would also have "only matching lines": it is not a filtered one.
    type_into(&client, "#log-search", "tick 1").await;
    let shown = std::cell::RefCell::new(String::new());
    let filtered = eventually(SEEN, || async {
        let text = text_of(&client, "#log-lines").await?;
        shown.replace(text.clone());
        let lines: Vec<&str> = text.lines().collect();
        (!lines.is_empty() && lines.iter().all(|l| l.contains("tick 1"))).then_some(())
    })
    .await;
    assert!(
        filtered.is_some(),
        "search shows the matching lines and only those: {:?}",
        shown.borrow()
    );
    desktop.screenshot("gui-logs.png", WIDTH, HEIGHT);
    step("logs live");

    // Download, in WebKitGTK itself (the dashboard's test catches the browser's click):
    // the buffer lands as a file in the user's download folder, and the window says where.
    click(&client, "#log-download").await;
    let saved = until("the downloaded log", SEEN, || async {
        files_under(desktop.home.path()).into_iter().find(|f| {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(names[1].as_str()) && name.ends_with(".log")
        })
    })
    .await;
    let body = until("the downloaded log written whole", SEEN, || async {
        let body = std::fs::read_to_string(&saved).ok()?;
        (body.ends_with('\n') && body.contains(" stdout tick ")).then_some(body)
    })
    .await;
    assert!(
        body.lines().all(|l| l.contains("Z stdout tick ")),
        "{saved:?}: {:?}",
        body.lines().take(3).collect::<Vec<_>>()
    );
    assert_eq!(
        saved.parent(),
        Some(desktop.home.path().join("Downloads").as_path()),
        "the download folder (no XDG_DOWNLOAD_DIR here)"
    );
    let told = until("the toast saying where", SEEN, || async {
        text_of(&client, "#toast")
            .await
            .filter(|t| t.starts_with("Saved to "))
    })
    .await;
    assert_eq!(told, format!("Saved to {}", saved.display()));
    step("log downloaded");

    // A service killed from outside: the window shows its restart as the API does, from
    // the stream, without a reload or a wait for the next heartbeat.
    let restarts = format!("tr[data-service=\"{}\"] [data-role=\"restarts\"]", names[2]);
    let before_kill: u64 = text_of(&client, &restarts)
        .await
        .and_then(|r| r.parse().ok())
        .expect("a restart count in the row");
    let killed = ashtray_tests::images::docker_cli()
        .args(["kill", &slug(&names[2])])
        .output()
        .expect("docker kill");
    assert!(killed.status.success(), "docker kill {}", names[2]);
    until("the window showing the restart", CONVERGE, || async {
        let shown: u64 = text_of(&client, &restarts).await?.parse().ok()?;
        (shown == before_kill + 1).then_some(())
    })
    .await;
    let api = control_get(&dirs, &format!("/api/v1/services/{}", names[2]))
        .await
        .expect("the control API answers");
    assert_eq!(api["restarts"], before_kill + 1, "{api}");
    let exit = format!("tr[data-service=\"{}\"] [data-role=\"exit\"]", names[2]);
    assert_eq!(
        text_of(&client, &exit).await.as_deref(),
        Some("137 · SIGKILL"),
        "the row says how it ended"
    );
    assert!(
        world.wait_running(&[&names[1], &names[2]]).await,
        "the killed service runs again"
    );
    step("a kill shown");

    // The key is in the keyring, and in no file of the config or log directory.
    let key = world.fake.service_key();
    assert_eq!(
        desktop
            .secret_lookup(&["service", "ashtray", "username", "ayon-api-key"])
            .as_deref(),
        Some(key.as_str())
    );
    let files: Vec<PathBuf> = files_under(&dirs.config)
        .into_iter()
        .chain(files_under(&dirs.logs))
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("settings.json")),
        "settings were saved: {files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&key),
            "{} holds the API key",
            file.display()
        );
    }

    // A second launch hands over to the first and exits; no second engine starts.
    let before = world.running_ids().await;
    step("keyring checked; second launch");
    let mut second = Command::new(tray_bin());
    second
        .current_dir(&dirs.workdir)
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for key in CLEARED {
        second.env_remove(key);
    }
    let mut second = second.spawn().unwrap();
    let exited = eventually(SEEN, || {
        let status = second.try_wait().ok().flatten();
        async move { status }
    })
    .await;
    if exited.is_none() {
        let _ = second.kill();
    }
    assert!(exited.is_some(), "the second launch is still running");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.running_ids().await,
        before,
        "the services' containers are untouched by the second launch"
    );
    assert_eq!(
        view(&client).await.as_deref(),
        Some("services"),
        "the first window still serves"
    );

    // The window is a process of its own: killed, it takes neither the engine nor the
    // services with it, and a new window shows them live again.
    step("killing the window process");
    let windows = window_pids(&dirs.config);
    assert_eq!(windows.len(), 1, "one window process: {windows:?}");
    let killed = Command::new("kill")
        .args(["-KILL", &windows[0].to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()), "kill the window");
    let gone = eventually(SEEN, || async {
        window_pids(&dirs.config).is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the killed window process is gone");
    drop(client);
    let host = control_get(&dirs, "/api/v1/host")
        .await
        .expect("the control API answers after the window was killed");
    assert_eq!(host["services"].as_array().map(Vec::len), Some(3), "{host}");
    assert_eq!(
        world.running_ids().await,
        before,
        "the services' containers are untouched by the window's death"
    );
    let client = driver.session(window_capabilities()).await;
    let _ = client.set_window_size(WIDTH, HEIGHT).await;
    let row = format!("tr[data-service=\"{}\"] [data-role=\"state\"]", names[1]);
    until("a new window with the live list", SEEN, || async {
        (text_of(&client, &row).await.as_deref() == Some("Running")).then_some(())
    })
    .await;
    step("a new window shows the running host");

    // Ctrl+W closes the window as its close button does: the app, its API and the
    // services go on.
    step("Ctrl+W");
    client
        .execute(
            // After the script has answered: the window's process ends with the window.
            "setTimeout(() => document.dispatchEvent(new KeyboardEvent('keydown', {key: 'w', ctrlKey: true, bubbles: true})), 200); return true",
            vec![],
        )
        .await
        .expect("pressing Ctrl+W");
    let closed = eventually(SEEN, || async {
        window_pids(&dirs.config).is_empty().then_some(())
    })
    .await;
    assert!(
        closed.is_some(),
        "Ctrl+W closed the window (its process ended)"
    );
    let health = reqwest::get(format!("{dashboard}healthz")).await;
    assert!(
        health.is_ok_and(|r| r.status().is_success()),
        "the app's API answers with the window closed"
    );
    assert_eq!(world.running_ids().await, before, "the services go on");

    // Quit from a new window, confirmed: the whole app ends (the tray host too), and the
    // services' containers keep running, as the dialog said.
    step("Quit");
    let _ = client.close().await;
    let client = driver.session(window_capabilities()).await;
    until("a window to quit from", SEEN, || async {
        (view(&client).await.as_deref() == Some("services")).then_some(())
    })
    .await;
    click(&client, "#quit").await;
    until("the Quit confirmation", SEEN, || async {
        attr_of(&client, "#confirm", "open").await
    })
    .await;
    let _ = client
        .execute(
            "setTimeout(() => document.querySelector('#confirm-ok').click(), 200); return true",
            vec![],
        )
        .await;
    let ended = eventually(CONVERGE, || async {
        let answer = reqwest::get(format!("{dashboard}healthz")).await;
        answer.is_err().then_some(())
    })
    .await;
    assert!(ended.is_some(), "after Quit the app's API still answers");
    assert_eq!(
        world.running_ids().await,
        before,
        "Quit leaves the services' containers running"
    );

    let _ = client.close().await;
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_settings_says_so_and_the_key_goes_nowhere() {
    let (desktop, tauri_driver, webkit_driver) = gui_tools(Desktop::start_without_keyring());
    let fake = ashtray_tests::fake_ayon::FakeAyon::start().await;
    let dirs = AppDirs::new();
    let state = tempfile::tempdir().unwrap();
    let mut env = desktop.env();
    env.extend([
        (
            "ASHTRAY_CONFIG_DIR".to_string(),
            dirs.config.display().to_string(),
        ),
        (
            "ASHTRAY_LOG_DIR".to_string(),
            dirs.logs.display().to_string(),
        ),
        (
            "ASHTRAY_STATE_DIR".to_string(),
            state.path().display().to_string(),
        ),
        (
            "WEBKIT_DISABLE_COMPOSITING_MODE".to_string(),
            "1".to_string(),
        ),
    ]);
    let driver = spawn_tauri_driver(&tauri_driver, &webkit_driver, &dirs.workdir, &env);
    let client = driver.session(window_capabilities()).await;

    until("the Settings page", SEEN, || async {
        (view(&client).await.as_deref() == Some("settings")).then_some(())
    })
    .await;
    let status = until("the keyring's status", SEEN, || async {
        let text = text_of(&client, "#keyring-status").await?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(status.contains("No OS keyring is available"), "{status:?}");
    assert_eq!(
        attr_of(&client, "#keyring-status", "data-tone")
            .await
            .as_deref(),
        Some("bad")
    );

    type_into(&client, "#set-server-url", &fake.url()).await;
    type_into(&client, "#set-api-key", &fake.service_key()).await;
    click(&client, "#settings-save").await;
    let result = until("the refusal to save", SEEN, || async {
        let text = text_of(&client, "#settings-result").await?;
        (!text.contains("Saving")).then_some(text)
    })
    .await;
    assert!(
        result.contains("was not saved") && result.contains("keyring"),
        "{result:?}"
    );
    assert_eq!(
        view(&client).await.as_deref(),
        Some("settings"),
        "nothing starts without a key"
    );
    for file in files_under(&dirs.config)
        .into_iter()
        .chain(files_under(&dirs.logs))
    {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
        assert!(
            !text.contains(&fake.service_key()),
            "{} holds the API key",
            file.display()
        );
    }
    let _ = client.close().await;
}
