//! The tray host as a desktop sees it, on a private Xvfb display and D-Bus session: a
//! desktop with no tray host still gets the window (and the log says why there is no
//! icon); killing the window leaves the host running; a tray host (StatusNotifierWatcher)
//! that starts later gets the item, and clicking it (`Activate` over D-Bus) opens the
//! window again; Quit in its menu takes a second click, and that one ends the host. The
//! watcher is the test's own, a few lines of zbus.
//!
//! The app is laid out as the desktop package installs it: the tray host (`ashtray`,
//! built without GTK/WebKit) and the GUI build beside it as `ashtray-window`, which the
//! host starts for each window; the host never maps a GTK or WebKit library.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ashtray_tests::desktop::{gui_libraries_mapped, require_tools, tray_bin, window_pids, Desktop};
use ashtray_tests::harness::eventually;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};

const SEEN: Duration = Duration::from_secs(30);

/// A tray host's side of StatusNotifierItem: it records who registers.
#[derive(Clone, Default)]
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) {
        // An item may register by object path only; then its bus name is the sender.
        let service = match (service.starts_with('/'), header.sender()) {
            (true, Some(sender)) => sender.to_string(),
            _ => service.to_string(),
        };
        self.items.lock().unwrap().push(service.clone());
        let _ = Self::status_notifier_item_registered(&emitter, &service).await;
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;
}

struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill_windows(config: &Path) {
    for pid in window_pids(config) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tray_host_the_window_opens_and_a_later_tray_host_gets_a_working_icon() {
    require_tools("the tray test", ["xwininfo"]);
    let desktop = Desktop::start().unwrap_or_else(|missing| panic!("the tray test: {missing}"));
    let root = tempfile::tempdir().unwrap();
    let (config, logs) = (root.path().join("config"), root.path().join("logs"));
    let stderr = std::fs::File::create(root.path().join("host.stderr")).unwrap();
    let mut command = Command::new(tray_bin());
    command
        .envs(desktop.env())
        .env("ASHTRAY_CONFIG_DIR", &config)
        .env("ASHTRAY_LOG_DIR", &logs)
        .env("ASHTRAY_STATE_DIR", root.path().join("state"))
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("RUST_LOG", "info")
        .env_remove("AYON_SERVER_URL")
        .env_remove("AYON_API_KEY")
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(root.path())
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut host = Host(command.spawn().expect("starting the tray host"));
    let _cleanup = scopeguard(config.clone());

    // No watcher on this bus: the window opens all the same (on Settings: a first run),
    // and the log says why there is no icon.
    let first = eventually(SEEN, || async {
        let pids = window_pids(&config);
        (pids.len() == 1 && desktop.shows_window("ashtray")).then(|| pids[0])
    })
    .await
    .expect("the window opens on a desktop without a tray host");
    // The window is the GUI build beside the host; the host itself links no GTK/WebKit.
    let window_exe = std::fs::read_link(format!("/proc/{first}/exe")).unwrap();
    assert_eq!(
        window_exe.file_name().and_then(|n| n.to_str()),
        Some("ashtray-window"),
        "the window runs {}",
        window_exe.display()
    );
    let mapped = gui_libraries_mapped(host.0.id());
    assert!(
        mapped.is_empty(),
        "the always-on tray host maps GUI libraries: {mapped:?}"
    );
    let log = || std::fs::read_to_string(root.path().join("host.stderr")).unwrap_or_default();
    let told = eventually(SEEN, || async {
        log().contains("no tray host on this desktop").then_some(())
    })
    .await;
    assert!(told.is_some(), "the log says there is no tray: {}", log());

    // Killed, the window takes nothing with it.
    kill_windows(&config);
    let gone = eventually(SEEN, || async {
        (window_pids(&config).is_empty() && !desktop.shows_window("ashtray")).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the killed window is gone");
    assert!(
        host.0.try_wait().unwrap().is_none(),
        "the tray host survives its window: {}",
        log()
    );

    // A tray host appears: the item registers with it.
    let watcher = Watcher::default();
    let items = watcher.items.clone();
    let bus = zbus::connection::Builder::address(desktop.bus.as_str())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", watcher)
        .unwrap()
        .build()
        .await
        .expect("the test's watcher on the session bus");
    let item = eventually(SEEN, || async { items.lock().unwrap().first().cloned() })
        .await
        .unwrap_or_else(|| panic!("the item never registered with the late watcher: {}", log()));

    // A click on the icon: Activate on the item opens the window.
    bus.call_method(
        Some(item.as_str()),
        "/StatusNotifierItem",
        Some("org.kde.StatusNotifierItem"),
        "Activate",
        &(0i32, 0i32),
    )
    .await
    .expect("the item answers Activate");
    let second = eventually(SEEN, || async {
        let pids = window_pids(&config);
        (pids.len() == 1 && desktop.shows_window("ashtray")).then(|| pids[0])
    })
    .await
    .expect("Activate on the tray item opens the window");
    assert_ne!(first, second, "a new window process");
    assert!(
        host.0.try_wait().unwrap().is_none(),
        "the tray host still runs"
    );

    // Quit in the menu asks first: "Quit ashtray…" opens a submenu that says what quitting
    // leaves behind, and its "Quit now", clicked over D-Bus as a panel clicks it, ends
    // the host.
    let reply = bus
        .call_method(
            Some(item.as_str()),
            "/MenuBar",
            Some("com.canonical.dbusmenu"),
            "GetGroupProperties",
            &(Vec::<i32>::new(), vec!["label"]),
        )
        .await
        .expect("the item's menu answers");
    let labels: Vec<(i32, HashMap<String, OwnedValue>)> = reply
        .body()
        .deserialize()
        .expect("the menu's ids and labels");
    let id_of = |wanted: &str| {
        labels
            .iter()
            .find(|(_, properties)| {
                properties
                    .get("label")
                    .and_then(|label| <&str>::try_from(label).ok())
                    == Some(wanted)
            })
            .map(|(id, _)| *id)
    };
    assert!(
        id_of("Quit ashtray…").is_some()
            && id_of("Its services keep running, with nothing watching them").is_some(),
        "the menu: {labels:?}"
    );
    let quit = id_of("Quit now").unwrap_or_else(|| panic!("no Quit now in {labels:?}"));
    let clicked = bus
        .call_method(
            Some(item.as_str()),
            "/MenuBar",
            Some("com.canonical.dbusmenu"),
            "Event",
            &(quit, "clicked", Value::from(0i32), 0u32),
        )
        .await;
    // The host may be gone before its answer to the click leaves: a panel ignores that.
    match &clicked {
        Ok(_) => {}
        Err(zbus::Error::MethodError(name, _, _))
            if name.as_str() == "org.freedesktop.DBus.Error.NoReply" => {}
        Err(error) => panic!("the menu refused the click: {error}"),
    }
    let deadline = std::time::Instant::now() + SEEN;
    let ended = loop {
        if let Some(status) = host.0.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        ended.is_some_and(|status| status.success()),
        "Quit now ends the tray host: {ended:?}\n{}",
        log()
    );
}

/// Kills the window processes of `config` when the test ends, however it ends.
fn scopeguard(config: std::path::PathBuf) -> impl Drop {
    struct Guard(std::path::PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            kill_windows(&self.0);
        }
    }
    Guard(config)
}
