//! A running host: the engine and both API listeners for one [`EngineConfig`]. The daemon
//! and the tray app start it the same way and get the same [`Host`] back; nothing here
//! knows about signals, windows or logging in.
//!
//! The services' listener's address enters every service container's environment, and so
//! its spec hash: its URL (`http://host.docker.internal:PORT`; in a container, its own
//! address on the services' network) and the token key must stay the same across
//! restarts, or every container would be recreated. The port is therefore
//! fixed (default 47121) and remembered per host, and the key lives in the config dir.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ashtray_api::ConfigDir;
use ashtray_engine::container::ServiceApiSettings;
use ashtray_engine::host_state::{EngineState, HostState};
use ashtray_engine::runtime::{Endpoint, Runtime};
use ashtray_engine::{EngineConfig, Handle, Secret};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::ApiArgs;

pub const DEFAULT_CONTROL_PORT: u16 = 47120;
pub const DEFAULT_SERVICES_PORT: u16 = 47121;
/// How Docker's containers name the host: mapped to the bridge gateway (`host-gateway`).
const DOCKER_HOST_ALIAS: &str = "host.docker.internal";
/// How Podman's containers name the host: Podman maps it itself (it knows no
/// `host-gateway` before 5.x), to its bridge's gateway.
const PODMAN_HOST_ALIAS: &str = "host.containers.internal";
/// How long the start waits for the container engine to tell its gateway address.
const GATEWAY_WAIT: Duration = Duration::from_secs(5);
/// Between two tries to open the services' listener while the engine is away. Short: the
/// engine may start a service the moment it answers, and the service may call its API at
/// once (a try is a refused connection while the engine is away). The listener is also
/// tried the moment the loop says the engine is up.
const GATEWAY_RETRY: Duration = Duration::from_millis(500);
/// How long shutdown may take when service containers are left running.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

/// Where the API listens and where its secrets are kept.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// `None`: 127.0.0.1:47120, or a free loopback port when that one is taken.
    pub listen: Option<SocketAddr>,
    /// `None`: the port this host used last time, else 47121.
    pub services_port: Option<u16>,
    pub config_dir: ConfigDir,
}

impl ApiOptions {
    pub fn from_args(args: &ApiArgs) -> anyhow::Result<ApiOptions> {
        Ok(ApiOptions {
            listen: args.listen,
            services_port: args.services_port,
            config_dir: ConfigDir::locate(args.config_dir.as_deref())?,
        })
    }
}

/// The engine and its API, running. The daemon only waits for a signal; the tray app
/// reads the handle, the URL and the token.
#[cfg_attr(not(feature = "tray"), allow(dead_code))]
pub struct Host {
    pub handle: Handle,
    /// Where the control API answers, e.g. `http://127.0.0.1:47120`.
    pub control_url: String,
    /// The control API's bearer token.
    pub token: Secret,
    /// `ASHTRAY_API_URL` as service containers see it (for a settings or about pane).
    #[allow(dead_code)]
    pub services_url: String,
    cancel: CancellationToken,
    engine: JoinHandle<()>,
    servers: Vec<JoinHandle<()>>,
    stop_services_on_exit: bool,
}

impl Host {
    /// Stops the API and the engine; waits for the engine's shutdown work (stopping the
    /// services when so configured, else at most a moment).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if self.stop_services_on_exit {
            let _ = self.engine.await;
        } else if tokio::time::timeout(SHUTDOWN_LIMIT, self.engine)
            .await
            .is_err()
        {
            tracing::warn!(
                "the engine did not stop within {} s; exiting anyway",
                SHUTDOWN_LIMIT.as_secs()
            );
        }
        // Open event streams would hold a graceful shutdown forever.
        for server in self.servers {
            server.abort();
        }
    }
}

