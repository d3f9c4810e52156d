//! The command line. Every setting is also read from the environment under the names
//! ynput's `ash` uses, and from a `.env` file in the working directory (loaded before
//! parsing, without overriding the environment): flags > environment > `.env` > defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ashtray",
    version = ashtray_engine::build_info::LONG_VERSION,
    about = "A service host for the AYON pipeline server: runs the services the server assigns to this machine as Docker or Podman containers."
)]
pub struct Cli {
    /// Run headless: no tray, no window (for servers).
    #[arg(long)]
    pub daemon: bool,

    /// The tray app: start in the tray with the window hidden (as "start at login" does).
    #[arg(long, conflicts_with = "daemon")]
    pub hidden: bool,

    /// The tray app's host, started by a window that is already open: it opens none itself.
    #[arg(long, hide = true, conflicts_with = "daemon")]
    pub for_window: bool,

    #[command(flatten)]
    pub host: HostArgs,

    #[command(flatten)]
    pub logging: LogArgs,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// URL of the AYON server, e.g. https://ayon.studio.lan
    #[arg(long, env = "AYON_SERVER_URL")]
    pub server_url: Option<String>,

    /// API key of an AYON service user. Prefer the environment: a flag shows in `ps`.
    #[arg(long, env = "AYON_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// The host name this machine heartbeats as [default: the machine's host name]
    #[arg(long, env = "AYON_HOSTNAME")]
    pub hostname: Option<String>,

    /// Docker network the service containers join.
    #[arg(long, env = "AYON_NETWORK")]
    pub network: Option<String>,

    /// Docker network mode of the service containers (host, bridge, ...); wins over --network.
    #[arg(long, env = "AYON_NETWORK_MODE")]
    pub network_mode: Option<String>,

    /// Container engine address, e.g. unix:///var/run/docker.sock (also read from CONTAINER_HOST).
    #[arg(long, env = "DOCKER_HOST")]
    pub docker_host: Option<String>,

    /// Use Podman's socket instead of Docker's.
    #[arg(long, env = "AYON_USE_PODMAN", value_parser = parse_flag, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub use_podman: bool,

    /// Time between heartbeats: 2, 2s, 500ms.
    #[arg(long, env = "ASHTRAY_POLL_INTERVAL", value_parser = parse_duration, default_value = "2s")]
    pub poll_interval: Duration,

    /// Longest wait for one answer of the AYON server.
    #[arg(long, env = "ASHTRAY_REQUEST_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub request_timeout: Duration,

    /// How many containers are started at once, at most (and, apart, stopped at once).
    #[arg(long, env = "ASHTRAY_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,

    /// Grace period between SIGTERM and SIGKILL when a service is stopped.
    #[arg(long, env = "ASHTRAY_STOP_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub stop_timeout: Duration,

    /// Replace a running container its own HEALTHCHECK has called unhealthy this long
    /// (0: never replace it for that).
    #[arg(long, env = "ASHTRAY_UNHEALTHY_RESTART_AFTER", value_parser = parse_duration_or_never, default_value = "60s")]
    pub unhealthy_restart_after: Duration,

    /// CPU limit of the services: `2` for every one, `PATTERN=0.5` for those whose name
    /// matches the glob (first match wins; 0 is no limit). Repeat it, or separate entries
    /// with spaces: --cpus 2 --cpus 'ftrack-*=0.5'.
    #[arg(long, env = "ASHTRAY_CPUS", value_delimiter = ' ')]
    pub cpus: Vec<String>,

    /// GPUs the services ask the engine for: `all`, a count (`2`, `0` for none) or device
    /// ids (`device=0,2`), for every one or per `PATTERN=VALUE` (first match wins):
    /// --gpus 'transcode-*=all'. A service that asks for GPUs never starts without them.
    #[arg(long, env = "ASHTRAY_GPUS", value_delimiter = ' ')]
    pub gpus: Vec<String>,

    /// Stop this host's service containers when ashtray exits (by default they keep running).
    #[arg(long, env = "ASHTRAY_STOP_SERVICES_ON_EXIT", value_parser = parse_flag, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub stop_services_on_exit: bool,

    /// Where ashtray keeps its state (services stopped on this host) [default: the platform's data directory]
    #[arg(long, env = "ASHTRAY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// A TOML file of services to run on this host besides (or, without AYON_SERVER_URL,
    /// instead of) the server's; watched, an edit applies at once (see examples/services.toml).
    #[arg(long, env = "ASHTRAY_SERVICES")]
    pub services: Option<PathBuf>,

    /// Do not keep the server's last answer, nor run it after a restart while the server is down.
    #[arg(long, env = "ASHTRAY_NO_CACHE", value_parser = parse_flag, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub no_cache: bool,

