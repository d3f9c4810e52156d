//! Turns the command line and environment into the engine's configuration, refusing
//! what is missing or malformed with a message that says what to set.

use std::path::PathBuf;

use anyhow::{bail, Context};
use ashtray_engine::runtime::Endpoint;
use ashtray_engine::{EngineConfig, Secret};

use crate::cli::HostArgs;

/// The engine's configuration. Without a server (no AYON_SERVER_URL) a local services
/// file is required: it is all there is to run. With neither, the error says what to set.
pub fn engine_config(args: &HostArgs) -> anyhow::Result<EngineConfig> {
    let services = args
        .services
        .clone()
        .filter(|path| !path.as_os_str().is_empty());
    if let Some(path) = &services {
        if !path.is_file() {
            bail!(
                "the local services file {} does not exist: create it (examples/services.toml shows the format) or unset ASHTRAY_SERVICES / --services",
                path.display()
            );
        }
    }
    let server_url = args
        .server_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty());
    let (server_url, api_key) = match (server_url, &services) {
        (None, None) => bail!(
            "nothing to run: set AYON_SERVER_URL (or --server-url) and AYON_API_KEY to serve an AYON server's services, e.g. AYON_SERVER_URL=https://ayon.studio.lan, or ASHTRAY_SERVICES (or --services) to a local services file such as examples/services.toml"
        ),
        (None, Some(_)) => ("", ""),
        (Some(url), _) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("AYON_SERVER_URL {url:?} must start with http:// or https://");
            }
            let key = args
                .api_key
                .as_deref()
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .context("no API key given: set AYON_API_KEY to the key of an AYON service user")?;
            (url, key)
        }
    };
    let hostname = hostname(args)?;
    let docker_host = args
        .docker_host
        .clone()
        .or_else(|| std::env::var("CONTAINER_HOST").ok());
    let endpoint = Endpoint::resolve(docker_host.as_deref(), args.use_podman);
    let state_dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => default_state_dir()?,
    };
    let mut config = EngineConfig::new(
        server_url,
        Secret::new(api_key),
        &hostname,
        endpoint,
        state_dir,
    );
    config.poll_interval = args.poll_interval;
    config.request_timeout = args.request_timeout;
    config.network = args.network.clone().filter(|n| !n.trim().is_empty());
    config.network_mode = args.network_mode.clone().filter(|n| !n.trim().is_empty());
    config.concurrency = args.concurrency.max(1);
    config.stop_grace = args.stop_timeout;
    config.stop_services_on_exit = args.stop_services_on_exit;
    config.local_services = services;
    config.answer_cache = !args.no_cache;
    config.limits = ashtray_engine::limits::HostLimits {
        cpus: ashtray_engine::limits::ByService::parse("--cpus", &args.cpus)?,
        gpus: ashtray_engine::limits::ByService::parse("--gpus", &args.gpus)?,
    };
    config.unhealthy_restart_after =
        (!args.unhealthy_restart_after.is_zero()).then_some(args.unhealthy_restart_after);
    config.pull_policy = args.pull_policy;
    Ok(config)
}

/// The AYON host name: AYON_HOSTNAME, else the machine's.
pub fn hostname(args: &HostArgs) -> anyhow::Result<String> {
    match args
        .hostname
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        Some(hostname) => Ok(hostname.to_string()),
        None => gethostname::gethostname().into_string().map_err(|_| {
            anyhow::anyhow!("this machine's host name is not UTF-8: set AYON_HOSTNAME")
        }),
    }
}

fn default_state_dir() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("", "", "ashtray")
        .map(|dirs| dirs.data_local_dir().to_path_buf())
        .context("no home directory to keep ashtray's state in: set ASHTRAY_STATE_DIR")
}