/// Starts the engine and both listeners. Stops when `cancel` fires (or on [`Host::shutdown`]).
pub async fn start(
    mut config: EngineConfig,
    options: ApiOptions,
    cancel: CancellationToken,
) -> anyhow::Result<Host> {
    let token = options.config_dir.control_token()?;
    let token_key = options.config_dir.service_token_key()?;
    let control = bind_control(options.listen).await?;
    let control_addr = control
        .local_addr()
        .context("reading the control API's address")?;
    let control_url = format!("http://{}", reachable(control_addr));

    let port_file = services_port_file(&config);
    let preferred = preferred_services_port(&config, &options);
    // In a container (the image), services join its network and reach it at its own
    // address there; on a bare host, at the engine's gateway to this machine.
    let own_address = own_container_address(&config).await;
    let listen_on = match own_address {
        Some(ip) => Ok(ip),
        None => gateway(&config.endpoint).await,
    };
    let services = match listen_on {
        Ok(ip) => Ok(bind_services(ip, preferred, options.services_port.is_some()).await?),
        Err(why) => Err(why),
    };
    let services_port = services
        .as_ref()
        .ok()
        .and_then(|l| l.local_addr().ok())
        .map_or(preferred, |a| a.port());
    if let Err(error) = std::fs::create_dir_all(&config.state_dir)
        .and_then(|()| std::fs::write(&port_file, services_port.to_string()))
    {
        tracing::warn!(
            "cannot remember the services' API port in {}: {error}",
            port_file.display()
        );
    }
    let service_api = service_api_settings(&config.endpoint, own_address, services_port, token_key);
    let services_url = service_api.url.clone();
    config.service_api = Some(service_api);

    let stop_services_on_exit = config.stop_services_on_exit;
    let endpoint = config.endpoint.clone();
    let (handle, engine) = ashtray_engine::spawn(config, cancel.clone())?;

    let mut servers = vec![serve(
        "control API",
        control,
        ashtray_api::control_router_at(handle.clone(), token.clone(), Some(&control_url)),
        cancel.clone(),
    )];
    let router = ashtray_api::services_router(handle.clone());
    match services {
        Ok(listener) => {
            tracing::info!(url = %format!("http://{}", listener.local_addr()?), "the services' API listens (containers: {services_url})");
            servers.push(serve("services' API", listener, router, cancel.clone()));
        }
        Err(why) => {
            tracing::warn!(
                "the services' API cannot listen yet, it opens on port {services_port} once the container engine tells where its containers reach this machine: {why:#}"
            );
            servers.push(tokio::spawn(serve_services_later(
                endpoint,
                services_port,
                router,
                handle.watch(),
                cancel.clone(),
            )));
        }
    }
    tracing::info!(url = %control_url, token = %options.config_dir.token_path().display(), "the control API listens (`ashtray token` prints its token)");
    if let Err(error) = options.config_dir.write_control_url(&control_url) {
        tracing::warn!("the CLI will not find this ashtray by itself: {error}");
    }
    Ok(Host {
        handle,
        control_url,
        token,
        services_url,
        cancel,
        engine,
        servers,
        stop_services_on_exit,
    })
}

/// The port of this host's services' API: the one asked for, else the one this host used
/// last time, else 47121.
pub fn preferred_services_port(config: &EngineConfig, options: &ApiOptions) -> u16 {
    options
        .services_port
        .or_else(|| read_port(&services_port_file(config)))
        .unwrap_or(DEFAULT_SERVICES_PORT)
}

/// How a service container reaches the services' API on `port`: `ASHTRAY_API_URL` at
/// ashtray's own address when it runs in a container (its services join its network),
/// else by the engine's name for this machine, with the `/etc/hosts` entry Docker needs.
pub fn service_api_settings(
    endpoint: &Endpoint,
    own_address: Option<IpAddr>,
    port: u16,
    token_key: Secret,
) -> ServiceApiSettings {
    let (alias, extra_hosts) = if let Some(ip) = own_address {
        (ip.to_string(), Vec::new())
    } else if endpoint.podman {
        (PODMAN_HOST_ALIAS.to_string(), Vec::new())
    } else {
        (
            DOCKER_HOST_ALIAS.to_string(),
            vec![format!("{DOCKER_HOST_ALIAS}:host-gateway")],
        )
    };
    ServiceApiSettings {
        url: format!("http://{alias}:{port}"),
        token_key,
        extra_hosts,
    }
}

/// The address a client on this machine uses: a wildcard listener answers on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

async fn bind_control(listen: Option<SocketAddr>) -> anyhow::Result<TcpListener> {
    if let Some(addr) = listen {
        if !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "the control API listens beyond this machine: whoever reaches it with the token controls this host's services; use a trusted network"
            );
        }
        return TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the control API: is another ashtray running? choose another with --listen"));
    }
    let default = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_CONTROL_PORT);
    match TcpListener::bind(default).await {
        Ok(listener) => Ok(listener),
        // A second ashtray on this machine (another AYON host name) still gets an API;
        // the CLI finds it through the URL file in its config directory.
        Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
            tracing::warn!("{default} is taken (another ashtray?): the control API takes a free loopback port instead");
            let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
            TcpListener::bind(any)
                .await
                .context("cannot listen on loopback for the control API")
        }
        Err(error) => {
            Err(error).with_context(|| format!("cannot listen on {default} for the control API"))
        }
    }
}

fn services_port_file(config: &EngineConfig) -> PathBuf {
    config.state_dir.join(format!(
        "services-port-{}",
        ashtray_engine::slug::slugify(&config.hostname)
    ))
}

