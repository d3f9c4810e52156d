//! The CLI's side of the control API: `ashtray status`, `logs`, `stop`, `start`,
//! `restart`, `token`. A thin client: everything it shows comes from the API, so the CLI
//! sees exactly what the UI sees. Tables for people, `--json` for scripts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use ashtray_api::ConfigDir;
use ashtray_engine::Secret;
use comfy_table::{presets, Table};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::cli::{ApiArgs, Command};
use crate::host::DEFAULT_CONTROL_PORT;

/// Longest wait for one answer (not for a followed log).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(command: Command, args: &ApiArgs) -> anyhow::Result<()> {
    let config_dir = ConfigDir::locate(args.config_dir.as_deref())?;
    if let Command::Token = command {
        return print_token(&config_dir, args.json);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if let Command::Healthcheck = command {
            return healthcheck(args, &config_dir).await;
        }
        let client = Client::connect(args, &config_dir).await?;
        match command {
            Command::Status => status(&client, args.json).await,
            Command::Logs { name, follow, tail } => {
                logs(&client, &name, follow, tail, args.json).await
            }
            Command::Stop { name } => act(&client, &name, "stop", args.json).await,
            Command::Start { name } => act(&client, &name, "start", args.json).await,
            Command::Restart { name } => act(&client, &name, "restart", args.json).await,
            Command::Pause => pause(&client, true, args.json).await,
            Command::Resume => pause(&client, false, args.json).await,
            Command::Token
            | Command::RunService { .. }
            | Command::Healthcheck
            | Command::Images { .. } => {
                unreachable!("handled before")
            }
            Command::Window { .. } => unreachable!("main opens the window"),
        }
    })
}

/// The images the running ashtray's services use, and where it answered.
pub async fn service_images(args: &ApiArgs) -> anyhow::Result<(Url, Vec<String>)> {
    let config_dir = ConfigDir::locate(args.config_dir.as_deref())?;
    let client = Client::connect(args, &config_dir).await?;
    let services = client.get(&["api", "v1", "services"], &[]).await?;
    Ok((client.base.clone(), images_of(&services)))
}

/// Each image of a service this host has (running, stopped here or failing; not the
/// ones the server no longer wants here), once, sorted.
fn images_of(services: &Value) -> Vec<String> {
    let mut images: Vec<String> = services
        .as_array()
        .into_iter()
        .flatten()
        .filter(|service| service["desired"] != "not_wanted")
        .filter_map(|service| service["image"].as_str())
        .filter(|image| !image.trim().is_empty())
        .map(str::to_string)
        .collect();
    images.sort();
    images.dedup();
    images
}

/// Prints the token (alone on stdout, for scripts) and where the dashboard it opens is:
/// the URL the running ashtray wrote at start, which is a free port when 47120 was taken.
fn print_token(config_dir: &ConfigDir, json: bool) -> anyhow::Result<()> {
    let token = config_dir.control_token()?;
    let dashboard = config_dir
        .read_control_url()
        .map(|url| format!("{}/", url.trim_end_matches('/')));
    let answers = dashboard.as_deref().is_some_and(answers);
    if json {
        let path = config_dir.token_path();
        println!(
            "{}",
            serde_json::json!({"token": token.expose(), "path": path, "dashboard_url": dashboard, "dashboard_answers": answers})
        );
    } else {
        println!("{}", token.expose());
        match dashboard {
            Some(url) if answers => eprintln!("the dashboard: {url} (sign in with this token)"),
            Some(url) => eprintln!("ashtray does not answer at {url}, where it last listened: start it, then sign in there with this token"),
            None => eprintln!("ashtray has not started with this config directory yet: its dashboard's address is written here once it listens"),
        }
    }
    Ok(())
}

/// Whether something listens at the URL's address (one connect, a short wait).
fn answers(url: &str) -> bool {
    let Some(addrs) = Url::parse(url)
        .ok()
        .and_then(|u| u.socket_addrs(|| None).ok())
    else {
        return false;
    };
    addrs
        .iter()
        .any(|addr| std::net::TcpStream::connect_timeout(addr, Duration::from_millis(500)).is_ok())
}

/// `ashtray healthcheck`: one `/healthz` of the running ashtray, in a few seconds at most
/// (a container engine runs it every interval).
async fn healthcheck(args: &ApiArgs, config_dir: &ConfigDir) -> anyhow::Result<()> {
    let base = control_base(args, config_dir)?;
    let http = reqwest::Client::builder().build()?;
    let url = base.join("/healthz")?;
    let answer = http
        .get(url.clone())
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .with_context(|| format!("ashtray is not healthy: nothing answers at {url}"))?;
    if !answer.status().is_success() {
        bail!("ashtray is not healthy: {url} answered {}", answer.status());
    }
    println!("ok: {url}");
    Ok(())
}

