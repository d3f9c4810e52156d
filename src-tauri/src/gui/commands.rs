//! The window's Tauri commands: thin adapters between Settings, the keyring, the settings
//! file and the tray host (which restarts from them, over the local socket). The service
//! list, logs and actions do not come through here but through the control API, like in
//! a browser.

use std::sync::Arc;
use std::time::Duration;

use ashtray_engine::ayon::{AyonClient, AyonError};
use ashtray_engine::Secret;
use serde::Serialize;
use tauri::{AppHandle, Emitter, State};
use tauri_plugin_opener::OpenerExt as _;

use super::api_key;
use super::local::{self, Answer, Request};
use super::prefs::Prefs;
use super::session::Connection;
use super::window::WindowState;

/// How long a question to the tray host may take; a reload starts the engine.
const ASK_LIMIT: Duration = Duration::from_secs(10);
const RELOAD_LIMIT: Duration = Duration::from_secs(60);

async fn ask_host(state: &WindowState, request: Request, limit: Duration) -> Result<Answer> {
    local::ask(&state.config_dir, &request, limit)
        .await
        .map_err(|e| {
            CommandError::new(format!(
                "ashtray's tray host does not answer ({e}): start ashtray again"
            ))
        })
}

/// What a command failed with, as the page shows it: one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(String);

impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl CommandError {
    fn new(message: impl Into<String>) -> CommandError {
        CommandError(message.into())
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        CommandError(format!("{error:#}"))
    }
}

type Result<T> = std::result::Result<T, CommandError>;

/// Tells the window that the host (re)started, so it reconnects to the new API.
pub const HOST_CHANGED: &str = "host-changed";
pub const SHOW_SETTINGS: &str = "show-settings";

#[tauri::command]
pub async fn connection(state: State<'_, Arc<WindowState>>) -> Result<Option<Connection>> {
    Ok(ask_host(&state, Request::Status, ASK_LIMIT)
        .await?
        .connection)
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    stored: bool,
    from_env: bool,
}

#[derive(Debug, Serialize)]
pub struct KeyringView {
    available: bool,
    problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SettingsView {
    server_url: Option<String>,
    hostname: Option<String>,
    default_hostname: String,
    poll_interval_secs: f64,
    engine_socket: Option<String>,
    default_engine_socket: String,
    services_file: Option<String>,
    start_at_login: bool,
    key: KeyView,
    keyring: KeyringView,
    log_file: String,
    configured: bool,
    host_error: Option<String>,
}

#[tauri::command]
pub async fn load_settings(state: State<'_, Arc<WindowState>>) -> Result<SettingsView> {
    let host_error = match ask_host(&state, Request::Status, ASK_LIMIT).await {
        Ok(answer) => answer.host_error,
        Err(error) => Some(error.to_string()),
    };
    let session = &state.session;
    let prefs = Prefs::load(&session.config_dir).map_err(|e| CommandError::new(e.to_string()))?;
    let overrides = session.overrides();
    let keyring = api_key::status().await;
    let start_at_login = super::login::is_enabled().unwrap_or(prefs.start_at_login);
    Ok(SettingsView {
        server_url: overrides.server_url.clone().or(prefs.server_url.clone()),
        hostname: overrides.hostname.clone().or(prefs.hostname.clone()),
        default_hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        poll_interval_secs: prefs.poll_interval_secs.unwrap_or(2.0),
        engine_socket: overrides
            .docker_host
            .clone()
            .or(prefs.engine_socket.clone()),
        default_engine_socket: ashtray_engine::runtime::Endpoint::resolve(None, false).uri,
        services_file: overrides
            .services
            .as_ref()
            .map(|p| p.display().to_string())
            .or(prefs.services_file.clone()),
        start_at_login,
        key: KeyView {
            stored: keyring.stored,
            from_env: overrides.api_key.is_some(),
        },
        keyring: KeyringView {
            available: keyring.available,
            problem: keyring.problem,
        },
        log_file: super::applog::dir()
            .map(|d| super::applog::file(&d).display().to_string())
            .unwrap_or_default(),
        configured: session.configured(&prefs).await,
        host_error,
    })
}

#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    state: State<'_, Arc<WindowState>>,
    settings: Prefs,
    api_key: Option<String>,
) -> Result<()> {
    let session = &state.session;
    let mut prefs = settings;
    prefs.server_url = prefs
        .server_url
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty());
    prefs.validate().map_err(CommandError)?;
    let typed_key = api_key
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty());
    match typed_key {
        Some(key) => api_key::store(Secret::new(key)).await.map_err(|e| {
            CommandError::new(format!(
                "The API key was not saved: {e}. ashtray keeps keys only in the OS keyring."
            ))
        })?,
        // Without a server (a local services file alone), no key is needed.
        None if prefs
            .server_url
            .as_deref()
            .is_none_or(|u| u.trim().is_empty()) => {}
        None => {
            if session.api_key().await.ok().flatten().is_none() {
                return Err(CommandError::new(
                    "Enter the API key of an AYON service user.",
                ));
            }
        }
    }
    prefs
        .save(&session.config_dir)
        .map_err(|e| CommandError::new(e.to_string()))?;
    if let Err(error) = super::login::set(prefs.start_at_login) {
        tracing::warn!("cannot change start at login: {error}");
    }
    tracing::info!(
        server = prefs.server_url.as_deref().unwrap_or_default(),
        "settings saved; starting the service host"
    );
    let answer = ask_host(&state, Request::Reload, RELOAD_LIMIT).await?;
    let _ = app.emit(HOST_CHANGED, answer.connection.clone());
    match (answer.started, answer.host_error) {
        (true, _) => Ok(()),
        (false, Some(error)) => Err(CommandError::new(format!(
            "Saved, but the service host did not start: {error}"
        ))),
        (false, None) => Err(CommandError::new(
            "Saved, but there is not enough to start: a server URL and an API key, or a local services file, are needed.",
        )),
    }
}