fn read_port(path: &std::path::Path) -> Option<u16> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|port| *port != 0)
}

/// The address containers reach the host on, on the default network (the engine crate
/// decides how: `Runtime::services_host_address`). Why not, when it cannot be told.
async fn gateway(endpoint: &Endpoint) -> anyhow::Result<IpAddr> {
    let network = if endpoint.podman { "podman" } else { "bridge" };
    let ask = async {
        let runtime = Runtime::connect(endpoint).await?;
        runtime.services_host_address(network).await
    };
    match tokio::time::timeout(GATEWAY_WAIT, ask).await {
        Ok(found) => Ok(found?),
        Err(_) => anyhow::bail!(
            "the {} engine at {} did not answer within {} s",
            endpoint.kind(),
            endpoint.uri,
            GATEWAY_WAIT.as_secs()
        ),
    }
}

/// This container's address on the network its services join, when ashtray runs in a
/// container of the engine it drives: the network configured, else its own first (the
/// engine's loop puts services there, as ash does). `None` on a bare host, or when the
/// engine does not answer in time (then the bare host's way is tried).
async fn own_container_address(config: &EngineConfig) -> Option<IpAddr> {
    let ask = async {
        let runtime = Runtime::connect(&config.endpoint).await.ok()?;
        let own = runtime.own_container().await?;
        let network = config
            .network_mode
            .clone()
            .or_else(|| config.network.clone())
            .or_else(|| own.first_network().map(String::from))?;
        let address = own.address_on(&network);
        if address.is_none() {
            tracing::warn!(
                network,
                "ashtray runs in container {} but has no address on the services' network: they reach its API the bare host's way",
                own.id
            );
        }
        address
    };
    tokio::time::timeout(GATEWAY_WAIT, ask).await.ok().flatten()
}

async fn bind_services(ip: IpAddr, port: u16, explicit: bool) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    match ashtray_api::listener::bind_gateway(addr) {
        Ok(listener) => Ok(listener),
        // Only on the first start of a host (nothing remembered yet) or when the default
        // is taken: the port chosen now is remembered for the next start.
        Err(error) if error.kind() == io::ErrorKind::AddrInUse && !explicit => {
            tracing::warn!("{addr} is taken: the services' API takes a free port on {ip} instead");
            ashtray_api::listener::bind_gateway(SocketAddr::new(ip, 0))
                .with_context(|| format!("cannot listen on {ip} for the services' API"))
        }
        Err(error) => Err(error).with_context(|| {
            format!("cannot listen on {addr} for the services' API: free that port or choose another with --services-port")
        }),
    }
}

fn serve(
    what: &'static str,
    listener: TcpListener,
    router: axum::Router,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let served = axum::serve(ashtray_api::listener::tuned(listener), router)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!("the {what} stopped: {error}");
        }
    })
}

/// Waits `GATEWAY_RETRY` before the next try; false when ashtray is stopping instead.
async fn retry_later(cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(GATEWAY_RETRY) => true,
    }
}

/// Opens the services' listener once the container engine tells where its containers
/// reach this machine (it was down when ashtray started): tried when the loop says the
/// engine is up, and every `GATEWAY_RETRY` besides.
async fn serve_services_later(
    endpoint: Endpoint,
    port: u16,
    router: axum::Router,
    mut state: tokio::sync::watch::Receiver<Arc<HostState>>,
    cancel: CancellationToken,
) {
    let mut last_warning = String::new();
    loop {
        let engine_up = state.borrow_and_update().engine.state == EngineState::Up;
        if !engine_up {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(GATEWAY_RETRY) => {}
                _ = state.changed() => {}
            }
        }
        let Ok(ip) = gateway(&endpoint).await else {
            // Up for the loop, yet no gateway to be told: not again at once.
            if engine_up && !retry_later(&cancel).await {
                return;
            }
            continue;
        };
        match ashtray_api::listener::bind_gateway(SocketAddr::new(ip, port)) {
            Ok(listener) => {
                tracing::info!(url = %format!("http://{ip}:{port}"), "the services' API listens");
                let served = axum::serve(ashtray_api::listener::tuned(listener), router)
                    .with_graceful_shutdown(cancel.cancelled_owned())
                    .await;
                if let Err(error) = served {
                    tracing::error!("the services' API stopped: {error}");
                }
                return;
            }
            Err(error) => {
                // Said once per reason: the tries come twice a second.
                let warning =
                    format!("cannot listen on {ip}:{port} for the services' API yet: {error}");
                if warning != last_warning {
                    tracing::warn!("{warning}");
                    last_warning = warning;
                }
                if !retry_later(&cancel).await {
                    return;
                }
            }
        }
    }
}
