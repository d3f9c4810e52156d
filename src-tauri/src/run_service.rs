//! `ashtray run-service`: an addon developer's loop. One service, from a services file or
//! the AYON server's own list, run in the foreground exactly as a host of this machine
//! would run it (the same [`ashtray_engine::container::ContainerConfig`]: AYON_*
//! variables, the services' API URL and token, ports, volumes), its output on the
//! terminal; Ctrl-C stops and removes it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ashtray_engine::ayon::wire::ServiceModel;
use ashtray_engine::ayon::AyonClient;
use ashtray_engine::container::HostSettings;
use ashtray_engine::foreground::{self, Ended};
use ashtray_engine::runtime::Runtime;
use ashtray_engine::spec::{Desired, ServiceSpec};

use crate::cli::{ApiArgs, HostArgs};
use crate::host::{self, ApiOptions};

/// Where the service's spec comes from.
pub enum Target {
    /// A services file that declares one service, or a name in the local services file.
    Local(String),
    /// A service of the AYON server, by name.
    Server(String),
}

pub fn run(target: Target, args: &HostArgs, api: &ApiArgs) -> anyhow::Result<()> {
    let mut args = args.clone();
    let name = match &target {
        Target::Local(target) if Path::new(target).is_file() => {
            args.services = Some(PathBuf::from(target));
            None
        }
        Target::Local(name) => {
            if args.services.is_none() {
                bail!("{name:?} is not a file, and no local services file is given to find it in: set ASHTRAY_SERVICES (or --services), or give the file's path");
            }
            Some(name.clone())
        }
        Target::Server(name) => {
            if args
                .server_url
                .as_deref()
                .is_none_or(|u| u.trim().is_empty())
            {
                bail!("--from-server needs the AYON server: set AYON_SERVER_URL and AYON_API_KEY");
            }
            // The server's list is the source: no local file is read.
            args.services = None;
            Some(name.clone())
        }
    };
    let config = crate::settings::engine_config(&args)?;
    let options = ApiOptions::from_args(api)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Before anything is made: a Ctrl-C from now on stops and removes the container,
        // never kills ashtray with the container left behind.
        let stop = crate::signals::stop_requested()?;
        let stop = async move {
            stop.await;
        };
        let spec = match &target {
            Target::Server(name) => from_server(&config, name).await?,
            Target::Local(_) => from_file(
                config.local_services.as_deref().expect("set above"),
                name.as_deref(),
                &config.hostname,
            )?,
        };
        let host = HostSettings {
            server_url: config.server_url.clone(),
            api_key: config.api_key.clone(),
            ayon_hostname: config.hostname.clone(),
            network_mode: config.network_mode.clone().or(config.network.clone()),
            service_api: Some(host::service_api_settings(
                &config.endpoint,
                // In the foreground on this machine, never inside ashtray's own image.
                None,
                host::preferred_services_port(&config, &options),
                options.config_dir.service_token_key()?,
            )),
            // The same CPU limits and GPUs the host would give it.
            limits: config.limits.clone(),
            // Not inside ashtray's image: no container of its own to hand mounts on from.
            storage_binds: Vec::new(),
        };
        let container = foreground::container(&spec, &host);
        let engine = Runtime::connect(&config.endpoint)
            .await
            .with_context(|| format!("cannot reach the container engine at {}", config.endpoint.uri))?;
        eprintln!(
            "ashtray: running {} ({}) as container {}, as host {} would; Ctrl-C stops and removes it",
            spec.name, spec.image, container.name, config.hostname
        );
        let ended = foreground::run(&engine, &container, config.stop_grace, stop)
            .await
            .with_context(|| format!("running {}", spec.name))?;
        match ended {
            Ended::Stopped => {
                eprintln!("ashtray: {} stopped and removed", spec.name);
                Ok(())
            }
            Ended::Exited(Some(0)) => {
                eprintln!("ashtray: {} exited (code 0); its container is removed", spec.name);
                Ok(())
            }
            Ended::Exited(code) => bail!(
                "{} exited with code {}; its container is removed",
                spec.name,
                code.map_or("unknown".into(), |c| c.to_string())
            ),
        }
    })
}

/// The one service of `file`, or the one called `name` in it.
fn from_file(file: &Path, name: Option<&str>, hostname: &str) -> anyhow::Result<ServiceSpec> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the services file {}", file.display()))?;
    let items = ashtray_engine::local_services::parse(&text, file, hostname)?;
    let names = || {
        items
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let item = match name {
        Some(name) => items.iter().find(|d| d.name() == name).with_context(|| {
            format!("{} declares no service {name:?} (it declares: {})", file.display(), names())
        })?,
        None => match &items[..] {
            [one] => one,
            [] => bail!("{} declares no service to run", file.display()),
            _ => bail!(
                "{} declares {} services ({}): name one, e.g. `ashtray run-service {} --services {}`",
                file.display(),
                items.len(),
                names(),
                items[0].name(),
                file.display()
            ),
        },
    };
    runnable(item.clone())
}

/// The spec the server declares for `name` (`GET /api/services`, whatever its host).
async fn from_server(
    config: &ashtray_engine::EngineConfig,
    name: &str,
) -> anyhow::Result<ServiceSpec> {
    let client = AyonClient::new(
        &config.server_url,
        config.api_key.clone(),
        config.request_timeout,
    );
    let entries = client
        .services()
        .await
        .with_context(|| format!("reading the services of {}", config.server_url))?;
    let models: Vec<ServiceModel> = entries
        .into_iter()
        .filter_map(|entry| serde_json::from_value(entry).ok())
        .collect();
    let model = models.iter().find(|m| m.name == name).with_context(|| {
        let known: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        format!(
            "the server {} has no service {name:?} (it has: {})",
            config.server_url,
            known.join(", ")
        )
    })?;
    runnable(ServiceSpec::from_wire(model))
}

fn runnable(item: Desired) -> anyhow::Result<ServiceSpec> {
    match item {
        Desired::Run(spec) => Ok(*spec),
        Desired::Invalid(error) => bail!("{error}"),
        Desired::NoImage { name } => {
            bail!("service {name:?} has no image: there is nothing to run")
        }
    }
}
