//! The browser dashboard of `ashtray --daemon`: the same `ui/` as the window, served by
//! the control API behind its token, driven in headless Chromium through chromedriver.

use std::process::Command;
use std::time::Duration;

use ashtray_tests::api_client::Api;
use ashtray_tests::desktop::{
    attr_of, click, free_port, require_tools, screenshot, text_of, type_into, until, Driver,
};
use ashtray_tests::harness::{eventually, Ashtray};
use ashtray_tests::images::BURST_LINES;
use ashtray_tests::world::{World, CONVERGE};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SEEN: Duration = Duration::from_secs(20);
/// How long a page following a flood of output may take to show it (see
/// `a_flooded_log_pane_stays_usable`): before the pane drew in batches it never did.
const FLOODED_SEEN: Duration = Duration::from_secs(60);

/// `ashtray --daemon` for a world, with where its dashboard is and the token that opens it.
struct Daemon {
    _ashtray: Ashtray,
    _config: tempfile::TempDir,
    url: String,
    token: String,
}

impl Daemon {
    /// Starts it and waits until `services` run.
    async fn start(world: &World, services: &[&str]) -> Daemon {
        let config = tempfile::tempdir().unwrap();
        let ashtray = world
            .launch()
            .env("ASHTRAY_CONFIG_DIR", &config.path().display().to_string())
            .spawn();
        let url = eventually(CONVERGE, || async {
            let text = std::fs::read_to_string(config.path().join("control-url")).ok()?;
            Some(text.trim().to_string()).filter(|u| !u.is_empty())
        })
        .await
        .expect("the daemon writes its control API's URL to the config directory");
        let token = std::fs::read_to_string(config.path().join("token"))
            .expect("the control API token")
            .trim()
            .to_string();
        assert!(
            world.wait_running(services).await,
            "running: {:?}",
            world.running_names().await
        );
        Daemon {
            _ashtray: ashtray,
            _config: config,
            url,
            token,
        }
    }
}

/// Headless Chromium through chromedriver, with a profile of its own. Fields drop in
/// order: the session's client, then the driver (and the browser with it), then the
/// profile.
struct Browser {
    client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
    /// Where chromedriver listens, for its DevTools endpoint.
    driver_url: String,
}