    /// When service images are pulled: missing (only images the engine does not have) or
    /// always (before every start, so a moved tag such as :latest is taken up).
    #[arg(long, env = "ASHTRAY_PULL_POLICY", default_value = "missing")]
    pub pull_policy: ashtray_engine::runtime::PullPolicy,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter); default from RUST_LOG, else info.
    #[arg(long, global = true)]
    pub log_level: Option<String>,

    /// Log format: text for people, json for log collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "ASHTRAY_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the API listens, and where its secrets are kept.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The control API's address (the UI and the CLI use it). Loopback by default; another
    /// address serves the API to the network (it warns). For the CLI: which ashtray to ask
    /// [default: the running ashtray's, else 127.0.0.1:47120]
    #[arg(long, global = true, env = "ASHTRAY_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,

    /// Port of the services' own API on the container network's gateway [default: 47121].
    /// Keep it stable: it is part of every service container's environment.
    #[arg(long, env = "ASHTRAY_SERVICES_PORT")]
    pub services_port: Option<u16>,

    /// Where the API token is kept [default: the platform's config directory, e.g. ~/.config/ashtray]
    #[arg(long, global = true, env = "ASHTRAY_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,

    /// Print JSON instead of tables and text (status, logs, stop, start, restart, token).
    #[arg(long, global = true)]
    pub json: bool,
}

/// Commands for a running ashtray, through its control API.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The host, its server connection and every service.
    Status,
    /// A service's recent output; with -f, follow it.
    Logs {
        /// The service's name (see `ashtray status`).
        name: String,
        /// Keep printing new lines until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// How many of the last lines to print first.
        #[arg(long, default_value_t = 100)]
        tail: usize,
    },
    /// Stop a service on this host until `ashtray start` (kept across restarts of ashtray).
    Stop { name: String },
    /// Run a service stopped with `ashtray stop` again.
    Start { name: String },
    /// Replace a service's container with a new one.
    Restart { name: String },
    /// Stop every service on this host until `ashtray resume` (kept across restarts).
    Pause,
    /// Run the services again after `ashtray pause`.
    Resume,
    /// Print the control API's token (made on first use).
    Token,
    /// Image archives for hosts without a registry (air-gapped studios).
    Images {
        #[command(subcommand)]
        action: ImagesCommand,
    },
    /// Run one service in the foreground exactly as a host runs it (its environment,
    /// ports, volumes), its output on the terminal, until Ctrl-C stops and removes it.
    RunService {
        /// A services file declaring one service, or the name of a service in the local
        /// services file (--services / ASHTRAY_SERVICES).
        #[arg(
            required_unless_present = "from_server",
            conflicts_with = "from_server"
        )]
        target: Option<String>,
        /// Take the spec of this service from the AYON server's `GET /api/services`
        /// (needs AYON_SERVER_URL and AYON_API_KEY).
        #[arg(long, value_name = "NAME")]
        from_server: Option<String>,
    },
    /// Exit 0 when the running ashtray's API answers `/healthz`, 1 when not: a container
    /// image's HEALTHCHECK, with nothing else (no curl) in the image. Needs no token.
    Healthcheck,
    /// Open the tray app's window (its own process; starts the tray host if none runs).
    Window {
        /// Open on Settings.
        #[arg(long)]
        settings: bool,
    },
}

/// `ashtray images ...`: through the container engine's API (DOCKER_HOST, --use-podman).
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Load an image archive as `docker save` (or `ashtray images export`) writes it
    /// into the container engine.
    Import {
        /// The archive (an uncompressed tar).
        file: PathBuf,
    },
    /// Write one archive with the images the running ashtray's services use.
    Export {
        /// Where to write the archive.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

/// A duration as `2`, `2s`, `500ms`, `1m`: a bare number means seconds, as in `ash`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Duration::from_secs_f64(seconds),
        Ok(_) => return Err(format!("{text:?} is not a positive duration")),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is not a duration like 2s or 500ms: {e}"))?,
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is not a positive duration"));
    }
    Ok(duration)
}

/// A duration, or `0` / `never` for none (given back as zero).
pub fn parse_duration_or_never(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "0" | "never" => Ok(Duration::ZERO),
        _ => parse_duration(text),
    }
}

/// Yes/no as environment variables write it: 1, true, yes, on / 0, false, no, off, empty.
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!(
            "{other:?} is not yes or no (use 1/0, true/false, yes/no, on/off)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_ash_seconds_and_units() {
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0").is_err());
        assert_eq!(parse_duration_or_never("never"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_never("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_never("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
    }

    #[test]
    fn flags_read_like_environment_variables() {
        for yes in ["1", "true", "YES", "on"] {
            assert_eq!(parse_flag(yes), Ok(true));
        }
        for no in ["", "0", "False", "off"] {
            assert_eq!(parse_flag(no), Ok(false));
        }
        assert!(parse_flag("maybe").is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
