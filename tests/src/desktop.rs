//! A private desktop for GUI tests: an Xvfb display, a D-Bus session bus and an unlocked
//! gnome-keyring, all children of the test and gone with it; plus WebDriver sessions
//! (tauri-driver for the app window, chromedriver for the browser dashboard).
//!
//! The test brings its own desktop rather than needing one around it, so `cargo test
//! --test gui` works the same from a terminal and from CI. A missing tool is the one
//! reason to skip, and `Missing` says which and how to install it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// A session bus like Debian's, less every service directory: nothing is activated.
const BARE_SESSION_BUS: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// The GUI build of `ashtray` (`ASHTRAY_GUI_BIN`, else the one cargo built next to the tests).
pub fn gui_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ASHTRAY_GUI_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("ashtray");
    assert!(
        bin.exists(),
        "{} is missing: cargo build -p ashtray",
        bin.display()
    );
    bin
}

/// The tray app as a user gets it: the tray host built without GTK/WebKit
/// (`ASHTRAY_TRAY_BIN`, `ashtray`), with the GUI build beside it as `ashtray-window`, which
/// it starts for each window. scripts/test.sh lays this out in `$CARGO_TARGET_DIR/desktop/`.
pub fn tray_bin() -> PathBuf {
    let path = std::env::var_os("ASHTRAY_TRAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "ASHTRAY_TRAY_BIN is not set: build the tray host (cargo build -p ashtray --no-default-features --features tray), \
                 copy it as `ashtray` into a directory with the GUI build as `ashtray-window`, and name it there; or run scripts/test.sh"
            )
        });
    let window = path.with_file_name("ashtray-window");
    assert!(path.is_file(), "{} is missing", path.display());
    assert!(
        window.is_file(),
        "{} is missing: the tray host opens its window with the GUI build beside it",
        window.display()
    );
    path
}

/// The shared libraries of GTK, GDK, WebKit or libsoup that process `pid` has mapped.
pub fn gui_libraries_mapped(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut found: Vec<String> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            [
                "libgtk",
                "libgdk",
                "libwebkit",
                "libjavascriptcore",
                "libsoup",
            ]
            .iter()
            .any(|lib| name.starts_with(lib))
        })
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The window processes (`ashtray window`) of the tray app whose config directory is
/// `config_dir`, found in /proc by their command line and environment.
pub fn window_pids(config_dir: &Path) -> Vec<u32> {
    let wanted = format!("ASHTRAY_CONFIG_DIR={}", config_dir.display());
    let mut pids = vec![];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) != Some(&b"window".as_slice()) {
            continue;
        }
        // A process that ended between the two reads has no environment left: not it.
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// A tool the GUI tests need is not installed.
#[derive(Debug)]
pub struct Missing(pub String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is missing: run scripts/setup-gui-env.sh", self.0)
    }
}

/// Finds `tool` on PATH (or in ~/.cargo/bin, where `cargo install` puts it).
pub fn tool(name: &str) -> Result<PathBuf, Missing> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| Missing(name.to_string()))
}

/// Every tool in `names`, or a failure naming each one that is missing: a GUI test never
/// passes for want of its tools, since scripts/setup-gui-env.sh installs them.
pub fn require_tools<const N: usize>(test: &str, names: [&str; N]) -> [PathBuf; N] {
    let found = names.map(tool);
    let missing: Vec<String> = found
        .iter()
        .filter_map(|found| found.as_ref().err())
        .map(Missing::to_string)
        .collect();
    assert!(
        missing.is_empty(),
        "{test} needs its tools: {}",
        missing.join("; ")
    );
    found.map(|found| found.expect("checked above"))
}