impl Browser {
    /// Chromium at the dashboard of `daemon`, showing its sign-in form.
    async fn at(daemon: &Daemon) -> Browser {
        let [chromedriver, chromium] =
            require_tools("the dashboard test", ["chromedriver", "chromium"]);
        let port = free_port();
        let mut command = Command::new(chromedriver);
        command.arg(format!("--port={port}"));
        let driver = Driver::spawn(command, port);
        let profile = tempfile::tempdir().unwrap();
        let client = driver
            .session(json!({
                "browserName": "chrome",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--window-size=1280,800", format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }))
            .await;
        let browser = Browser {
            client,
            driver_url: driver.url.clone(),
            _driver: driver,
            _profile: profile,
        };
        browser
            .client
            .goto(&format!("{}/", daemon.url))
            .await
            .expect("the dashboard page");
        // The first page of a Chromium just started: on 2 cores shared with the rest of
        // the suite (image builds, debootstrap) that took over 20 s once in CI, and twice
        // in CI the page never left "loading" in 30 s. What the page had then is printed,
        // and it is loaded once more, as a user would; a second miss fails the test.
        let signed_out =
            || async { (browser.view().await.as_deref() == Some("login")).then_some(()) };
        if eventually(CONVERGE, signed_out).await.is_none() {
            let page = browser.page_state().await;
            eprintln!(
                "no sign-in form after {} s; the page: {page}; loading it again",
                CONVERGE.as_secs()
            );
            browser
                .client
                .refresh()
                .await
                .expect("reloading the dashboard");
            if eventually(CONVERGE, signed_out).await.is_none() {
                panic!(
                    "no sign-in form after a reload either; the page: {}",
                    browser.page_state().await
                );
            }
        }
        browser
    }

    /// What the page is at, for a failure's message: its load state, its view, the files
    /// it fetched (with their HTTP status) and what it wrote to its console.
    async fn page_state(&self) -> String {
        let script = "return JSON.stringify({ready: document.readyState, view: document.body && document.body.dataset.view, \
            fetched: performance.getEntriesByType('resource').map((e) => `${e.name} ${e.responseStatus}`)})";
        let page = match self.client.execute(script, vec![]).await {
            Ok(value) => value.as_str().unwrap_or_default().to_string(),
            Err(error) => format!("(the page did not answer: {error})"),
        };
        format!("{page}; its console: {}", self.console().await)
    }

    /// The page's console (chromedriver's browser log, kept by `goog:loggingPrefs`).
    async fn console(&self) -> String {
        let Ok(Some(session)) = self.client.session_id().await else {
            return "(no session)".into();
        };
        let answer = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({"type": "browser"}))
            .send()
            .await;
        match answer {
            Ok(answer) => answer.text().await.unwrap_or_default(),
            Err(error) => format!("(chromedriver did not answer: {error})"),
        }
    }

    /// A DevTools command to the page, through chromedriver; fails the test if refused.
    async fn devtools(&self, cmd: &str, params: Value) {
        let session = self
            .client
            .session_id()
            .await
            .expect("the WebDriver session")
            .expect("the WebDriver session has an id");
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/session/{session}/goog/cdp/execute",
                self.driver_url
            ))
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("DevTools {cmd}: chromedriver did not answer: {e}"));
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        assert!(status.is_success(), "DevTools {cmd}: {status} {body}");
    }

    async fn view(&self) -> Option<String> {
        attr_of(&self.client, "body", "data-view").await
    }

    async fn wait_view(&self, what: &str, view: &str) {
        until(what, SEEN, || async {
            (self.view().await.as_deref() == Some(view)).then_some(())
        })
        .await;
    }

    async fn sign_in(&self, token: &str) {
        type_into(&self.client, "#login-token", token).await;
        click(&self.client, "#login-submit").await;
    }

    /// Signs in and opens the log pane of `service`, following it live.
    async fn follow_logs(&self, daemon: &Daemon, service: &str) {
        self.sign_in(&daemon.token).await;
        self.wait_view("the service list", "services").await;
        let logs = format!("tr[data-service=\"{service}\"] button[data-action=\"logs\"]");
        click(&self.client, &logs).await;
        until("the log pane following the service", SEEN, || async {
            (text_of(&self.client, "#log-status").await? == "following live").then_some(())
        })
        .await;
    }

    /// The page's computed background, as `[r, g, b]`.
    async fn background(&self) -> Option<[u8; 3]> {
        let value = self
            .client
            .execute(
                "return getComputedStyle(document.body).backgroundColor",
                vec![],
            )
            .await
            .ok()?;
        rgb(value.as_str()?)
    }
}

