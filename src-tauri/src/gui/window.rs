//! The window process (`ashtray window`): a Tauri window whose page (`ui/`) talks to the
//! running tray host through the control API like the browser dashboard, and to its
//! Settings through the commands in `commands` (the keyring and the settings file are
//! read and written here; the host only restarts from them). Closing the window ends the
//! process; the engine lives on in the tray host, which starts first if none runs.
//!
//! Plugins: single-instance (a second window launch focuses this one), log (a rotated
//! file), window-state, opener (Settings opens the log). Start at login is `login`'s.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_window_state::StateFlags;

use super::commands;
use super::local::{self, Request};
use super::session::Session;

/// How long the window waits for a tray host it started to answer.
const HOST_START_LIMIT: Duration = Duration::from_secs(15);

/// What the window's commands need: the settings' layering and where the tray host is.
pub struct WindowState {
    pub session: Session,
    pub config_dir: std::path::PathBuf,
}

pub fn run(
    host: crate::cli::HostArgs,
    api: crate::cli::ApiArgs,
    logging: crate::cli::LogArgs,
    settings: bool,
) -> anyhow::Result<()> {
    // WebKitGTK's accelerated compositing costs its web process about 50 MB here
    // (BENCHMARKS.md: MiniBrowser's 105 → 52 MB) and buys this page nothing: no WebGL, no
    // 3D transforms, no video. Set before any thread starts (setting the environment is
    // not thread-safe); a value the user set wins.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    let config_dir_arg = api.config_dir.clone();
    let api = crate::host::ApiOptions::from_args(&api)?;
    let log_dir = super::applog::dir()?;
    let config_dir = api.config_dir.path().to_path_buf();
    // Small: the page does the work, the commands only read files and ask the host.
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("ashtray-window")
            .build()
            .context("cannot start the async runtime")?,
    ));
    tauri::async_runtime::set(runtime.handle().clone());
    runtime.block_on(ensure_host(&config_dir, config_dir_arg.as_deref()))?;

    let state = Arc::new(WindowState {
        session: Session::new(host, api),
        config_dir,
    });
    let app = tauri::Builder::default()
        // First: a second window launch must hand over before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            tracing::info!("the window was asked for again: showing it");
            show(app);
            if args.iter().any(|a| a == "--settings") {
                let _ = app.emit(commands::SHOW_SETTINGS, ());
            }
        }))
        .plugin(super::applog::plugin(log_dir, &logging))
        .plugin(
            tauri_plugin_window_state::Builder::default()
                // Whether the window shows is the app's decision, not the last session's.
                .with_state_flags(StateFlags::all() & !StateFlags::VISIBLE)
                .build(),
        )
        .plugin(tauri_plugin_opener::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::connection,
            commands::load_settings,
            commands::save_settings,
            commands::test_connection,
            commands::open_log,
            commands::quit,
            commands::close_window,
        ])
        .setup(move |app| {
            show(app.handle());
            if settings {
                // The page asks for its first view itself; this only matters once it
                // listens, as for a window that was already open.
                let app = app.handle().clone();
                tauri::async_runtime::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let _ = app.emit(commands::SHOW_SETTINGS, ());
                });
            }
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("cannot start the window")?;
    // Closing the window ends this process (the default): the host stays in the tray.
    app.run(|_, _| {});
    Ok(())
}

/// Makes sure a tray host runs for `config_dir`: starts one (in the tray, no window of its
/// own) when none answers, and waits until it does.
async fn ensure_host(config_dir: &Path, config_dir_arg: Option<&Path>) -> anyhow::Result<()> {
    let quick = Duration::from_secs(2);
    if local::ask(config_dir, &Request::Status, quick)
        .await
        .is_ok()
    {
        return Ok(());
    }
    let exe = host_binary()?;
    let mut command = std::process::Command::new(&exe);
    command.arg("--for-window");
    if let Some(dir) = config_dir_arg {
        command.arg("--config-dir").arg(dir);
    }
    let mut child = command
        .stdin(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start the tray host ({})", exe.display()))?;
    tracing::info!(pid = child.id(), "no tray host ran: started one");
    let deadline = Instant::now() + HOST_START_LIMIT;
    loop {
        // Status waits for the first start; only the socket matters here.
        if tokio::net::UnixStream::connect(local::socket_path(config_dir))
            .await
            .is_ok()
        {
            // Reaped in the background: it outlives this window.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!("the tray host ended at once ({status}): see its log");
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the tray host did not open its socket in {} within {} s",
                config_dir.display(),
                HOST_START_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The tray host's binary: `ashtray` beside this one when this is `ashtray-window` (the
/// GUI build installed next to a tray host built without GTK), else this one.
pub(super) fn host_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where the ashtray binary is")?;
    let sibling = exe.with_file_name("ashtray");
    if exe.file_name().is_some_and(|n| n == "ashtray-window") && sibling.exists() {
        Ok(sibling)
    } else {
        Ok(exe)
    }
}

/// Brings the main window up, making it when there is none yet.
fn show(app: &AppHandle) {
    let window = match app.get_webview_window("main") {
        Some(window) => window,
        None => {
            let Some(config) = app.config().app.windows.iter().find(|w| w.label == "main") else {
                return;
            };
            match tauri::WebviewWindowBuilder::from_config(app, config)
                .map(|builder| builder.on_download(save_download))
                .and_then(|builder| builder.build())
            {
                Ok(window) => window,
                Err(error) => {
                    tracing::warn!("cannot open the window: {error}");
                    return;
                }
            }
        }
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}

/// What the page hears once a download ended: where the file is, or that it failed.
const DOWNLOAD_FINISHED: &str = "download-finished";

#[derive(Clone, serde::Serialize)]
struct DownloadFinished {
    path: Option<String>,
    success: bool,
}

/// The page's downloads (the log pane's Download) go to the user's download folder, under
/// the name the page gave, never over another file; the page is told where it landed.
fn save_download(webview: tauri::Webview, event: tauri::webview::DownloadEvent<'_>) -> bool {
    use tauri::webview::DownloadEvent;
    match event {
        DownloadEvent::Requested { url, destination } => {
            // Refused downloads are said too: the page has already toasted "Saved …".
            let refuse = |path: Option<String>| {
                let _ = webview.emit(
                    DOWNLOAD_FINISHED,
                    DownloadFinished {
                        path,
                        success: false,
                    },
                );
                false
            };
            let Some(folder) = super::downloads::folder() else {
                tracing::warn!("cannot save a download: this user has no home folder");
                return refuse(None);
            };
            if let Err(error) = std::fs::create_dir_all(&folder) {
                tracing::warn!("cannot save a download in {}: {error}", folder.display());
                return refuse(Some(folder.display().to_string()));
            }
            // wry's suggestion ends in the page's name for the file; the folder is ours.
            let name = destination
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            *destination = super::downloads::destination(&folder, &name, Path::exists);
            tracing::info!(
                "saving a download from {} as {}",
                url.scheme(),
                destination.display()
            );
            true
        }
        DownloadEvent::Finished { path, success, .. } => {
            let path = path.map(|p| {
                let shown = p.display().to_string();
                shown
                    .strip_prefix("file://")
                    .map(str::to_string)
                    .unwrap_or(shown)
            });
            if success {
                tracing::info!("download saved: {}", path.as_deref().unwrap_or("?"));
            } else {
                tracing::warn!("a download failed");
            }
            let _ = webview.emit(DOWNLOAD_FINISHED, DownloadFinished { path, success });
            true
        }
        _ => true,
    }
}