/// The running ashtray's control API: `--listen`, else the URL it wrote at start, else
/// the default.
fn control_base(args: &ApiArgs, config_dir: &ConfigDir) -> anyhow::Result<Url> {
    let base = match args.listen {
        Some(addr) => format!("http://{}", reachable(addr)),
        None => config_dir
            .read_control_url()
            .unwrap_or_else(|| format!("http://127.0.0.1:{DEFAULT_CONTROL_PORT}")),
    };
    Url::parse(&base).with_context(|| format!("{base:?} is not a URL: fix --listen"))
}

struct Client {
    base: Url,
    token: Secret,
    token_path: std::path::PathBuf,
    http: reqwest::Client,
}

impl Client {
    /// Finds the running ashtray: `--listen`, else the URL it wrote at start, else the
    /// default. Says in one line when nothing answers.
    async fn connect(args: &ApiArgs, config_dir: &ConfigDir) -> anyhow::Result<Client> {
        let base = control_base(args, config_dir)?;
        let http = reqwest::Client::builder().build()?;
        let health = http
            .get(base.join("/healthz")?)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
        if health
            .as_ref()
            .is_err_and(|e| e.is_connect() || e.is_timeout())
            || health.as_ref().is_ok_and(|r| !r.status().is_success())
        {
            bail!("ashtray is not running: nothing answers at {base} (start it with `ashtray --daemon`, or pass --listen)");
        }
        health.with_context(|| format!("asking {base}"))?;
        let token_path = config_dir.token_path();
        let token = config_dir
            .existing_control_token()
            .with_context(|| format!("reading the API token of {base}"))?
            .with_context(|| {
                format!(
                    "no API token in {}: the ashtray at {base} keeps its config elsewhere (set --config-dir or ASHTRAY_CONFIG_DIR)",
                    config_dir.path().display()
                )
            })?;
        Ok(Client {
            base,
            token,
            token_path,
            http,
        })
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http URL has a path")
            .clear()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        timeout: Option<Duration>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(self.token.expose());
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(|error| {
            if error.is_connect() {
                anyhow::anyhow!("ashtray stopped answering at {}", self.base)
            } else {
                anyhow::anyhow!("asking {}: {error}", url.path())
            }
        })?;
        match response.status() {
            status if status.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED => bail!(
                "the ashtray at {} refused the token in {}: it keeps its token elsewhere (set --config-dir or ASHTRAY_CONFIG_DIR to its config directory)",
                self.base,
                self.token_path.display()
            ),
            status => {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match body.get("error").and_then(Value::as_str) {
                    Some(message) => bail!("{message}"),
                    None => bail!("{} answered {status} to {}", self.base, url.path()),
                }
            }
        }
    }

    async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        let response = self
            .send(
                Method::GET,
                self.url(segments, query),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        response.json().await.context("reading ashtray's answer")
    }

    async fn post(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let response = self
            .send(Method::POST, self.url(segments, &[]), Some(REQUEST_TIMEOUT))
            .await?;
        response.json().await.context("reading ashtray's answer")
    }
}

fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let host = client.get(&["api", "v1", "host"], &[]).await?;
    let services = client.get(&["api", "v1", "services"], &[]).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"host": host, "services": services}))?
        );
        return Ok(());
    }
    println!("{}", host_line(&host));
    let services = services.as_array().cloned().unwrap_or_default();
    if services.is_empty() {
        println!("no services on this host");
        return Ok(());
    }
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header([
        "NAME", "STATE", "DESIRED", "SOURCE", "IMAGE", "UP", "RESTARTS", "STATUS",
    ]);
    for service in &services {
        let text = |key: &str| {
            service
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_string()
        };
        table.add_row([
            text("name"),
            text("state"),
            text("desired"),
            text("source"),
            text("image"),
            service
                .get("uptime_ms")
                .and_then(Value::as_u64)
                .map(short_duration)
                .unwrap_or_else(|| "-".into()),
            service
                .get("restarts")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .to_string(),
            status_word(service),
        ]);
    }
    println!("{table}");
    Ok(())
}

fn host_line(host: &Value) -> String {
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(host, |value, key| value.get(key))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let mut server = match text(&["server", "state"]).as_str() {
        "not_configured" => "no AYON server (local services only)".to_string(),
        state => format!("{} ({state})", text(&["server_url"])),
    };
    if let Some(reason) = host.pointer("/server/reason").and_then(Value::as_str) {
        server.push_str(&format!(": {reason}"));
    }
    let engine = format!(
        "{} {}",
        text(&["engine", "kind"]),
        text(&["engine", "state"])
    );
    let paused = if host.get("paused").and_then(Value::as_bool) == Some(true) {
        ", all services paused"
    } else {
        ""
    };
    let mut line = format!(
        "host {} on {server}; engine {engine}; overall {}{paused}",
        text(&["hostname"]),
        text(&["overall"])
    );
    if let Some(local) = host.get("local_services").filter(|l| !l.is_null()) {
        line.push_str(&format!(
            "\nlocal services: {}",
            text(&["local_services", "path"])
        ));
        if let Some(error) = local.get("error").and_then(Value::as_str) {
            line.push_str(&format!(" (not used as it is: {error})"));
        }
    }
    line
}