/// `rgb(r, g, b)` (as getComputedStyle writes a color) as its three channels.
fn rgb(css: &str) -> Option<[u8; 3]> {
    let inner = css.strip_prefix("rgb(")?.strip_suffix(')')?;
    let channels: Vec<u8> = inner
        .split(',')
        .map(|c| c.trim().parse().ok())
        .collect::<Option<_>>()?;
    channels.try_into().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_the_right_one_shows_the_services() {
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::new("dash").await;
    let names = [
        world.declare("one", "ticker", Value::Null),
        world.declare("two", "ticker", Value::Null),
        world.declare("three", "ticker", Value::Null),
    ];
    let daemon = Daemon::start(&world, &[&names[0], &names[1], &names[2]]).await;
    let browser = Browser::at(&daemon).await;
    let client = &browser.client;

    browser.sign_in("not-the-token").await;
    let refusal = until("the refusal", SEEN, || async {
        let text = text_of(client, "#login-error").await?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(refusal.contains("not accepted"), "{refusal:?}");
    assert_eq!(
        browser.view().await.as_deref(),
        Some("login"),
        "a wrong token shows nothing else"
    );
    screenshot(client, "dashboard-login.png").await;

    browser.sign_in(&daemon.token).await;
    browser.wait_view("the service list", "services").await;
    for name in &names {
        let css = format!("tr[data-service=\"{name}\"] [data-role=\"state\"]");
        until(&format!("{name} shown running"), SEEN, || async {
            (text_of(client, &css).await.as_deref() == Some("Running")).then_some(())
        })
        .await;
    }
    let host = text_of(client, "#host-server-state")
        .await
        .unwrap_or_default();
    assert_eq!(host, "Connected");
    // The panel says where this dashboard is (a free port when 47120 was taken).
    let shown = text_of(client, "#host-dashboard").await.unwrap_or_default();
    assert_eq!(shown, format!("{}/", daemon.url));
    screenshot(client, "dashboard-services.png").await;

    // The dark theme follows the OS: emulate a dark desktop through Chromium's DevTools.
    // Light and dark are told apart by brightness, not by the exact colours of the CSS.
    let light = until("the page's background", SEEN, || browser.background()).await;
    assert!(
        light.iter().all(|&c| c > 180),
        "a light desktop gets a light page: rgb{light:?}"
    );
    browser
        .devtools(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
        )
        .await;
    until("the page to turn dark with the OS", SEEN, || async {
        let background = browser.background().await?;
        background.iter().all(|&c| c < 80).then_some(())
    })
    .await;
    screenshot(client, "dashboard-dark.png").await;

    // The token is kept for the browser session: a reload stays signed in.
    client.refresh().await.unwrap();
    browser
        .wait_view("the list after a reload", "services")
        .await;

    let _ = client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_log_pane_stays_usable() {
    ashtray_tests::images::ensure_images().expect("test images");
    // A service printing as fast as it can takes a core by itself: beside the rest of the
    // suite on two cores, the page's first lines came after 20 s (seen in a full run).
    // Alone with the engine, and with a deadline that still catches the pane that froze
    // for minutes, the test measures the pane rather than the machine's load.
    let world = World::alone("dash-flood").await;
    let name = world.declare("chatty", "chatty", Value::Null);
    let daemon = Daemon::start(&world, &[&name]).await;
    let browser = Browser::at(&daemon).await;
    let client = &browser.client;
    // While the pane follows the flood, the page answers within the usual deadlines.
    browser.follow_logs(&daemon, &name).await;
    until(
        "the chatty service's lines in the log pane",
        FLOODED_SEEN,
        || async {
            let text = text_of(client, "#log-lines").await?;
            text.contains("a chatty service").then_some(())
        },
    )
    .await;

    let _ = client.clone().close().await;
}

/// Rows whose Start/Stop/Restart/Logs buttons are not all inside the viewport and the
/// list's card, described for the failure message; empty when every one is in view.
const ACTIONS_OUT_OF_VIEW: &str = r##"
const wrap = document.querySelector(".table-wrap").getBoundingClientRect();
const out = [];
for (const row of document.querySelectorAll("#services-body tr")) {
  for (const b of row.querySelectorAll("button[data-action]")) {
    const r = b.getBoundingClientRect();
    if (r.width === 0 || r.left < wrap.left - 1 || r.right > wrap.right + 1 || r.right > window.innerWidth)
      out.push(`${row.dataset.service} ${b.dataset.action}: ${Math.round(r.left)}-${Math.round(r.right)} of ${Math.round(wrap.left)}-${Math.round(wrap.right)} (window ${window.innerWidth})`);
  }
}
return out;
"##;

/// Bottom of an element against the window's height: `[bottom, innerHeight]`.
const BOTTOM_IN_VIEW: &str = r#"
const r = document.querySelector(arguments[0]).getBoundingClientRect();
return [Math.round(r.bottom), window.innerHeight];
"#;

async fn actions_out_of_view(client: &Client) -> Vec<String> {
    let value = client.execute(ACTIONS_OUT_OF_VIEW, vec![]).await.unwrap();
    serde_json::from_value(value).unwrap()
}

/// A service the engine cannot even create a container for, beside healthy ones: its
/// whole error shows (the engine's reason is at its end), every row's Actions stay in
/// view at the default size and at 420 px, the header does not say all is well, and the
/// failing one's log pane says why it is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_never_hides_the_rest() {
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::new("dash-fail").await;
    let healthy = [
        world.declare("one", "ticker", Value::Null),
        world.declare("two", "ticker", Value::Null),
    ];
    let broken = world.declare("broken-with-a-long-name", "nocmd", Value::Null);
    let daemon = Daemon::start(&world, &[&healthy[0], &healthy[1]]).await;
    let browser = Browser::at(&daemon).await;
    let client = &browser.client;
    browser.sign_in(&daemon.token).await;
    browser.wait_view("the service list", "services").await;
    let error_css = format!("tr[data-service=\"{broken}\"] [data-role=\"error\"]");
    let error = until("the start error in the list", SEEN, || async {
        let text = text_of(client, &error_css).await?;
        text.contains("No command specified").then_some(text)
    })
    .await;
    assert!(error.starts_with("creating container"), "{error:?}");
    let state = text_of(
        client,
        &format!("tr[data-service=\"{broken}\"] [data-role=\"state\"]"),
    )
    .await;
    assert_eq!(
        state.as_deref(),
        Some("Cannot start"),
        "nothing ran, so nothing crash-loops"
    );
    let header = text_of(client, "#overall-text").await.unwrap_or_default();
    assert_ne!(header, "All services running");

    for (width, height, shot) in [
        (1280, 800, "dashboard-failing.png"),
        (420, 800, "dashboard-narrow.png"),
    ] {
        client.set_window_size(width, height).await.unwrap();
        let out = until(&format!("the layout at {width} px"), SEEN, || async {
            let out = actions_out_of_view(client).await;
            let rows = client
                .execute(
                    "return document.querySelectorAll('#services-body tr').length",
                    vec![],
                )
                .await
                .ok()?;
            (rows.as_u64() == Some(3)).then_some(out)
        })
        .await;
        screenshot(client, shot).await;
        assert!(
            out.is_empty(),
            "at {width} px, Actions out of view: {out:#?}"
        );
        let top: f64 = client
            .execute(
                "return document.querySelector('.topbar').getBoundingClientRect().height",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap();
        assert!(top < 60.0, "at {width} px the top bar wraps: {top} px high");
    }

    // At the default size the log pane opens in view, its status line included.
    client.set_window_size(1280, 800).await.unwrap();
    click(
        client,
        &format!("tr[data-service=\"{broken}\"] button[data-action=\"logs\"]"),
    )
    .await;
    let note = until("the empty log pane saying why", SEEN, || async {
        text_of(client, "#log-lines [data-role=\"note\"]").await
    })
    .await;
    assert!(note.contains("No command specified"), "{note:?}");
    let [bottom, height]: [u64; 2] = serde_json::from_value(
        client
            .execute(BOTTOM_IN_VIEW, vec![json!("#log-status")])
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        bottom <= height,
        "the log pane's status line is below the fold: {bottom} > {height}"
    );

    // Pause all asks first, and Cancel changes nothing.
    click(client, "#pause-all").await;
    let asked = until("the Pause all confirmation", SEEN, || async {
        let open = attr_of(client, "#confirm", "open").await;
        open.is_some().then_some(())?;
        text_of(client, "#confirm-text").await
    })
    .await;
    assert!(asked.contains("Resume all"), "{asked:?}");
    click(client, "#confirm-cancel").await;
    let api = Api::new(&daemon.url, Some(&daemon.token));
    assert_eq!(api.get("/api/v1/host").await.json["paused"], false);
    assert!(world.wait_running(&[&healthy[0], &healthy[1]]).await);

    let _ = client.clone().close().await;
}

/// Holds the page's main thread in one synchronous request to `arguments[0]` (a local
/// gate the test lets go of by closing it): the page runs nothing else meanwhile, and
/// spends no CPU on it, which the burst it misses needs.
const HOLD: &str = r#"
const request = new XMLHttpRequest();
request.open("GET", arguments[0], false);
try { request.send(); } catch (closed) {}
return "let go";
"#;

/// A burst of output while the page stands still is far more than ashtray lets a reader lag
/// behind (4 096 lines) plus what the sockets and the browser hold for it (a few MB of
/// the burst's `BURST_LINES`): ashtray drops what the page cannot take and says how
/// many, and the pane shows that where the lines are missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_burst_the_log_pane_says_how_many_lines_it_dropped() {
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::new("dash-burst").await;
    let name = world.declare("burst", "burst", Value::Null);
    let daemon = Daemon::start(&world, &[&name]).await;
    let api = Api::new(&daemon.url, Some(&daemon.token));
    // The newest line ashtray read from the service: its seq and text.
    let newest = || async {
        let tail = api
            .get(&format!("/api/v1/services/{name}/logs?tail=1"))
            .await;
        let line = &tail.json["lines"][0];
        (
            line["seq"].as_u64().unwrap_or(0),
            line["text"].as_str().unwrap_or("").to_string(),
        )
    };
    let last = BURST_LINES.to_string();
    let read = until("the first burst, read whole", CONVERGE, || async {
        let (seq, text) = newest().await;
        (text == last).then_some(seq)
    })
    .await;

    let browser = Browser::at(&daemon).await;
    let client = &browser.client;
    browser.follow_logs(&daemon, &name).await;

    // The page is held while the service starts again and ashtray reads its burst: it
    // reads none of it meanwhile.
    let gate = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gate_url = format!("http://{}/", gate.local_addr().unwrap());
    let limit = 2 * CONVERGE;
    client
        .update_timeouts(TimeoutConfiguration::new(Some(limit + SEEN), None, None))
        .await
        .expect("a script timeout as long as the hold");
    let target = read + BURST_LINES;
    let hold = client.execute(HOLD, vec![json!(gate_url)]);
    let burst = async {
        let (held, _) = tokio::time::timeout(SEEN, gate.accept())
            .await
            .expect("the page asks the gate")
            .unwrap();
        let restart = api.post(&format!("/api/v1/services/{name}/restart")).await;
        assert_eq!(restart.status, StatusCode::ACCEPTED, "{}", restart.text);
        let whole = eventually(limit, || async {
            let (seq, _) = newest().await;
            (seq >= target).then_some(())
        })
        .await;
        drop(held);
        whole
    };
    let (held, whole) = tokio::join!(hold, burst);
    held.expect("holding the page");
    let (seq, _) = newest().await;
    assert!(
        whole.is_some(),
        "ashtray read up to line {seq}, not {target}"
    );

    // Then the pane reads what the browser held, ashtray's word of what it dropped and
    // the lines it kept: the marker stands between them.
    let marker = until("a dropped-lines marker in the log pane", CONVERGE, || {
        text_of(client, "#log-lines [data-role=\"dropped\"]")
    })
    .await;
    let dropped: Option<u64> = marker
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok());
    assert!(
        dropped.is_some_and(|n| n > 0) && marker.contains("dropped"),
        "the marker says how many lines were dropped: {marker:?}"
    );

    let _ = client.clone().close().await;
}

/// Catches what the page copies and saves: the clipboard's `writeText` and the download
/// link's click, kept in `window.__copied` and `window.__saved`.
const CATCH_COPIES_AND_SAVES: &str = r#"
window.__copied = null;
window.__saved = [];
navigator.clipboard.writeText = async (text) => { window.__copied = text; };
HTMLAnchorElement.prototype.click = function () { if (this.download) window.__saved.push({ name: this.download, href: this.href }); };
return true;
"#;

/// The lines the log pane shows, as the user reads them: time, a space, the text.
const SHOWN_LINES: &str = r##"
return [...document.querySelectorAll("#log-lines .log-line")].map((l) => {
  const ts = l.querySelector(".ts");
  const text = [...l.childNodes].filter((n) => n !== ts).map((n) => n.textContent).join("");
  return `${ts.textContent} ${text}`;
});
"##;

/// The text of the newest saved file.
const SAVED_TEXT: &str = r#"
const done = arguments[arguments.length - 1];
const saved = window.__saved[window.__saved.length - 1];
fetch(saved.href).then((r) => r.text()).then((text) => done([saved.name, text]), (e) => done(["", String(e)]));
"#;

async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}: {script}"))
}

