//! The tray app: one process with the engine and the service API inside (the same as
//! `--daemon`), a tray icon, and a window whose page (`ui/`) talks only to the service API.
//!
//! This module wires Tauri, its official plugins and the session together and owns the
//! app's lifetime; it never reaches into the engine beyond its Handle. Plugins:
//! single-instance (a second launch focuses the window instead of starting a second
//! engine), notification, autostart (start at login), log (a rotated file), window-state,
//! opener (Settings opens the log).

mod api_key;
mod applog;
mod commands;
mod notify;
mod prefs;
mod session;
mod tray;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tauri::{AppHandle, Emitter, Manager, RunEvent};
use tauri_plugin_notification::NotificationExt as _;
use tauri_plugin_window_state::StateFlags;

use self::notify::Notifier;
use self::session::Session;
use self::tray::Tray;

/// How long Quit waits for the host to stop before the process ends anyway.
const QUIT_LIMIT: Duration = Duration::from_secs(5);

pub fn run(
    host: crate::cli::HostArgs,
    api: crate::cli::ApiArgs,
    logging: crate::cli::LogArgs,
    hidden: bool,
) -> anyhow::Result<()> {
    let api = crate::host::ApiOptions::from_args(&api)?;
    let log_dir = applog::dir()?;
    // One runtime for the engine, the API and Tauri's async commands. Tauri's event loop
    // never returns on Linux (it exits the process), so the runtime lives as long.
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ashtray")
            .build()
            .context("cannot start the async runtime")?,
    ));
    tauri::async_runtime::set(runtime.handle().clone());

    let session = Arc::new(Session::new(host, api));
    let app = tauri::Builder::default()
        // First: a second launch must hand over before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("ashtray was launched again: showing the window");
            tray::open_window(app);
        }))
        .plugin(applog::plugin(log_dir, &logging))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ))
        .plugin(
            tauri_plugin_window_state::Builder::default()
                // Whether the window shows is the app's decision, not the last session's.
                .with_state_flags(StateFlags::all() & !StateFlags::VISIBLE)
                .build(),
        )
        .plugin(tauri_plugin_opener::init())
        .manage(session.clone())
        .invoke_handler(tauri::generate_handler![
            commands::connection,
            commands::load_settings,
            commands::save_settings,
            commands::test_connection,
            commands::open_log,
            commands::quit,
            commands::close_window,
        ])
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .setup(move |app| {
            setup(app.handle(), session.clone(), hidden);
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("cannot start the window")?;

    app.run(|app, event| match event {
        // The last window hidden is not the end: only Quit is.
        RunEvent::ExitRequested {
            api, code: None, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            let session = app.state::<Arc<Session>>().inner().clone();
            tauri::async_runtime::block_on(async move {
                if tokio::time::timeout(QUIT_LIMIT, session.stop())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "the service host did not stop within {} s; quitting anyway",
                        QUIT_LIMIT.as_secs()
                    );
                }
            });
        }
        _ => {}
    });
    Ok(())
}

fn setup(app: &AppHandle, session: Arc<Session>, hidden: bool) {
    if !hidden {
        tray::open_window(app);
    }
    let tray = match Tray::build(app) {
        Ok(tray) => Some(tray),
        Err(why) => {
            tracing::warn!(
                "no tray icon: {why}. The window stays the way in: closing it hides it, launching ashtray again shows it"
            );
            None
        }
    };
    let tray = Arc::new(Mutex::new(tray));
    tauri::async_runtime::spawn(follow_host(app.clone(), session.clone(), tray));
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match session.start().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!("not configured yet: the window opens on Settings");
                // Even when started hidden: there is nothing to run without Settings.
                tray::open_window(&app);
            }
            Err(error) => tracing::error!("the service host did not start: {error:#}"),
        }
        let _ = app.emit(commands::HOST_CHANGED, session.connection());
    });
}

/// Keeps the tray and the notifications in step with whichever engine runs now.
async fn follow_host(app: AppHandle, session: Arc<Session>, tray: Arc<Mutex<Option<Tray>>>) {
    let mut engines = session.engine();
    let mut notifier = Notifier::default();
    let show = |state: Option<&ashtray_engine::host_state::HostState>| {
        if let Some(tray) = tray.lock().expect("never poisoned").as_mut() {
            if let Err(error) = tray.show(&app, state) {
                tracing::debug!("cannot update the tray: {error}");
            }
        }
    };
    loop {
        let engine = engines.borrow_and_update().clone();
        let Some(handle) = engine else {
            show(None);
            if engines.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut states = handle.watch();
        loop {
            let state = states.borrow_and_update().clone();
            show(Some(&state));
            for note in notifier.observe(&state, Instant::now()) {
                tracing::info!("notification: {}: {}", note.title, note.body);
                if let Err(error) = app
                    .notification()
                    .builder()
                    .title(&note.title)
                    .body(&note.body)
                    .show()
                {
                    tracing::debug!("no desktop notification: {error}");
                }
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

fn on_menu(app: &AppHandle, id: &str) {
    let session = app.state::<Arc<Session>>().inner().clone();
    match id {
        tray::OPEN => tray::open_window(app),
        tray::SETTINGS => {
            tray::open_window(app);
            let _ = app.emit(commands::SHOW_SETTINGS, ());
        }
        tray::QUIT => {
            tracing::info!("quit from the tray");
            app.exit(0);
        }
        tray::PAUSE | tray::RESUME => {
            let paused = id == tray::PAUSE;
            if let Some(handle) = session.current_engine() {
                tauri::async_runtime::spawn(async move {
                    if let Err(error) = handle.pause_all(paused).await {
                        tracing::warn!("pause all: {error}");
                    }
                });
            }
        }
        other => {
            let Some((action, name)) = tray::service_action(other) else {
                return;
            };
            let (action, name) = (action.to_string(), name.to_string());
            let Some(handle) = session.current_engine() else {
                return;
            };
            tauri::async_runtime::spawn(async move {
                let result = match action.as_str() {
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