/// Logs in with the URL and key (the typed one, else the stored one) and names the
/// service user, or says exactly what is wrong.
#[tauri::command]
pub async fn test_connection(
    state: State<'_, Arc<WindowState>>,
    server_url: String,
    api_key: Option<String>,
) -> Result<String> {
    let url = server_url.trim().trim_end_matches('/');
    Prefs {
        server_url: Some(url.to_string()),
        ..Prefs::default()
    }
    .validate()
    .map_err(CommandError)?;
    let key = match api_key
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
    {
        Some(key) => Secret::new(key),
        None => state
            .session
            .api_key()
            .await
            .map_err(|e| CommandError::new(e.to_string()))?
            .ok_or_else(|| CommandError::new("Enter the API key to test."))?,
    };
    let client = AyonClient::new(url, key, Duration::from_secs(10));
    client.service_user().await.map_err(|error| {
        CommandError::new(match error {
            AyonError::Unauthorized { detail } => format!("Bad key: the server refused this API key ({detail})."),
            AyonError::Unreachable { reason, .. } => format!("Unreachable: cannot reach {url} ({reason})."),
            AyonError::Timeout { timeout, .. } => format!("Unreachable: {url} did not answer within {} s.", timeout.as_secs()),
            AyonError::NotServiceAccount { user } => format!(
                "Not a service account: the key belongs to user {user:?}. Create a service user in AYON and use its key."
            ),
            other => other.to_string(),
        })
    })
}

#[tauri::command]
pub async fn open_log(app: AppHandle) -> Result<()> {
    let dir = super::applog::dir()?;
    let file = super::applog::file(&dir);
    let target = if file.exists() { file } else { dir };
    app.opener()
        .open_path(target.display().to_string(), None::<&str>)
        .map_err(|e| CommandError::new(format!("cannot open {}: {e}", target.display())))
}

/// Quit from the window, after the page asked the user: the tray host stops (services
/// keep running), then this window.
#[tauri::command]
pub async fn quit(app: AppHandle, state: State<'_, Arc<WindowState>>) -> Result<()> {
    tracing::info!("quit from the window");
    ask_host(&state, Request::Quit, Duration::from_secs(5)).await?;
    app.exit(0);
    Ok(())
}

/// Ctrl+W: closes the window as its close button does (ashtray stays in the tray).
#[tauri::command]
pub fn close_window(window: tauri::WebviewWindow) -> Result<()> {
    window
        .close()
        .map_err(|e| CommandError::new(format!("cannot close the window: {e}")))
}