/// What the page put on the clipboard last (see `CATCH_COPIES_AND_SAVES`).
async fn copied_text(client: &Client, what: &str) -> String {
    until(what, SEEN, || async {
        js(client, "return window.__copied")
            .await
            .as_str()
            .map(str::to_string)
    })
    .await
}

async fn toast_saying(client: &Client, words: &str) -> String {
    until(&format!("a toast saying {words:?}"), SEEN, || async {
        let text = text_of(client, "#toast").await?;
        text.contains(words).then_some(text)
    })
    .await
}

/// The log pane's tools, the detail view and Copy diagnostics, on a live host: Copy
/// copies what is shown (with times, not what Pause holds back), the times and wrap
/// toggles, stderr marked, Download saves the buffer, each action says how it went;
/// the details show the spec with secrets hidden and the history; a removed service's
/// panes close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_tools_details_and_diagnostics_do_what_they_say() {
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::new("dash-tools").await;
    let ticker = world.declare(
        "tick",
        "ticker",
        json!({"env": {"GREETING": "hi", "DB_PASSWORD": "hunter2"}}),
    );
    let crasher = world.declare("crash", "crasher", Value::Null);
    let daemon = Daemon::start(&world, &[&ticker]).await;
    let browser = Browser::at(&daemon).await;
    let client = &browser.client;
    browser.follow_logs(&daemon, &ticker).await;
    js(client, CATCH_COPIES_AND_SAVES).await;

    // Pause holds lines back; Copy copies exactly what is shown, with the times.
    until("a few lines", SEEN, || async {
        let lines = js(client, SHOWN_LINES).await;
        (lines.as_array()?.len() >= 3).then_some(())
    })
    .await;
    click(client, "#log-pause").await;
    until("lines held back by Pause", SEEN, || async {
        let status = text_of(client, "#log-status").await?;
        status.contains("new lines waiting").then_some(())
    })
    .await;
    let shown: Vec<String> = serde_json::from_value(js(client, SHOWN_LINES).await).unwrap();
    click(client, "#log-copy").await;
    let copied = copied_text(client, "the copied text").await;
    assert_eq!(
        copied,
        shown.join("\n"),
        "Copy copies what is shown, no more"
    );
    let time_then_tick = regex_lite_tick(&copied);
    assert!(
        time_then_tick,
        "each copied line is a time and a tick: {copied:?}"
    );
    toast_saying(client, &format!("Copied {} lines", shown.len())).await;

    // Times off: neither shown nor copied.
    click(client, "#log-times").await;
    let hidden = js(
        client,
        "return getComputedStyle(document.querySelector('#log-lines .ts')).display",
    )
    .await;
    assert_eq!(hidden, "none");
    js(client, "window.__copied = null; return true").await;
    click(client, "#log-copy").await;
    let copied = copied_text(client, "the copy without times").await;
    assert!(copied.lines().all(|l| l.starts_with("tick ")), "{copied:?}");
    click(client, "#log-times").await;

    // Wrap off: long lines scroll sideways.
    click(client, "#log-wrap").await;
    let white = js(
        client,
        "return getComputedStyle(document.querySelector('#log-lines')).whiteSpace",
    )
    .await;
    assert_eq!(white, "pre");
    assert_eq!(
        attr_of(client, "#log-wrap", "aria-pressed")
            .await
            .as_deref(),
        Some("false")
    );

    // Download saves the whole buffer, held-back lines too, with full times and streams.
    click(client, "#log-download").await;
    let saved: (String, String) = serde_json::from_value(
        client
            .execute_async(SAVED_TEXT, vec![])
            .await
            .expect("reading the saved file"),
    )
    .unwrap();
    assert!(
        saved.0.starts_with(&ticker) && saved.0.ends_with(".log"),
        "{}",
        saved.0
    );
    let lines: Vec<&str> = saved.1.lines().collect();
    assert!(
        lines.len() > shown.len(),
        "the buffer, held-back lines included: {} vs {}",
        lines.len(),
        shown.len()
    );
    assert!(
        lines.iter().all(|l| l.contains("Z stdout tick ")),
        "{:?}",
        &lines[..3.min(lines.len())]
    );
    toast_saying(client, "Saved").await;
    click(client, "#log-pause").await;

    // stderr is marked, beyond a colour.
    click(
        client,
        &format!("tr[data-service=\"{crasher}\"] button[data-action=\"logs\"]"),
    )
    .await;
    let marked = until("the crasher's stderr line, marked", SEEN, || async {
        let value = js(client, r#"
            const line = [...document.querySelectorAll('#log-lines .log-line[data-stderr="true"]')].find((l) => l.textContent.includes("fatal: boom"));
            return line ? [line.title, getComputedStyle(line, "::before").content] : null;"#).await;
        serde_json::from_value::<Option<(String, String)>>(value).ok().flatten()
    })
    .await;
    assert_eq!(marked, ("stderr".to_string(), "\"stderr\"".to_string()));

    // The detail view.
    click(
        client,
        &format!("tr[data-service=\"{ticker}\"] button[data-action=\"details\"]"),
    )
    .await;
    let image = until("the details of the ticker", SEEN, || async {
        let image = text_of(client, "#details-body [data-field=\"image\"]").await?;
        (!image.is_empty()).then_some(image)
    })
    .await;
    assert_eq!(image, ashtray_tests::images::TICKER);
    let image_id = text_of(client, "#details-body [data-field=\"image-id\"]")
        .await
        .unwrap_or_default();
    assert!(image_id.starts_with("sha256:"), "{image_id:?}");
    let details = text_of(client, "#details").await.unwrap_or_default();
    assert!(!details.contains("hunter2"), "a secret shown: {details}");
    assert!(
        text_of(
            client,
            "#details-body tr[data-key=\"DB_PASSWORD\"] [data-role=\"hidden\"]"
        )
        .await
        .is_some(),
        "DB_PASSWORD's value is said to be hidden: {details}"
    );
    assert_eq!(
        text_of(
            client,
            "#details-body tr[data-key=\"GREETING\"] td:last-child"
        )
        .await
        .as_deref(),
        Some("hi")
    );
    let started = text_of(
        client,
        "#details-body [data-role=\"history\"] li[data-kind=\"started\"]",
    )
    .await;
    assert!(started.is_some_and(|t| t.contains("started")), "{details}");
    // CPU and memory: in the list's row, and with a short history in the details.
    let usage = until(
        "the ticker's CPU and memory in its row",
        CONVERGE,
        || async {
            let text = text_of(
                client,
                &format!("tr[data-service=\"{ticker}\"] [data-role=\"usage\"]"),
            )
            .await?;
            (text.contains('%') && text.contains('B')).then_some(text)
        },
    )
    .await;
    assert!(usage.contains(" · "), "{usage:?}");
    until(
        "a CPU and memory history in the details",
        CONVERGE,
        || async {
            let points = attr_of(
                client,
                "#details [data-role=\"mem-history\"]",
                "data-points",
            )
            .await?;
            let memory = text_of(client, "#details [data-role=\"mem\"]").await?;
            (points.parse::<u32>().ok()? >= 3 && memory.starts_with("Memory ")).then_some(())
        },
    )
    .await;
    screenshot(client, "dashboard-details.png").await;

    // The crash-looping row counts down to its next try, second by second, between the
    // host's updates (the engine sends the moment; the page runs the clock).
    let retry = format!("tr[data-service=\"{crasher}\"] [data-role=\"retry\"]");
    let retry_in = || async {
        let text = text_of(client, &retry).await?;
        retry_seconds(&text)
    };
    let first = until(
        "a countdown of 3 s or more to the crasher's next try",
        CONVERGE,
        || async { retry_in().await.filter(|s| *s >= 3) },
    )
    .await;
    until("the countdown moving on", SEEN, || async {
        retry_in().await.filter(|s| *s < first && *s > 0)
    })
    .await;

    // Copy diagnostics: the host and its errors for a bug report, no token. A copy is the
    // state of its moment: copied again until the crasher has exited once (its last exit
    // code stays through the restart that clears its error for a moment).
    let report = until("the diagnostics with the crasher's exit", SEEN, || async {
        js(client, "window.__copied = null; return true").await;
        click(client, "#copy-diagnostics").await;
        let text = copied_text(client, "the diagnostics").await;
        let (_, json) = text.split_once('\n')?;
        let report: Value = serde_json::from_str(json).ok()?;
        let crash = report["services"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == crasher.as_str())?;
        (crash["last_exit_code"] == 3).then_some(text)
    })
    .await;
    assert!(report.starts_with("ashtray diagnostics"), "{report}");
    assert!(
        report.contains(&world.host) && report.contains("\"version\""),
        "{report}"
    );
    assert!(
        !report.contains(&daemon.token),
        "the token is in the diagnostics"
    );
    toast_saying(client, "Copied the diagnostics").await;

    // A service the server takes away closes its panes.
    click(
        client,
        &format!("tr[data-service=\"{crasher}\"] button[data-action=\"details\"]"),
    )
    .await;
    until("the crasher's details", SEEN, || async {
        (attr_of(client, "#details", "data-service").await? == crasher).then_some(())
    })
    .await;
    world.fake.delete_service(&crasher);
    until("the removed service's panes closed", CONVERGE, || async {
        let logs = js(client, "return document.querySelector('#logs').hidden").await;
        let details = js(client, "return document.querySelector('#details').hidden").await;
        (logs == true && details == true).then_some(())
    })
    .await;

    let _ = client.clone().close().await;
}

