//! The always-on part of the tray app: the engine and the API (the same as `--daemon`),
//! the tray icon and menu, desktop notifications and the keyring, in a process that never
//! initialises GTK or WebKit. The window is a process of its own (`ashtray window`),
//! started from the tray or by a second launch and gone when closed; it reaches this one
//! through the control API (like the browser dashboard) and the local socket (`local`).
//!
//! One tray host per config directory: a second launch asks the first to open its window
//! and exits, so no second engine ever starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use super::local::{self, Answer, Request};
use super::notify::Notifier;
use super::session::Session;
use super::tray::Action;
use crate::cli::{ApiArgs, HostArgs, LogArgs};
use crate::host::ApiOptions;

/// How long Quit waits for the host to stop before the process ends anyway.
const QUIT_LIMIT: Duration = Duration::from_secs(5);
/// How long a second launch waits for the running tray host's answer.
const ASK_LIMIT: Duration = Duration::from_secs(10);

/// How the tray host was launched.
pub struct Launch {
    /// Start in the tray, the window closed (start at login).
    pub hidden: bool,
    /// Started by a window that is already up: open none, even on a first run.
    pub for_window: bool,
}

pub fn run(host: HostArgs, api: ApiArgs, logging: LogArgs, launch: Launch) -> anyhow::Result<()> {
    let config_dir_arg = api.config_dir.clone();
    let api = ApiOptions::from_args(&api)?;
    let config_dir = api.config_dir.path().to_path_buf();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ashtray")
        .build()
        .context("cannot start the async runtime")?;
    let _enter = runtime.enter();
    let claim = local::claim(&config_dir).with_context(|| {
        format!(
            "cannot take the tray host's socket in {}",
            config_dir.display()
        )
    })?;
    let Some(claim) = claim else {
        // A second launch: the running tray host shows its window; no second engine.
        if launch.hidden || launch.for_window {
            return Ok(());
        }
        runtime
            .block_on(local::ask(
                &config_dir,
                &Request::Open { settings: false },
                ASK_LIMIT,
            ))
            .context("ashtray already runs here but its tray host does not answer")?;
        eprintln!("ashtray already runs: its window opens");
        return Ok(());
    };
    let _log = super::hostlog::init(&logging)?;
    let windows = Arc::new(Windows {
        exe: window_binary()?,
        config_dir: config_dir_arg,
    });
    let session = Arc::new(Session::new(host, api));
    runtime.block_on(serve(session, windows, claim, launch))
}

/// The binary that opens windows: `ASHTRAY_WINDOW_BIN`; else this one when it has the
/// window built in (feature `gui`); else `ashtray-window` beside it. The tray host built
/// without `gui` links no GTK/WebKit at all, which is what keeps it small: a binary that
/// links them pays for their relocations at exec even if it never calls them
/// (BENCHMARKS.md).
pub fn window_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ASHTRAY_WINDOW_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("cannot tell where the ashtray binary is")?;
    if cfg!(feature = "gui") {
        Ok(exe)
    } else {
        Ok(exe.with_file_name("ashtray-window"))
    }
}

/// Starts window processes; each one lives as long as its window.
struct Windows {
    exe: PathBuf,
    config_dir: Option<PathBuf>,
}

impl Windows {
    fn open(&self, settings: bool) {
        let mut command = tokio::process::Command::new(&self.exe);
        command.arg("window");
        if settings {
            command.arg("--settings");
        }
        if let Some(dir) = &self.config_dir {
            command.arg("--config-dir").arg(dir);
        }
        command.kill_on_drop(false);
        match command.spawn() {
            Ok(mut child) => {
                let pid = child.id().unwrap_or_default();
                tracing::info!(pid, "the window opens");
                tokio::spawn(async move {
                    match child.wait().await {
                        Ok(status) if status.success() => {
                            tracing::info!(pid, "the window closed")
                        }
                        Ok(status) => tracing::warn!(
                            pid,
                            "the window process ended ({status}); the engine keeps running, the tray opens a new window"
                        ),
                        Err(error) => tracing::warn!(pid, "the window process: {error}"),
                    }
                });
            }
            Err(error) => tracing::error!(
                "cannot open the window ({} window): {error}",
                self.exe.display()
            ),
        }
    }
}