/// What a person wants to know next: the last error, else what the service said itself.
fn status_word(service: &Value) -> String {
    if let Some(error) = service.get("last_error").and_then(Value::as_str) {
        return error.to_string();
    }
    match service.get("reported") {
        Some(Value::Object(reported)) => {
            let state = reported.get("state").and_then(Value::as_str).unwrap_or("?");
            let message = reported
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("");
            let progress = reported
                .get("progress")
                .and_then(Value::as_f64)
                .map(|p| format!(" {p:.0}%"))
                .unwrap_or_default();
            format!("{state}{progress} {message}").trim().to_string()
        }
        _ => "-".into(),
    }
}

async fn pause(client: &Client, paused: bool, json: bool) -> anyhow::Result<()> {
    let path = if paused { "pause" } else { "resume" };
    let answer = client.post(&["api", "v1", path]).await?;
    if json {
        println!("{answer}");
    } else if paused {
        println!("every service on this host is stopped until `ashtray resume`");
    } else {
        println!("services run again on this host as the server wants");
    }
    Ok(())
}

/// Why `action` is not open to the service now, and what to do instead.
fn not_allowed(name: &str, action: &str, service: &Value, paused: bool) -> String {
    let word = |key: &str| service.get(key).and_then(Value::as_str).unwrap_or("?");
    let (desired, state) = (word("desired"), word("state"));
    match (action, desired) {
        (_, "stopped_locally") if paused => {
            format!("cannot {action} {name}: all services are paused on this host; run `ashtray resume`")
        }
        ("stop", "stopped_locally") => format!("{name} is stopped on this host already"),
        (_, "stopped_locally") => {
            format!("cannot {action} {name}: it is stopped on this host; run `ashtray start {name}` first")
        }
        ("start", "run") => format!(
            "{name} is {state}: there is nothing to start (`ashtray restart {name}` replaces its container)"
        ),
        (_, "not_wanted") => {
            format!("cannot {action} {name}: the server does not want it on this host")
        }
        (_, "invalid") => format!(
            "cannot {action} {name}: its spec on the server is invalid ({})",
            word("last_error")
        ),
        (_, "no_image") => format!("cannot {action} {name}: the server gives it no image"),
        _ => format!("cannot {action} {name} while it is {state}"),
    }
}

fn short_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h{}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

fn print_line(line: &Value, json: bool) {
    if json {
        println!("{line}");
        return;
    }
    let text = line.get("text").and_then(Value::as_str).unwrap_or("");
    if line.get("stderr").and_then(Value::as_bool) == Some(true) {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

async fn logs(
    client: &Client,
    name: &str,
    follow: bool,
    tail: usize,
    json: bool,
) -> anyhow::Result<()> {
    let segments = ["api", "v1", "services", name, "logs"];
    if !follow {
        let logs = client.get(&segments, &[("tail", tail.to_string())]).await?;
        for line in logs
            .get("lines")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            print_line(line, json);
        }
        return Ok(());
    }
    let url = client.url(
        &segments,
        &[("tail", tail.to_string()), ("follow", "true".into())],
    );
    let response = client.send(Method::GET, url, None).await?;
    let mut events = response.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let event = event.context("reading the log stream")?;
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        match event.event.as_str() {
            "line" => print_line(&data, json),
            "missed" => {
                let missed = data.get("missed").and_then(Value::as_u64).unwrap_or(0);
                eprintln!("[ashtray: {missed} lines went by faster than this terminal read them]");
            }
            _ => {}
        }
    }
    bail!("the log stream ended: ashtray stopped")
}

async fn act(client: &Client, name: &str, action: &str, json: bool) -> anyhow::Result<()> {
    // The host says what may be asked of the service now (the tray and the window ask the
    // same), so a refusal says why instead of doing nothing.
    let service = client.get(&["api", "v1", "services", name], &[]).await?;
    if service.pointer(&format!("/actions/{action}")) == Some(&Value::Bool(false)) {
        let host = client.get(&["api", "v1", "host"], &[]).await?;
        let paused = host.get("paused") == Some(&Value::Bool(true));
        bail!("{}", not_allowed(name, action, &service, paused));
    }
    let answer = client
        .post(&["api", "v1", "services", name, action])
        .await?;
    if json {
        println!("{answer}");
        return Ok(());
    }
    match action {
        "stop" => println!("{name}: stopped on this host until `ashtray start {name}`"),
        "start" => println!("{name}: runs again on this host when the server wants it here"),
        _ => println!("{name}: its container is being replaced"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_takes_each_image_of_the_hosts_services_once() {
        let services = serde_json::json!([
            {"name": "a", "desired": "run", "image": "registry.lan/b:1"},
            {"name": "b", "desired": "stopped_locally", "image": "registry.lan/a:1"},
            {"name": "c", "desired": "run", "image": "registry.lan/b:1"},
            {"name": "d", "desired": "not_wanted", "image": "registry.lan/gone:1"},
            {"name": "e", "desired": "no_image", "image": null},
        ]);
        assert_eq!(
            images_of(&services),
            ["registry.lan/a:1", "registry.lan/b:1"]
        );
    }
}