/// The seconds of a row's "retry in 1m 5s".
fn retry_seconds(text: &str) -> Option<u64> {
    let left = text.strip_prefix("retry in ")?;
    left.split_whitespace().try_fold(0, |total, part| {
        let (number, unit) = part.split_at(part.len().checked_sub(1)?);
        let number: u64 = number.parse().ok()?;
        Some(
            total
                + number
                    * match unit {
                        "s" => 1,
                        "m" => 60,
                        "h" => 3600,
                        _ => return None,
                    },
        )
    })
}

/// Each line is `H:MM:SS.mmm tick N`.
fn regex_lite_tick(text: &str) -> bool {
    text.lines().all(|line| {
        let Some((time, rest)) = line.split_once(' ') else {
            return false;
        };
        let parts: Vec<&str> = time.split([':', '.']).collect();
        parts.len() == 4
            && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
            && rest.starts_with("tick ")
    })
}

/// The server's faults in words that are true: a 500 is a server that answers with an
/// error (not one that cannot be reached), the banner says since when, and a refused key
/// is one word, "Key refused", in the top bar and the panel alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_faults_are_told_apart_and_dated() {
    use ashtray_tests::fake_ayon::Fault;
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::new("dash-faults").await;
    let name = world.declare("one", "ticker", Value::Null);
    let daemon = Daemon::start(&world, &[&name]).await;
    let browser = Browser::at(&daemon).await;
    let client = &browser.client;
    browser.sign_in(&daemon.token).await;
    browser.wait_view("the service list", "services").await;

    world.fake.set_fault(Fault::ServerError);
    let banner = until("the banner of a failing server", CONVERGE, || async {
        let text = text_of(client, "#banner-text").await?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(banner.contains("answers with an error"), "{banner:?}");
    assert!(!banner.contains("cannot be reached"), "{banner:?}");
    assert!(
        banner.contains("(since ") && banner.contains(" ago)"),
        "since when: {banner:?}"
    );

    world.fake.set_fault(Fault::Unauthorized);
    let header = until("the top bar on a refused key", CONVERGE, || async {
        let text = text_of(client, "#overall-text").await?;
        (text == "Key refused").then_some(text)
    })
    .await;
    let badge = text_of(client, "#host-server-state")
        .await
        .unwrap_or_default();
    assert_eq!(
        badge, header,
        "one word for a refused key, in the bar and the panel"
    );
    let banner = text_of(client, "#banner-text").await.unwrap_or_default();
    assert!(banner.contains("refuses this host's API key"), "{banner:?}");
    world.fake.set_fault(Fault::None);

    let _ = client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_shows_a_progress_bar_on_the_services_row() {
    use ashtray_tests::registry::{Registry, RemoveImages};
    ashtray_tests::images::ensure_images().expect("test images");
    let registry = Registry::open().await;
    let (image, _) = registry.push_new(
        &ashtray_tests::harness::unique("dash-pull"),
        "1",
        24 * 1024 * 1024,
        "pulled",
    );
    let _cleanup = RemoveImages(vec![image.clone()]);
    let world = World::new("dash-pull").await;
    let ticker = world.declare("ticker", "ticker", Value::Null);
    let daemon = Daemon::start(&world, &[&ticker]).await;
    let browser = Browser::at(&daemon).await;
    let client = &browser.client;
    browser.sign_in(&daemon.token).await;
    browser.wait_view("the service list", "services").await;
    // Every bar the page draws is written down as it appears, so a pull quicker than a
    // WebDriver round trip is still seen.
    client
        .execute(
            r#"window.ashtestPulls = [];
            new MutationObserver(() => {
              for (const el of document.querySelectorAll('[data-role="pull"]')) {
                const bar = el.querySelector('[role="progressbar"]');
                window.ashtestPulls.push({
                  service: el.closest("tr")?.dataset.service,
                  text: el.textContent,
                  value: bar?.getAttribute("aria-valuenow"),
                });
              }
            }).observe(document.body, { subtree: true, childList: true });"#,
            vec![],
        )
        .await
        .expect("watching the page");

    let name = world.declare_image("pulled", &image);
    let state = format!("tr[data-service=\"{name}\"] [data-role=\"state\"]");
    until(&format!("{name} shown running"), CONVERGE, || async {
        (text_of(client, &state).await.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let seen = client
        .execute("return window.ashtestPulls", vec![])
        .await
        .expect("reading what the page drew");
    let bars: Vec<&Value> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter(|bar| bar["service"] == name.as_str())
        .collect();
    assert!(
        !bars.is_empty(),
        "no pull bar was drawn on {name}'s row: {seen}"
    );
    let text = bars.last().unwrap()["text"].as_str().unwrap();
    assert!(
        text.starts_with("pulling") && text.contains("layers"),
        "the bar says what it counts: {text}"
    );
    assert!(
        bars.iter().all(|bar| bar["value"]
            .as_str()
            .and_then(|v| v.parse::<u8>().ok())
            .is_some_and(|v| v <= 100)),
        "{bars:?}"
    );
    let now = text_of(
        client,
        &format!("tr[data-service=\"{name}\"] [data-role=\"pull\"]"),
    )
    .await;
    assert_eq!(now, None, "the bar goes once the service runs");
}
