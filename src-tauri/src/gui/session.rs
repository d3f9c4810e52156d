//! The running host of the tray app: the engine and the service API, started from the
//! current settings and started again when Settings saves new ones, without restarting
//! the app. The tray host runs it; the window process makes one only to read the
//! settings' layering (it never starts it).
//!
//! Layering as everywhere in ashtray: flags > environment (`AYON_*`, `.env`) > the saved
//! settings > defaults; the API key from `AYON_API_KEY` wins over the keyring's.
//! The tray and the notifier follow `engine()`, which changes with every (re)start.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use ashtray_engine::lock::InstanceLock;
use ashtray_engine::{Handle, Secret};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::api_key;
use super::prefs::Prefs;
use crate::cli::HostArgs;
use crate::host::ApiOptions;

/// What the window needs to reach the service API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    pub api_url: String,
    pub token: String,
}

/// Where a setting came from when the environment overrides the saved one.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub server_url: Option<String>,
    pub api_key: Option<Secret>,
    pub hostname: Option<String>,
    pub docker_host: Option<String>,
    pub poll_interval: bool,
    /// `--services` / ASHTRAY_SERVICES.
    pub services: Option<std::path::PathBuf>,
}

pub struct Session {
    /// The command line and environment, with the saved settings laid under them on
    /// each start.
    args: tokio::sync::Mutex<HostArgs>,
    overrides: Overrides,
    api: ApiOptions,
    pub config_dir: PathBuf,
    running: tokio::sync::Mutex<Option<(crate::host::Host, InstanceLock)>>,
    connection: Mutex<Option<Connection>>,
    last_error: Mutex<Option<String>>,
    engine: watch::Sender<Option<Handle>>,
}

impl Session {
    pub fn new(args: HostArgs, api: ApiOptions) -> Session {
        let overrides = Overrides {
            server_url: args.server_url.clone().filter(|s| !s.trim().is_empty()),
            api_key: args
                .api_key
                .clone()
                .filter(|s| !s.trim().is_empty())
                .map(Secret::new),
            hostname: args.hostname.clone().filter(|s| !s.trim().is_empty()),
            docker_host: args.docker_host.clone().filter(|s| !s.trim().is_empty()),
            poll_interval: std::env::var_os("ASHTRAY_POLL_INTERVAL").is_some(),
            services: args.services.clone().filter(|p| !p.as_os_str().is_empty()),
        };
        Session {
            args: tokio::sync::Mutex::new(args),
            overrides,
            config_dir: api.config_dir.path().to_path_buf(),
            api,
            running: tokio::sync::Mutex::new(None),
            connection: Mutex::new(None),
            last_error: Mutex::new(None),
            engine: watch::channel(None).0,
        }
    }

    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    pub fn connection(&self) -> Option<Connection> {
        self.connection.lock().expect("never poisoned").clone()
    }

    /// Why the host is not running, if it tried and failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("never poisoned").clone()
    }

    /// The running engine, if any; changes on every (re)start.
    pub fn engine(&self) -> watch::Receiver<Option<Handle>> {
        self.engine.subscribe()
    }

    pub fn current_engine(&self) -> Option<Handle> {
        self.engine.borrow().clone()
    }

    /// The API key to use: the environment's, else the keyring's.
    pub async fn api_key(&self) -> Result<Option<Secret>, api_key::KeyringError> {
        match &self.overrides.api_key {
            Some(key) => Ok(Some(key.clone())),
            None => api_key::load().await,
        }
    }

    /// Whether there is enough to start: a server URL and a key, or a local services file.
    pub async fn configured(&self, prefs: &Prefs) -> bool {
        let url = self.overrides.server_url.is_some()
            || prefs
                .server_url
                .as_deref()
                .is_some_and(|u| !u.trim().is_empty());
        let local = self.overrides.services.is_some() || prefs.services_file().is_some();
        (url && matches!(self.api_key().await, Ok(Some(_)))) || (!url && local)
    }

    /// (Re)starts the host from the current settings. `Ok(false)` when there is not enough
    /// configuration yet (first run).
    pub async fn start(&self) -> anyhow::Result<bool> {
        let result = self.start_inner().await;
        *self.last_error.lock().expect("never poisoned") =
            result.as_ref().err().map(|e| format!("{e:#}"));
        result
    }

    async fn start_inner(&self) -> anyhow::Result<bool> {
        let prefs = Prefs::load(&self.config_dir)?;
        let mut args = self.args.lock().await;
        args.server_url = self
            .overrides
            .server_url
            .clone()
            .or_else(|| prefs.server_url.clone())
            .filter(|url| !url.trim().is_empty());
        args.services = self
            .overrides
            .services
            .clone()
            .or_else(|| prefs.services_file().map(std::path::PathBuf::from));
        match (&args.server_url, &args.services) {
            (None, None) => return Ok(false),
            // Without a server the local services run alone: no key is needed.
            (None, Some(_)) => args.api_key = None,
            (Some(_), _) => {
                let Some(key) = self.api_key().await? else {
                    return Ok(false);
                };
                args.api_key = Some(key.expose().to_string());
            }
        }
        args.hostname = self
            .overrides
            .hostname
            .clone()
            .or_else(|| prefs.hostname.clone());
        args.docker_host = self
            .overrides
            .docker_host
            .clone()
            .or_else(|| prefs.engine_socket.clone());
        if let (false, Some(seconds)) = (self.overrides.poll_interval, prefs.poll_interval_secs) {
            args.poll_interval = std::time::Duration::from_secs_f64(seconds.clamp(0.5, 600.0));
        }
        let mut config = crate::settings::engine_config(&args)?;
        // The app's log is for ashtray itself; the services' output is in the log pane.
        config.print_service_output = false;
        args.api_key = None;
        drop(args);

        self.stop().await;
        // One ashtray per host and engine, the daemon included.
        let lock = ashtray_engine::lock::acquire(&config.endpoint, &config.hostname)?;
        let host = crate::host::start(config, self.api.clone(), CancellationToken::new())
            .await
            .context("cannot start the service host")?;
        let connection = Connection {
            api_url: host.control_url.clone(),
            token: host.token.expose().to_string(),
        };
        tracing::info!(api = %connection.api_url, "the service host runs");
        *self.connection.lock().expect("never poisoned") = Some(connection);
        self.engine.send_replace(Some(host.handle.clone()));
        *self.running.lock().await = Some((host, lock));
        Ok(true)
    }

    /// Stops the running host, if any (service containers keep running unless configured
    /// otherwise).
    pub async fn stop(&self) {
        let host = self.running.lock().await.take();
        self.engine.send_replace(None);
        *self.connection.lock().expect("never poisoned") = None;
        if let Some((host, lock)) = host {
            host.shutdown().await;
            drop(lock);
        }
    }
}
