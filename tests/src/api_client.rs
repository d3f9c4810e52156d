//! The service API as its clients see it: a host launched with its own config directory
//! and ports, an HTTP client that checks every JSON answer against the OpenAPI document
//! the host serves, and a Server-Sent Events reader.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{eventually, Ashtray, Launch};
use crate::world::World;

/// The shell line a service runs inside its container to call its own API as a service
/// would: `GET /api/v1/self` at `$ASHTRAY_API_URL` with `$ASHTRAY_SERVICE_TOKEN`, printing
/// the answer.
pub const CALL_OWN_API: &str = r#"wget -qO- --header "Authorization: Bearer $ASHTRAY_SERVICE_TOKEN" "$ASHTRAY_API_URL/api/v1/self""#;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    // A port the kernel gave and took back at once may be given again (to another test's
    // ashtray, or a client connection) before ashtray binds it: 20 hosts started together
    // lost one to that. So: below the kernel's ephemeral range (32768 and up on Linux),
    // in a slice held by this test process alone (nextest runs each test as its own
    // process), never handed out twice by one process, and checked free by a bind.
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let slice = port_slice();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < PORTS_PER_SLICE,
            "a test asked for more than {PORTS_PER_SLICE} ports"
        );
        let port = u16::try_from(FIRST + slice * PORTS_PER_SLICE + n).expect("a port number");
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

const PORTS_PER_SLICE: u32 = 240;
const PORT_SLICES: u32 = 50;

/// This process's slice of test ports: the first of the slice files no other live test
/// process holds a lock on. The lock goes with the process, however it ends, so a slice
/// is never shared by two processes at once (a slice chosen by pid was, once).
fn port_slice() -> u32 {
    static SLICE: std::sync::OnceLock<(u32, std::fs::File)> = std::sync::OnceLock::new();
    SLICE
        .get_or_init(|| {
            let dir = std::env::temp_dir().join("ashtray-test-ports");
            std::fs::create_dir_all(&dir).expect("a directory for the port slices' locks");
            for slice in 0..PORT_SLICES {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(dir.join(format!("slice-{slice}")))
                    .expect("a port slice's lock file");
                if file.try_lock().is_ok() {
                    return (slice, file);
                }
            }
            panic!("all {PORT_SLICES} test port slices are held by other test processes")
        })
        .0
}

/// Where containers on Docker's `bridge` network reach this machine, found as ashtray
/// finds it (so also on a first-started dockerd, whose inspect shows no gateway): where
/// the services' listener is, seen from this machine.
pub async fn bridge_gateway(world: &World) -> String {
    let network = world
        .engine
        .docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .expect("inspecting the bridge network");
    let interfaces = ashtray_engine::runtime::interface_addresses();
    ashtray_engine::runtime::host_address(&network, &interfaces)
        .unwrap_or_else(|| {
            panic!("the bridge network shows no address of this machine: {network:?}")
        })
        .to_string()
}

/// Where a test's ashtray keeps its token and listens.
#[derive(Clone)]
pub struct ApiSetup {
    pub config_dir: PathBuf,
    pub control_port: u16,
    pub services_port: u16,
}

impl ApiSetup {
    pub fn new(config_dir: PathBuf) -> ApiSetup {
        ApiSetup {
            config_dir,
            control_port: free_port(),
            services_port: free_port(),
        }
    }

    /// `launch` with this config directory and these ports (kept across restarts, as a
    /// user's would be).
    pub fn apply(&self, launch: Launch) -> Launch {
        launch
            .env("ASHTRAY_CONFIG_DIR", self.config_dir.to_str().unwrap())
            .env(
                "ASHTRAY_LISTEN",
                &format!("127.0.0.1:{}", self.control_port),
            )
            .env("ASHTRAY_SERVICES_PORT", &self.services_port.to_string())
    }

    pub fn control_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.control_port)
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.config_dir.join("token"))
            .expect("ashtray wrote its token")
            .trim()
            .to_string()
    }
}

/// An answer: status, headers and body (JSON when it is JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

/// A client of one listener, with a token (or none).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
    doc: Option<Value>,
}

impl Api {
    pub fn new(base: &str, token: Option<&str>) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            doc: None,
        }
    }

    /// Checks every later JSON answer against `doc`.
    pub fn checked_against(mut self, doc: Value) -> Api {
        self.doc = Some(doc);
        self
    }

    /// The same client without the document's checks (for routes it must not have).
    pub fn unchecked(&self) -> Api {
        Api {
            doc: None,
            ..self.clone()
        }
    }

    pub fn with_token(&self, token: Option<&str>) -> Api {
        Api {
            token: token.map(str::to_string),
            ..self.clone()
        }
    }

    /// Waits until the listener answers `/healthz`.
    pub async fn wait_up(&self, daemon: &Ashtray) -> bool {
        let up = eventually(Duration::from_secs(30), || async {
            let answer = self
                .http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .ok()?;
            answer.status().is_success().then_some(())
        })
        .await
        .is_some();
        if !up {
            eprintln!("ashtray's output:\n{}", daemon.output());
        }
        up
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        let answer = Answer {
            status,
            headers,
            text,
            json,
        };
        if let Some(doc) = &self.doc {
            check_answer(doc, method.as_str(), path, &answer);
        }
        answer
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str) -> Answer {
        self.request(Method::POST, path, None).await
    }

    /// Opens a Server-Sent Events stream.
    pub async fn sse(&self, path: &str) -> impl Stream<Item = Event> + Unpin {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("opening an event stream");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{path}: {content_type}"
        );
        Box::pin(
            response
                .bytes_stream()
                .eventsource()
                .map(|event| event.expect("a well-formed event")),
        )
    }
}

/// The OpenAPI path template matching a concrete path, e.g. `/api/v1/services/{name}`.
pub fn template_of<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap();
    let parts: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|template| {
            let wanted: Vec<&str> = template.split('/').collect();
            wanted.len() == parts.len()
                && wanted
                    .iter()
                    .zip(&parts)
                    .all(|(w, p)| w.starts_with('{') || w == p)
        })
}

/// Validates `instance` against the schema `schema` of the document.
pub fn validate(doc: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
    let root = json!({"allOf": [schema], "components": doc["components"]});
    let validator = jsonschema::draft202012::new(&root)
        .map_err(|e| format!("the document's schema does not compile: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Every documented answer must match its schema; an undocumented status is an error.
fn check_answer(doc: &Value, method: &str, path: &str, answer: &Answer) {
    let Some(template) = template_of(doc, path) else {
        return;
    };
    let operation = &doc["paths"][template][method.to_ascii_lowercase()];
    if operation.is_null() {
        return;
    }
    let status = answer.status.as_u16().to_string();
    let response = &operation["responses"][&status];
    assert!(
        !response.is_null(),
        "{method} {path} answered {status}, which the OpenAPI document does not list: {}",
        answer.text
    );
    if let Some(schema) = response["content"]["application/json"].get("schema") {
        if let Err(error) = validate(doc, schema, &answer.json) {
            panic!(
                "{method} {path} ({status}) does not match the OpenAPI document: {error}\n{}",
                answer.text
            );
        }
    }
}

/// The listener address of a URL like `http://127.0.0.1:1234`.
pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a host:port URL")
}