async fn serve(
    session: Arc<Session>,
    windows: Arc<Windows>,
    claim: local::Claim,
    launch: Launch,
) -> anyhow::Result<()> {
    let (requests, mut incoming) = mpsc::channel(16);
    tokio::spawn(local::serve(claim.listener, requests));
    let (actions, mut chosen) = mpsc::unbounded_channel();
    if !launch.hidden && !launch.for_window {
        windows.open(false);
    }
    // The tray comes up beside the rest: the D-Bus round trips never hold the window.
    let (tray_tx, tray) = watch::channel(None);
    tokio::spawn(follow_host(session.clone(), actions, tray_tx));

    // Whether the first start after launch has been tried: the window's first question
    // waits for it, so that it never shows Settings for a host that is still starting.
    let (settled_tx, settled) = watch::channel(false);
    {
        let (session, windows) = (session.clone(), windows.clone());
        tokio::spawn(async move {
            match session.start().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!("not configured yet: the window opens on Settings");
                    // Even when started hidden: there is nothing to run without Settings.
                    if !launch.for_window {
                        windows.open(true);
                    }
                }
                Err(error) => tracing::error!("the service host did not start: {error:#}"),
            }
            let _ = settled_tx.send(true);
        });
    }

    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            Some((request, reply)) = incoming.recv() => {
                if request == Request::Quit {
                    tracing::info!("quit from the window");
                    let _ = reply.send(Answer::default());
                    break;
                }
                let (session, windows, mut settled) = (session.clone(), windows.clone(), settled.clone());
                tokio::spawn(async move {
                    let answer = handle(request, &session, &windows, &mut settled).await;
                    let _ = reply.send(answer);
                });
            }
            Some(action) = chosen.recv() => {
                if action == Action::Quit {
                    tracing::info!("quit from the tray");
                    break;
                }
                on_action(action, &session, &windows);
            }
            _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: stopping"); break; }
            _ = terminate.recv() => { tracing::info!("SIGTERM: stopping"); break; }
        }
    }
    let tray = tray.borrow().clone();
    if let Some(tray) = tray {
        tray.shutdown().await;
    }
    if tokio::time::timeout(QUIT_LIMIT, session.stop())
        .await
        .is_err()
    {
        tracing::warn!(
            "the service host did not stop within {} s; quitting anyway",
            QUIT_LIMIT.as_secs()
        );
    }
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).context("cannot listen for signals")
}

async fn handle(
    request: Request,
    session: &Session,
    windows: &Windows,
    settled: &mut watch::Receiver<bool>,
) -> Answer {
    match request {
        Request::Open { settings } => {
            tracing::info!("ashtray was launched again: showing the window");
            windows.open(settings);
            Answer::default()
        }
        Request::Status => {
            let _ = settled.wait_for(|done| *done).await;
            Answer {
                connection: session.connection(),
                host_error: session.last_error(),
                started: session.connection().is_some(),
            }
        }
        // Taken by the loop itself, which ends.
        Request::Quit => Answer::default(),
        Request::Reload => {
            tracing::info!("settings saved; starting the service host");
            let started = session.start().await;
            Answer {
                connection: session.connection(),
                host_error: started.as_ref().err().map(|e| format!("{e:#}")),
                started: matches!(started, Ok(true)),
            }
        }
    }
}

fn on_action(action: Action, session: &Session, windows: &Windows) {
    match action {
        Action::Open => windows.open(false),
        Action::Settings => windows.open(true),
        Action::Quit => {}
        Action::Pause(paused) => {
            if let Some(handle) = session.current_engine() {
                tokio::spawn(async move {
                    if let Err(error) = handle.pause_all(paused).await {
                        tracing::warn!("pause all: {error}");
                    }
                });
            }
        }
        Action::Service { action, name } => {
            let Some(handle) = session.current_engine() else {
                return;
            };
            tokio::spawn(async move {
                let result = match action {
                    "start" => handle.start_service(&name).await,
                    "stop" => handle.stop_service(&name).await,
                    "restart" => handle.restart_service(&name).await,
                    _ => return,
                };
                match result {
                    Ok(()) => tracing::info!("{action} {name} (from the tray)"),
                    Err(error) => tracing::warn!("{action} {name}: {error}"),
                }
            });
        }
    }
}

/// Puts up the tray, then keeps it and the notifications in step with whichever engine
/// runs now.
async fn follow_host(
    session: Arc<Session>,
    actions: mpsc::UnboundedSender<Action>,
    shared: watch::Sender<Option<Arc<super::sni::Tray>>>,
) {
    let tray = match super::sni::Tray::spawn(actions).await {
        Ok(tray) => Some(Arc::new(tray)),
        Err(error) => {
            tracing::warn!(
                "no tray icon ({error}): the window stays the way in; launching ashtray again opens it"
            );
            None
        }
    };
    shared.send_replace(tray.clone());
    let mut engines = session.engine();
    let mut notifier = Notifier::default();
    loop {
        let engine = engines.borrow_and_update().clone();
        let Some(handle) = engine else {
            if let Some(tray) = &tray {
                tray.show(None).await;
            }
            if engines.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut states = handle.watch();
        loop {
            let state = states.borrow_and_update().clone();
            if let Some(tray) = &tray {
                tray.show(Some(&state)).await;
            }
            for note in notifier.observe(&state, Instant::now()) {
                tracing::info!("notification: {}: {}", note.title, note.body);
                super::desktop_notify::show(note);
            }
            tokio::select! {
                changed = states.changed() => if changed.is_err() { break },
                _ = engines.changed() => break,
                // "Unreachable for a minute" must be told even if nothing else changes.
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
        }
    }
}