/// A port for a WebDriver server: from this test process's own slice, as every test port
/// is ([`crate::api_client::free_port`]). A kernel-given port let go at once can be
/// taken meanwhile by an ashtray of another test that asks the kernel for a free one.
pub fn free_port() -> u16 {
    crate::api_client::free_port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Desktop {
    // Dropped in reverse: the keyring, then the bus, then the display.
    _keyring: Option<Killed>,
    _bus: Killed,
    _display: Killed,
    pub display: String,
    pub bus: String,
    /// A scratch HOME: the keyring's files and the app's XDG directories live here.
    pub home: tempfile::TempDir,
}

impl Desktop {
    /// A desktop with an unlocked gnome-keyring.
    pub fn start() -> Result<Desktop, Missing> {
        Desktop::start_with(true)
    }

    /// A desktop whose session bus has no Secret Service at all (and activates none).
    pub fn start_without_keyring() -> Result<Desktop, Missing> {
        Desktop::start_with(false)
    }

    fn start_with(with_keyring: bool) -> Result<Desktop, Missing> {
        let xvfb = tool("Xvfb")?;
        let dbus = tool("dbus-daemon")?;
        let keyring = tool("gnome-keyring-daemon")?;
        tool("secret-tool")?;
        tool("dbus-send")?;
        let home = tempfile::tempdir().expect("a scratch HOME");

        let (display, xvfb) = (0..20)
            .find_map(|_| {
                let n = 200 + rand::random::<u32>() % 700;
                if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                    return None;
                }
                let child = Command::new(&xvfb)
                    .args([
                        format!(":{n}").as_str(),
                        "-screen",
                        "0",
                        "1366x900x24",
                        "-nolisten",
                        "tcp",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("starting Xvfb");
                // Killed (and waited for) on every path that does not hand it back.
                let child = Killed(child);
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                        return Some((format!(":{n}"), child));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                None
            })
            .expect("Xvfb did not start on any display");

        // Without a keyring the bus must not start one by D-Bus activation either: it gets
        // a configuration with no service directories.
        let bus_config = home.path().join("session-bus.conf");
        std::fs::write(&bus_config, BARE_SESSION_BUS).expect("writing the bus configuration");
        let mut bus = Command::new(&dbus);
        if with_keyring {
            bus.arg("--session");
        } else {
            bus.arg(format!("--config-file={}", bus_config.display()));
        }
        let mut bus = bus
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting a D-Bus session bus");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .expect("the bus prints its address");
        let bus_address = address.trim().to_string();
        let bus = Killed(bus);

        let desktop = Desktop {
            _keyring: None,
            _bus: bus,
            _display: xvfb,
            display,
            bus: bus_address,
            home,
        };
        if !with_keyring {
            return Ok(desktop);
        }
        let mut daemon = Command::new(&keyring)
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &desktop.bus)
            .env("HOME", desktop.home.path())
            .env("XDG_DATA_HOME", desktop.home.path().join(".local/share"))
            .env_remove("GNOME_KEYRING_CONTROL")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting gnome-keyring-daemon");
        // The password of the new login keyring, which --unlock creates and unlocks.
        daemon
            .stdin
            .take()
            .unwrap()
            .write_all(b"ashtray-test")
            .unwrap();
        let desktop = Desktop {
            _keyring: Some(Killed(daemon)),
            ..desktop
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !desktop.bus_has("org.freedesktop.secrets") {
            assert!(
                Instant::now() < deadline,
                "gnome-keyring did not take org.freedesktop.secrets on the bus"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(desktop)
    }

    fn bus_has(&self, name: &str) -> bool {
        Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{name}"),
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("boolean true"))
    }

    /// The environment of a program on this desktop.
    pub fn env(&self) -> Vec<(String, String)> {
        let home = self.home.path();
        vec![
            ("DISPLAY".into(), self.display.clone()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus.clone()),
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".into(),
                home.join(".local/share").display().to_string(),
            ),
            (
                "XDG_STATE_HOME".into(),
                home.join(".local/state").display().to_string(),
            ),
            (
                "XDG_CACHE_HOME".into(),
                home.join(".cache").display().to_string(),
            ),
            ("XDG_RUNTIME_DIR".into(), home.display().to_string()),
            ("NO_AT_BRIDGE".into(), "1".into()),
        ]
    }

    /// Saves the top-left `width`x`height` of the screen (where the only window is, with no
    /// window manager) to docs/screenshots/. WebKit's WebDriver hangs on its own
    /// screenshot call under Xvfb, so ImageMagick's `import` takes it.
    pub fn screenshot(&self, name: &str, width: u32, height: u32) {
        let path = screenshots_dir().join(name);
        let import = if Path::new("/usr/bin/import").exists() {
            "/usr/bin/import"
        } else {
            "import"
        };
        let taken = Command::new(import)
            .args([
                "-display",
                &self.display,
                "-window",
                "root",
                "-crop",
                &format!("{width}x{height}+0+0"),
                "+repage",
            ])
            .arg(&path)
            .status();
        if !taken.is_ok_and(|s| s.success()) {
            eprintln!("no screenshot {name}: ImageMagick's import failed");
        }
    }

    /// Whether a top-level window titled `title` is mapped on this display.
    pub fn shows_window(&self, title: &str) -> bool {
        Command::new("xwininfo")
            .args(["-display", &self.display, "-root", "-tree"])
            .output()
            .is_ok_and(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|l| l.contains(&format!("\"{title}\": (")))
            })
    }

    /// `secret-tool lookup ATTR VALUE...` on this desktop's keyring.
    pub fn secret_lookup(&self, attributes: &[&str]) -> Option<String> {
        let out = Command::new("secret-tool")
            .arg("lookup")
            .args(attributes)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// A WebDriver server (tauri-driver or chromedriver) on a free port. It runs in a
/// process group of its own, which is killed whole when dropped: the native driver and
/// the app or browser it started go with it.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// How long one WebDriver session request may take (it launches the app or browser).
const SESSION_LIMIT: Duration = Duration::from_secs(60);

impl Driver {
    pub fn spawn(mut command: Command, port: u16) -> Driver {
        use std::os::unix::process::CommandExt;
        let child = command
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the WebDriver server");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the WebDriver server did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    pub async fn session(&self, capabilities: serde_json::Value) -> Client {
        let capabilities = capabilities
            .as_object()
            .cloned()
            .expect("capabilities are an object");
        let mut last = None;
        // A driver that listens may still be starting its browser: try a few times.
        for _ in 0..5 {
            // Plain HTTP to a local driver: no TLS stack needed.
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            // Bounded: a binary that never opens a window (say, the headless build)
            // would otherwise keep the session request waiting for ever.
            let mut builder = ClientBuilder::new(connector);
            builder.capabilities(capabilities.clone());
            match tokio::time::timeout(SESSION_LIMIT, builder.connect(&self.url)).await {
                Ok(Ok(client)) => return client,
                Ok(Err(error)) => last = Some(format!("{error:?}")),
                Err(_) => panic!(
                    "no WebDriver session at {} within {} s: does the app open a window? (ASHTRAY_GUI_BIN must be the GUI build)",
                    self.url,
                    SESSION_LIMIT.as_secs()
                ),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("no WebDriver session at {}: {:?}", self.url, last);
    }
}

/// Polls the page until `check` gives `Some`, or fails the test with `what`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    // Bounded as a whole too: a page too busy to answer would hang a single check.
    let bound = timeout + Duration::from_secs(5);
    tokio::time::timeout(bound, crate::harness::eventually(timeout, check))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("waited {} s for {what}", timeout.as_secs()))
}

/// Clicks `css`, finding it again if the live list redrew it in between.
pub async fn click(client: &Client, css: &str) {
    let mut last = None;
    for _ in 0..5 {
        match client.find(Locator::Css(css)).await {
            Ok(element) => match element.click().await {
                Ok(()) => return,
                Err(error) => last = Some(error.to_string()),
            },
            Err(error) => last = Some(error.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot click {css}: {last:?}");
}

/// Replaces the text of the field `css` with `text`, as typed.
pub async fn type_into(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Text of the first element matching `css`, if there is one.
pub async fn text_of(client: &Client, css: &str) -> Option<String> {
    client.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

pub async fn attr_of(client: &Client, css: &str, attribute: &str) -> Option<String> {
    client
        .find(Locator::Css(css))
        .await
        .ok()?
        .attr(attribute)
        .await
        .ok()?
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&dir).expect("docs/screenshots");
    dir
}

/// Saves a WebDriver screenshot of the page (Chromium) to docs/screenshots/.
pub async fn screenshot(client: &Client, name: &str) {
    match client.screenshot().await {
        Ok(png) => {
            std::fs::write(screenshots_dir().join(name), png).expect("writing the screenshot")
        }
        Err(error) => eprintln!("no screenshot {name}: {error}"),
    }
}
