//! The service API end to end: the real `ashtray --daemon`, real dockerd, the fake AYON
//! server. Every JSON answer is checked against the OpenAPI document the host serves.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ashtray_tests::api_client::{bridge_gateway, validate, Api, ApiSetup, CALL_OWN_API};
use ashtray_tests::harness::{ashtray_bin, eventually, Ashtray};
use ashtray_tests::images;
use ashtray_tests::world::{slug, World, CONVERGE};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A world with a running ashtray and clients of both its listeners.
struct Hosted {
    // Fields drop in this order: ashtray must be gone before the world removes its
    // containers, or it would start them again.
    daemon: Ashtray,
    world: World,
    setup: ApiSetup,
    _config: tempfile::TempDir,
    /// The control API with the right token, checked against its OpenAPI document.
    control: Api,
    /// The control listener's document.
    doc: Value,
    /// The services' listener (no token), checked against its own document.
    services: Api,
    /// The services' listener's document.
    services_doc: Value,
}

impl Hosted {
    async fn start(world: World) -> Hosted {
        let config = tempfile::tempdir().unwrap();
        let setup = ApiSetup::new(config.path().join("ashtray"));
        let daemon = setup.apply(world.launch()).spawn();
        let anonymous = Api::new(&setup.control_url(), None);
        assert!(
            anonymous.wait_up(&daemon).await,
            "the control API never answered"
        );
        let doc = anonymous.get("/api/v1/openapi.json").await.json;
        assert!(doc["paths"].is_object(), "no OpenAPI document: {doc}");
        let control =
            Api::new(&setup.control_url(), Some(&setup.token())).checked_against(doc.clone());
        let gateway = bridge_gateway(&world).await;
        let services = Api::new(&format!("http://{gateway}:{}", setup.services_port), None);
        let services_doc = services.get("/api/v1/openapi.json").await.json;
        assert!(
            services_doc["paths"].is_object(),
            "no OpenAPI document on the services' listener: {services_doc}"
        );
        let services = services.checked_against(services_doc.clone());
        Hosted {
            world,
            setup,
            _config: config,
            daemon,
            control,
            doc,
            services,
            services_doc,
        }
    }

    async fn restart_daemon(&mut self) {
        self.daemon.signal("TERM");
        assert!(
            self.daemon
                .wait_exit(Duration::from_secs(15))
                .await
                .is_some(),
            "ashtray did not stop on SIGTERM"
        );
        self.daemon = self.setup.apply(self.world.launch()).spawn();
        assert!(
            self.control.wait_up(&self.daemon).await,
            "the control API never came back"
        );
    }

    /// Waits until the API shows `name` in `state`.
    async fn wait_state(&self, name: &str, state: &str) -> Value {
        let found = eventually(CONVERGE, || async {
            let answer = self.control.get(&format!("/api/v1/services/{name}")).await;
            (answer.status == StatusCode::OK && answer.json["state"] == state)
                .then_some(answer.json)
        })
        .await;
        match found {
            Some(found) => found,
            None => {
                let now = self.control.get("/api/v1/services").await.json;
                panic!(
                    "{name} never became {state}: {now:#}\n{}",
                    self.daemon.output()
                )
            }
        }
    }

    /// A service's token, read from its container like the service itself would.
    async fn service_env(&self, name: &str, key: &str) -> String {
        self.world
            .engine
            .service_env(name, key)
            .await
            .unwrap_or_else(|| panic!("{key} is not in the environment of {name}'s container"))
    }
}

fn cli(setup: &ApiSetup, args: &[&str]) -> std::process::Output {
    Command::new(ashtray_bin())
        .args(args)
        .env("ASHTRAY_CONFIG_DIR", &setup.config_dir)
        .env_remove("ASHTRAY_LISTEN")
        .env_remove("AYON_SERVER_URL")
        .env_remove("AYON_API_KEY")
        .output()
        .expect("running ashtray")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn every_control_endpoint_answers_as_the_openapi_document_says() {
    let world = World::new("api-all").await;
    let name = world.declare("tick", "ticker", json!({"env": {"GREETING": "hi"}}));
    let hosted = Hosted::start(world).await;
    let api = &hosted.control;

    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
    // The log says where the API listens.
    assert!(
        hosted
            .daemon
            .wait_for_output("the control API listens", CONVERGE)
            .await
    );
    assert!(
        hosted.daemon.output().contains(&hosted.setup.control_url()),
        "{}",
        hosted.daemon.output()
    );
    let running = hosted.wait_state(&name, "running").await;
    assert_eq!(running["desired"], "run");
    assert_eq!(running["image"], images::TICKER);
    assert!(
        running["container_id"]
            .as_str()
            .is_some_and(|id| id.len() >= 12),
        "{running}"
    );

    let host = api.get("/api/v1/host").await;
    assert_eq!(host.status, StatusCode::OK);
    assert_eq!(host.json["hostname"], hosted.world.host);
    assert_eq!(host.json["server"]["state"], "connected");
    assert_eq!(host.json["engine"]["state"], "up");
    assert_eq!(host.json["paused"], false);

    let services = api.get("/api/v1/services").await;
    assert_eq!(
        services.json.as_array().unwrap().len(),
        1,
        "{}",
        services.text
    );
    assert!(services.json[0]["uptime_ms"].is_u64());

    let logs = eventually(CONVERGE, || async {
        let logs = api
            .get(&format!("/api/v1/services/{name}/logs?tail=3"))
            .await;
        (logs.json["lines"].as_array()?.len() == 3).then_some(logs)
    })
    .await
    .expect("three lines of output");
    assert!(
        logs.json["lines"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("tick "),
        "{}",
        logs.text
    );

    let missing = api.get("/api/v1/services/nobody-here").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json["error"]
        .as_str()
        .unwrap()
        .contains("nobody-here"));
    assert_eq!(
        api.post("/api/v1/services/nobody-here/stop").await.status,
        StatusCode::NOT_FOUND
    );
    let bad = api
        .get(&format!("/api/v1/services/{name}/logs?tail=many"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Restart: a new container.
    let before = running["container_id"].as_str().unwrap().to_string();
    let restart = api.post(&format!("/api/v1/services/{name}/restart")).await;
    assert_eq!(restart.status, StatusCode::ACCEPTED);
    assert_eq!(restart.json, json!({"service": name, "action": "restart"}));
    eventually(CONVERGE, || async {
        let now = api.get(&format!("/api/v1/services/{name}")).await.json;
        (now["state"] == "running"
            && now["container_id"].as_str() != Some(&before)
            && now["container_id"].is_string())
        .then_some(())
    })
    .await
    .expect("restart gives the service a new container");

    // Pause all, then resume.
    let pause = api.post("/api/v1/pause").await;
    assert_eq!(
        (pause.status, pause.json.clone()),
        (StatusCode::ACCEPTED, json!({"paused": true}))
    );
    assert!(
        hosted.world.wait_running(&[]).await,
        "pause all leaves containers running"
    );
    assert_eq!(api.get("/api/v1/host").await.json["overall"], "paused");
    let resume = api.post("/api/v1/resume").await;
    assert_eq!(resume.json, json!({"paused": false}));
    assert!(hosted.world.wait_running(&[&name]).await);

    // Metrics, in Prometheus' text format, naming the build as the host view does.
    let host = api.get("/api/v1/host").await.json;
    let commit = host["commit"].as_str().expect("the host names its commit");
    assert_eq!(host["version"], env!("CARGO_PKG_VERSION"));
    let build_info = format!(
        "ashtray_build_info{{version=\"{}\",commit=\"{commit}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let metrics = api.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    for series in [
        "ashtray_services{state=\"running\"}",
        "ashtray_service_restarts_total",
        "ashtray_heartbeats_total{result=\"ok\"}",
        "ashtray_heartbeat_failures_total",
        "ashtray_heartbeat_latency_seconds_sum",
        "ashtray_reconcile_duration_seconds_count",
        "ashtray_log_lines_dropped_total{reason=\"evicted\"}",
        &build_info,
    ] {
        assert!(
            metrics.text.contains(series),
            "/metrics lacks {series}:\n{}",
            metrics.text
        );
    }
    let restarts: f64 = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("ashtray_service_restarts_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(restarts >= 1.0, "{}", metrics.text);

    // The UI is served at /, and CORS admits the Tauri window alone.
    let cors = |origin: &'static str| {
        let base = hosted.setup.control_url();
        async move {
            reqwest::Client::new()
                .request(Method::OPTIONS, format!("{base}/api/v1/host"))
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "GET")
                .header("Access-Control-Request-Headers", "authorization")
                .send()
                .await
                .unwrap()
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_string())
        }
    };
    assert_eq!(
        cors("tauri://localhost").await.as_deref(),
        Some("tauri://localhost")
    );
    assert_eq!(
        cors("http://tauri.localhost").await.as_deref(),
        Some("http://tauri.localhost")
    );
    assert_eq!(cors("http://evil.example").await, None);

    // Nothing the API says holds the AYON API key.
    let key = hosted.world.fake.service_key();
    for path in [
        "/api/v1/host",
        "/api/v1/services",
        "/metrics",
        &format!("/api/v1/services/{name}/logs?tail=5000"),
    ] {
        assert!(
            !api.get(path).await.text.contains(&key),
            "{path} shows the AYON API key"
        );
    }
}

#[tokio::test]
async fn every_auth_rule_holds_on_both_listeners() {
    let world = World::new("api-auth").await;
    let a = world.declare("a", "ticker", json!(null));
    let b = world.declare("b", "ticker", json!(null));
    let hosted = Hosted::start(world).await;
    hosted.wait_state(&a, "running").await;
    hosted.wait_state(&b, "running").await;
    let token_a = hosted.service_env(&a, "ASHTRAY_SERVICE_TOKEN").await;
    let token_b = hosted.service_env(&b, "ASHTRAY_SERVICE_TOKEN").await;
    assert_ne!(token_a, token_b);
    let control_token = hosted.setup.token();
    // No answer of the control API holds a service's token or the AYON API key.
    let key = hosted.world.fake.service_key();
    for path in [
        "/api/v1/host".to_string(),
        "/api/v1/services".to_string(),
        format!("/api/v1/services/{a}"),
        "/metrics".to_string(),
    ] {
        let answer = hosted.control.get(&path).await.text;
        for secret in [&token_a, &token_b, &key] {
            assert!(!answer.contains(secret.as_str()), "{path} shows a secret");
        }
    }

    let control_routes = [
        (Method::GET, "/api/v1/host".to_string()),
        (Method::GET, "/api/v1/services".to_string()),
        (Method::GET, format!("/api/v1/services/{a}")),
        (Method::GET, format!("/api/v1/services/{a}/logs")),
        (Method::POST, format!("/api/v1/services/{a}/stop")),
        (Method::POST, format!("/api/v1/services/{a}/start")),
        (Method::POST, format!("/api/v1/services/{a}/restart")),
        (Method::POST, "/api/v1/pause".to_string()),
        (Method::POST, "/api/v1/resume".to_string()),
        (Method::GET, "/api/v1/events".to_string()),
        (Method::GET, "/metrics".to_string()),
    ];
    for token in [
        None,
        Some("wrong"),
        Some(token_a.as_str()),
        Some(&control_token[..10]),
    ] {
        let api = hosted.control.with_token(token);
        for (method, path) in &control_routes {
            let answer = api.request(method.clone(), path, None).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}"
            );
            assert!(
                answer.text.is_empty(),
                "a 401 says nothing else: {}",
                answer.text
            );
        }
    }
    // EventSource cannot send headers: the token may come as ?token= on GET, not on POST.
    let by_query = Api::new(&hosted.setup.control_url(), None);
    assert_eq!(
        by_query
            .get(&format!("/api/v1/host?token={control_token}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        by_query.get("/api/v1/host?token=wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        by_query
            .post(&format!("/api/v1/pause?token={control_token}"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // The services' listener: a service token reaches its own service and nothing else.
    let services = &hosted.services;
    let own = services
        .with_token(Some(&token_a))
        .get("/api/v1/self")
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.json["name"], a);
    assert_eq!(
        services
            .with_token(Some(&token_b))
            .get("/api/v1/self")
            .await
            .json["name"],
        b
    );
    for token in [
        None,
        Some("wrong"),
        Some(control_token.as_str()),
        Some(&token_a[..20]),
    ] {
        let answer = services.with_token(token).get("/api/v1/self").await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "self with {token:?}"
        );
        assert!(answer.text.is_empty());
        let post = services
            .with_token(token)
            .request(
                Method::POST,
                "/api/v1/self/status",
                Some(json!({"state": "ok"})),
            )
            .await;
        assert_eq!(post.status, StatusCode::UNAUTHORIZED);
    }
    // The services' listener serves no control route, whatever the token.
    for token in [Some(control_token.as_str()), Some(token_a.as_str())] {
        let api = services.with_token(token).unchecked();
        assert_eq!(api.get("/api/v1/host").await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            api.post(&format!("/api/v1/services/{b}/stop")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    // A service's token names no other service: b's status is untouched by a's report.
    let report = services
        .with_token(Some(&token_a))
        .request(
            Method::POST,
            "/api/v1/self/status",
            Some(json!({"state": "busy", "message": "a only"})),
        )
        .await;
    assert_eq!(report.status, StatusCode::NO_CONTENT);
    let seen_b = hosted
        .control
        .get(&format!("/api/v1/services/{b}"))
        .await
        .json;
    assert!(seen_b["reported"].is_null(), "{seen_b}");
    // The healthz of both needs no token; their OpenAPI documents either.
    for path in ["/healthz", "/api/v1/openapi.json"] {
        assert_eq!(
            services.with_token(None).get(path).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        hosted
            .control
            .with_token(None)
            .get("/api/v1/openapi.json")
            .await
            .status,
        StatusCode::OK
    );
}

/// Runs `sh -c script` inside the service's container and gives its output.
fn exec_in(container: &str, script: &str) -> (bool, String) {
    let output = images::docker_cli()
        .args(["exec", container, "sh", "-c", script])
        .output()
        .expect("docker exec");
    (
        output.status.success(),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

#[tokio::test]
async fn a_service_reads_its_spec_and_reports_its_status_from_inside_its_container() {
    let world = World::new("api-self").await;
    let name = world.declare(
        "self",
        "ticker",
        json!({"env": {"MODE": "fast", "AYON_API_KEY": "not-for-anyone"}}),
    );
    let hosted = Hosted::start(world).await;
    hosted.wait_state(&name, "running").await;
    let container = slug(&name);

    let (ok, body) = exec_in(&container, CALL_OWN_API);
    assert!(
        ok,
        "GET /api/v1/self from inside the container failed: {body}\n{}",
        hosted.daemon.output()
    );
    let me: Value = serde_json::from_str(&body).expect("JSON");
    let schema = &hosted.services_doc["paths"]["/api/v1/self"]["get"]["responses"]["200"]
        ["content"]["application/json"]["schema"];
    validate(&hosted.services_doc, schema, &me).unwrap();
    assert_eq!(me["name"], name);
    assert_eq!(me["spec"]["image"], images::TICKER);
    assert_eq!(
        me["spec"]["env"],
        json!({"MODE": "fast"}),
        "the spec's env, secrets left out"
    );
    let token = hosted.service_env(&name, "ASHTRAY_SERVICE_TOKEN").await;
    assert!(
        !body.contains("not-for-anyone")
            && !body.contains(&token)
            && !body.contains(&hosted.world.fake.service_key()),
        "{body}"
    );

    let (ok, out) = exec_in(
        &container,
        r#"wget -qO- --header "Authorization: Bearer $ASHTRAY_SERVICE_TOKEN" --header "Content-Type: application/json" --post-data '{"state": "busy", "message": "rendering shot 10", "progress": 40}' "$ASHTRAY_API_URL/api/v1/self/status""#,
    );
    assert!(
        ok,
        "POST /api/v1/self/status from inside the container failed: {out}"
    );
    let shown = eventually(CONVERGE, || async {
        let service = hosted
            .control
            .get(&format!("/api/v1/services/{name}"))
            .await
            .json;
        (service["reported"]["state"] == "busy").then_some(service)
    })
    .await
    .expect("the reported status shows in the control API");
    assert_eq!(shown["reported"]["message"], "rendering shot 10");
    assert_eq!(shown["reported"]["progress"], 40.0);

    // A malformed report is refused with a reason, from inside too.
    let (ok, _) = exec_in(
        &container,
        r#"wget -qO- --header "Authorization: Bearer $ASHTRAY_SERVICE_TOKEN" --header "Content-Type: application/json" --post-data '{"state": "sleepy"}' "$ASHTRAY_API_URL/api/v1/self/status""#,
    );
    assert!(!ok, "a bad state is refused");
    let bad = hosted
        .services
        .with_token(Some(&token))
        .request(
            Method::POST,
            "/api/v1/self/status",
            Some(json!({"state": "ok", "progress": 140})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["error"].as_str().unwrap().contains("140"));
}

#[tokio::test]
async fn a_stop_holds_across_a_restart_of_ashtray_until_start() {
    let world = World::new("api-stop").await;
    let name = world.declare("held", "ticker", json!(null));
    let other = world.declare("other", "ticker", json!(null));
    let mut hosted = Hosted::start(world).await;
    hosted.wait_state(&name, "running").await;

    let stop = hosted
        .control
        .post(&format!("/api/v1/services/{name}/stop"))
        .await;
    assert_eq!(stop.status, StatusCode::ACCEPTED);
    assert!(
        hosted.world.wait_running(&[&other]).await,
        "the stopped service's container is still there"
    );
    let seen = hosted.wait_state(&name, "stopped").await;
    assert_eq!(seen["desired"], "stopped_locally");
    // Restart refuses a locally stopped service, saying why.
    let refused = hosted
        .control
        .post(&format!("/api/v1/services/{name}/restart"))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    hosted.restart_daemon().await;
    // Several heartbeats later it still does not run, and says why.
    assert!(hosted.world.wait_heartbeats(3, 200).await);
    assert_eq!(hosted.world.running_names().await, vec![slug(&other)]);
    let seen = hosted.wait_state(&name, "stopped").await;
    assert_eq!(seen["desired"], "stopped_locally");
    // The server hears that it does not run here; the other one does.
    let beat = hosted
        .world
        .fake
        .heartbeats()
        .last()
        .cloned()
        .expect("a heartbeat");
    assert_eq!(beat.body["services"], json!([other]), "{}", beat.body);

    let start = hosted
        .control
        .post(&format!("/api/v1/services/{name}/start"))
        .await;
    assert_eq!(start.status, StatusCode::ACCEPTED);
    assert!(hosted.world.wait_running(&[&name, &other]).await);
}

#[tokio::test]
async fn a_log_stream_follows_a_chatty_service_within_its_bounds() {
    let world = World::new("api-chatty").await;
    let name = world.declare("chatty", "chatty", json!(null));
    let hosted = Hosted::start(world).await;
    hosted.wait_state(&name, "running").await;
    let mut stream = hosted
        .control
        .sse(&format!("/api/v1/services/{name}/logs?follow=true&tail=10"))
        .await;

    // A reader that keeps up sees lines in order.
    let mut last_seq = 0;
    let mut lines = 0;
    while lines < 2_000 {
        let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("lines keep coming")
            .expect("the stream goes on");
        if event.event == "line" {
            let line: Value = serde_json::from_str(&event.data).unwrap();
            let seq = line["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "lines out of order: {seq} after {last_seq}");
            assert_eq!(event.id, seq.to_string());
            last_seq = seq;
            lines += 1;
            assert!(line["text"]
                .as_str()
                .unwrap()
                .starts_with("a chatty service"));
        }
    }

    drop(stream);

    // A reader that stalls loses the oldest lines and is told how many. Its socket has a
    // small receive buffer, so that what the kernel holds for it stays far below what
    // the service prints meanwhile.
    let stalled = stalled_follower(&hosted, &name).await;
    let produced = |hosted: &Hosted| {
        let name = name.clone();
        let api = hosted.control.clone();
        async move {
            let tail = api
                .get(&format!("/api/v1/services/{name}/logs?tail=1"))
                .await;
            tail.json["lines"][0]["seq"].as_u64().unwrap_or(0)
        }
    };
    let from = produced(&hosted).await;
    // Far more than the follower may lag (4 096 lines) plus what the sockets hold.
    let enough = from + 15_000;
    assert!(
        eventually(Duration::from_secs(120), || async {
            (produced(&hosted).await >= enough).then_some(())
        })
        .await
        .is_some(),
        "the chatty service did not print 15 000 lines in 2 minutes"
    );
    let missed = stalled.read_missed().await;
    assert!(missed > 0);

    // Meanwhile the buffer stays within its bounds, and so does ashtray.
    let limit_bytes = 2 * 1024 * 1024;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut peak_rss_kb = 0;
    while Instant::now() < deadline {
        let metrics = hosted.control.get("/metrics").await.text;
        let buffered: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("ashtray_log_buffer_bytes "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            buffered <= limit_bytes as f64,
            "the log buffer holds {buffered} bytes"
        );
        let tail = hosted
            .control
            .get(&format!("/api/v1/services/{name}/logs?tail=1000000"))
            .await;
        assert!(
            tail.json["lines"].as_array().unwrap().len() <= 5_000,
            "the buffer keeps more lines than its bound"
        );
        peak_rss_kb = peak_rss_kb.max(ashtray_tests::proc_stats::rss_kib(hosted.daemon.pid()));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        peak_rss_kb < 200 * 1024,
        "ashtray grew to {peak_rss_kb} kB while a service floods its output"
    );
    let metrics = hosted.control.get("/metrics").await.text;
    assert!(
        metrics.contains("ashtray_log_lines_dropped_total{reason=\"slow_follower\"}"),
        "{metrics}"
    );
    // The engine is not stalled by it: the API still answers promptly.
    let started = Instant::now();
    assert_eq!(
        hosted.control.get("/api/v1/host").await.status,
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A service's buffered log lines, oldest first.
async fn log_texts(hosted: &Hosted, name: &str) -> Vec<String> {
    let tail = hosted
        .control
        .get(&format!("/api/v1/services/{name}/logs?tail=5000"))
        .await;
    tail.json["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| l["text"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The ticker prints `tick 1`, `tick 2`, ... and `bye` when stopped; each container's
/// run is one such count. A line read twice shows as a count that starts again without
/// a new container, or as a second `bye`.
fn ticker_runs(texts: &[String]) -> Vec<(u64, bool)> {
    let mut runs: Vec<(u64, bool)> = Vec::new();
    for text in texts {
        if text == "bye" {
            let run = runs.last_mut().expect("a bye after some ticks");
            assert!(!run.1, "two byes for one run: {texts:?}");
            run.1 = true;
            continue;
        }
        let n: u64 = text
            .strip_prefix("tick ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a ticker line: {text:?}"));
        match runs.last_mut() {
            Some((last, false)) => {
                assert_eq!(n, *last + 1, "tick {n} after tick {last}: {texts:?}");
                *last = n;
            }
            _ => {
                assert_eq!(n, 1, "a new run starts at tick 1: {texts:?}");
                runs.push((1, false));
            }
        }
    }
    runs
}

/// Stop and Restart end a container's output stream while the engine may still list it
/// running; the follower that attaches again must read on, not the whole past again. A
/// restart's new container brings its own lines, from its first.
#[tokio::test]
async fn stop_and_restart_never_read_a_line_twice() {
    let world = World::new("api-log-once").await;
    let name = world.declare("once", "ticker", json!(null));
    let hosted = Hosted::start(world).await;
    hosted.wait_state(&name, "running").await;
    // Waits for the `run`th container to have printed `at_least` ticks.
    let ticks = |run: usize, at_least: u64| {
        let hosted = &hosted;
        let name = name.clone();
        async move {
            eventually(CONVERGE, || async {
                let runs = ticker_runs(&log_texts(hosted, &name).await);
                (runs.len() >= run && runs[run - 1].0 >= at_least).then_some(runs)
            })
            .await
            .unwrap_or_else(|| panic!("{name}'s run {run} never printed {at_least} ticks"))
        }
    };
    assert_eq!(ticks(1, 10).await.len(), 1);

    let restart = hosted
        .control
        .post(&format!("/api/v1/services/{name}/restart"))
        .await;
    assert_eq!(restart.status, StatusCode::ACCEPTED, "{}", restart.text);
    let runs = ticks(2, 10).await;
    assert_eq!(runs.len(), 2, "one run per container: {runs:?}");
    assert!(runs[0].1, "the old container's bye is there once: {runs:?}");

    let stop = hosted
        .control
        .post(&format!("/api/v1/services/{name}/stop"))
        .await;
    assert_eq!(stop.status, StatusCode::ACCEPTED, "{}", stop.text);
    hosted.wait_state(&name, "stopped").await;
    // A few looks at the engine later, nothing came back.
    assert!(hosted.world.wait_heartbeats(3, 200).await);
    let texts = log_texts(&hosted, &name).await;
    let runs = ticker_runs(&texts);
    assert_eq!(runs.len(), 2, "no run read again after the stop: {texts:?}");
    assert!(runs[1].1, "the stopped container said bye: {texts:?}");
}

/// A log follower on a raw socket with a small receive buffer, reading nothing until asked.
struct StalledFollower(tokio::net::TcpStream);

async fn stalled_follower(hosted: &Hosted, name: &str) -> StalledFollower {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = hosted
        .setup
        .control_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut stream = socket
        .connect(addr)
        .await
        .expect("connecting to the control API");
    let request = format!(
        "GET /api/v1/services/{name}/logs?follow=true&tail=0 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
        hosted.setup.token()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    StalledFollower(stream)
}

impl StalledFollower {
    /// Reads on until a `missed` event and gives its count.
    async fn read_missed(mut self) -> u64 {
        use tokio::io::AsyncReadExt;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let mut buffer = vec![0; 64 * 1024];
        let mut total = 0;
        loop {
            assert!(
                Instant::now() < deadline,
                "a slow reader is never told it missed lines ({total} bytes read; last: {})",
                String::from_utf8_lossy(&seen[seen.len().saturating_sub(400)..])
            );
            let read = tokio::time::timeout(Duration::from_secs(10), self.0.read(&mut buffer))
                .await
                .expect("the stream goes on")
                .unwrap();
            assert!(read > 0, "the stream ended");
            total += read;
            seen.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&seen);
            if let Some(at) = text.find("event: missed\n") {
                let rest = &text[at..];
                if let Some(data) = rest.lines().find_map(|l| l.strip_prefix("data: ")) {
                    if let Ok(value) = serde_json::from_str::<Value>(data) {
                        return value["missed"].as_u64().unwrap();
                    }
                }
            }
            // Keep only the tail: an event never spans more than a few hundred bytes.
            if seen.len() > 256 * 1024 {
                seen.drain(..seen.len() - 4096);
            }
        }
    }
}

#[tokio::test]
async fn events_arrive_in_order_each_followed_by_the_new_state() {
    let world = World::new("api-events").await;
    let hosted = Hosted::start(world).await;
    // As a browser's EventSource would: the token in the query.
    let token = hosted.setup.token();
    let mut stream = Api::new(&hosted.setup.control_url(), None)
        .sse(&format!("/api/v1/events?token={token}"))
        .await;
    let first = next_event(&mut stream).await;
    assert_eq!(first.event, "state");
    let state: Value = serde_json::from_str(&first.data).unwrap();
    validate(
        &hosted.doc,
        &json!({"$ref": "#/components/schemas/HostView"}),
        &state,
    )
    .unwrap();

    let name = hosted.world.declare("ev", "ticker", json!(null));
    let mut last_seq = 0;
    let mut transitions = Vec::new();
    let mut state_after_running = false;
    let mut pending_state = false;
    while !state_after_running {
        let event = next_event(&mut stream).await;
        let data: Value = serde_json::from_str(&event.data).unwrap();
        if event.event == "state" {
            validate(
                &hosted.doc,
                &json!({"$ref": "#/components/schemas/HostView"}),
                &data,
            )
            .unwrap();
            pending_state = false;
            if transitions.last().map(String::as_str) == Some("running") {
                let shown = data["services"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["name"] == name)
                    .cloned()
                    .unwrap();
                assert_eq!(shown["state"], "running");
                state_after_running = true;
            }
            continue;
        }
        validate(
            &hosted.doc,
            &json!({"$ref": "#/components/schemas/EventEnvelope"}),
            &data,
        )
        .unwrap();
        assert_eq!(data["type"], event.event);
        let seq = data["seq"].as_u64().unwrap();
        assert_eq!(event.id, seq.to_string());
        assert!(
            last_seq == 0 || seq == last_seq + 1,
            "events out of order or lost: {seq} after {last_seq}"
        );
        last_seq = seq;
        pending_state = true;
        if event.event == "service_state" && data["service"] == name {
            transitions.push(data["to"].as_str().unwrap().to_string());
        }
    }
    assert!(!pending_state);
    let first = transitions.first().map(String::as_str);
    assert!(
        matches!(first, Some("pending" | "starting")),
        "a new service is first pending or starting: {transitions:?}"
    );

    // A local stop shows up as the next transitions, in order.
    assert_eq!(
        hosted
            .control
            .post(&format!("/api/v1/services/{name}/stop"))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let mut after_stop = Vec::new();
    while after_stop.last().map(String::as_str) != Some("stopped") {
        let event = next_event(&mut stream).await;
        if event.event == "service_state" {
            let data: Value = serde_json::from_str(&event.data).unwrap();
            let seq = data["seq"].as_u64().unwrap();
            assert_eq!(seq, last_seq + 1, "events out of order or lost");
            last_seq = seq;
            after_stop.push(data["to"].as_str().unwrap().to_string());
        } else if event.event != "state" {
            last_seq = serde_json::from_str::<Value>(&event.data).unwrap()["seq"]
                .as_u64()
                .unwrap_or(last_seq);
        }
    }
    assert!(
        after_stop
            .iter()
            .all(|s| ["stopping", "stopped"].contains(&s.as_str())),
        "{after_stop:?}"
    );
}

/// The page renders `GET /host` and every `state` event with one function: they must be
/// one view, services included, with who is logged in and moments rather than countdowns.
#[tokio::test]
async fn the_host_answers_and_the_state_event_are_one_view() {
    let world = World::new("api-one-view").await;
    let hosted = Hosted::start(world).await;
    let name = hosted.world.declare("one", "crasher", json!(null));
    let token = hosted.setup.token();
    let connected = |host: &Value| {
        host["server"]["state"] == "connected"
            && host["services"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["name"] == name && !s["next_restart_at_ms"].is_null())
            })
    };
    let got = eventually(CONVERGE, || async {
        let host = hosted.control.get("/api/v1/host").await.json;
        connected(&host).then_some(host)
    })
    .await
    .unwrap_or_else(|| panic!("never connected with {name} waiting to restart"));
    let mut stream = Api::new(&hosted.setup.control_url(), None)
        .sse(&format!("/api/v1/events?token={token}"))
        .await;
    let first = next_event(&mut stream).await;
    assert_eq!(first.event, "state");
    let streamed: Value = serde_json::from_str(&first.data).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&streamed),
        keys(&got),
        "the same fields, in the same order"
    );
    for view in [&got, &streamed] {
        validate(
            &hosted.doc,
            &json!({"$ref": "#/components/schemas/HostView"}),
            view,
        )
        .unwrap();
        assert_eq!(
            view["server"]["user"], "service-user",
            "who the key logs in as"
        );
        assert!(!view["version"].as_str().unwrap().is_empty());
        let service = view["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap();
        // A crash-looping service may be tried again now, stopped, or replaced.
        assert_eq!(
            service["actions"],
            json!({"start": true, "stop": true, "restart": true})
        );
        let at = service["next_restart_at_ms"].as_u64().unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        // Within the longest backoff (5 min) of now, in Unix ms, not a count of ms.
        assert!(at + 300_000 > now && at < now + 300_000, "{at} vs {now}");
    }
}

async fn next_event(
    stream: &mut (impl futures::Stream<Item = eventsource_stream::Event> + Unpin),
) -> eventsource_stream::Event {
    tokio::time::timeout(CONVERGE, stream.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
}

#[tokio::test]
async fn the_cli_shows_and_controls_the_running_host() {
    let world = World::new("api-cli").await;
    let name = world.declare("cli", "ticker", json!(null));
    let hosted = Hosted::start(world).await;
    hosted.wait_state(&name, "running").await;
    let setup = &hosted.setup;

    let token = cli(setup, &["token"]);
    assert!(token.status.success());
    assert_eq!(text(&token.stdout).trim(), setup.token());

    let status = cli(setup, &["status", "--json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).expect("status --json prints JSON");
    assert_eq!(status["host"]["hostname"], hosted.world.host);
    assert_eq!(status["services"][0]["name"], name);
    assert_eq!(status["services"][0]["state"], "running");

    let table = cli(setup, &["status"]);
    let table_text = text(&table.stdout);
    assert!(table.status.success());
    assert!(
        table_text.contains("NAME") && table_text.contains(&name) && table_text.contains("running"),
        "{table_text}"
    );
    assert!(table_text.contains(&hosted.world.host), "{table_text}");

    eventually(CONVERGE, || async {
        let logs = hosted
            .control
            .get(&format!("/api/v1/services/{name}/logs?tail=3"))
            .await;
        (logs.json["lines"].as_array()?.len() == 3).then_some(())
    })
    .await
    .expect("three lines of output");
    let logs = cli(setup, &["logs", &name, "--tail", "3"]);
    let logs_text = text(&logs.stdout);
    assert_eq!(logs_text.lines().count(), 3, "{logs_text}");
    assert!(
        logs_text.lines().all(|l| l.starts_with("tick ")),
        "{logs_text}"
    );

    // logs -f keeps printing new lines.
    let mut follow = std::process::Command::new(ashtray_bin())
        .args(["logs", &name, "-f", "--tail", "0", "--json"])
        .env("ASHTRAY_CONFIG_DIR", &setup.config_dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(3)
            .collect::<Vec<String>>()
    });
    let followed = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(followed.len(), 3);
    assert!(followed
        .iter()
        .all(|l| serde_json::from_str::<Value>(l).unwrap()["text"]
            .as_str()
            .unwrap()
            .starts_with("tick ")));

    let stop = cli(setup, &["stop", &name]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert!(text(&stop.stdout).contains("ashtray start"));
    assert!(hosted.world.wait_running(&[]).await);
    // What the host does not allow is refused with why and what to do, and not sent.
    let restart_stopped = cli(setup, &["restart", &name]);
    assert!(!restart_stopped.status.success());
    assert!(
        text(&restart_stopped.stderr).contains(&format!(
            "it is stopped on this host; run `ashtray start {name}` first"
        )),
        "{}",
        text(&restart_stopped.stderr)
    );
    let start = cli(setup, &["start", &name, "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&start.stdout).unwrap(),
        json!({"service": name, "action": "start"})
    );
    assert!(hosted.world.wait_running(&[&name]).await);
    let restart = cli(setup, &["restart", &name]);
    assert!(restart.status.success());
    let start_running = cli(setup, &["start", &name]);
    assert!(!start_running.status.success());
    assert!(
        text(&start_running.stderr).contains("there is nothing to start"),
        "{}",
        text(&start_running.stderr)
    );
    let pause = cli(setup, &["pause"]);
    assert!(pause.status.success(), "{}", text(&pause.stderr));
    assert!(hosted.world.wait_running(&[]).await);
    let start_paused = cli(setup, &["start", &name]);
    assert!(
        text(&start_paused.stderr)
            .contains("all services are paused on this host; run `ashtray resume`"),
        "{}",
        text(&start_paused.stderr)
    );
    let resume = cli(setup, &["resume"]);
    assert!(resume.status.success(), "{}", text(&resume.stderr));
    assert!(hosted.world.wait_running(&[&name]).await);

    let unknown = cli(setup, &["stop", "nobody-here"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("nobody-here"),
        "{}",
        text(&unknown.stderr)
    );
}

#[tokio::test]
async fn the_cli_says_in_one_line_when_ashtray_is_not_running() {
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().to_path_buf());
    let output = Command::new(ashtray_bin())
        .args([
            "status",
            "--listen",
            &format!("127.0.0.1:{}", setup.control_port),
        ])
        .env("ASHTRAY_CONFIG_DIR", &setup.config_dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = text(&output.stderr);
    assert_eq!(said.trim_end().lines().count(), 1, "{said}");
    assert!(said.contains("not running"), "{said}");
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn listening_beyond_loopback_warns_and_the_cli_follows_listen() {
    let world = World::new("api-wide").await;
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().to_path_buf());
    let daemon = setup
        .apply(world.launch())
        .env("ASHTRAY_LISTEN", &format!("0.0.0.0:{}", setup.control_port))
        .spawn();
    assert!(Api::new(&setup.control_url(), None).wait_up(&daemon).await);
    assert!(
        daemon
            .wait_for_output("listens beyond this machine", CONVERGE)
            .await,
        "{}",
        daemon.output()
    );
    let status = Command::new(ashtray_bin())
        .args([
            "status",
            "--json",
            "--listen",
            &format!("0.0.0.0:{}", setup.control_port),
        ])
        .env("ASHTRAY_CONFIG_DIR", &setup.config_dir)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["host"]["hostname"], world.host);
    // The token file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(setup.config_dir.join("token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Random requests over every route of the document, with and without the right token:
/// no answer may be a server error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_the_api_never_gets_a_server_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let world = World::new("api-fuzz").await;
    let name = world.declare("fz", "ticker", json!(null));
    let hosted = Hosted::start(world).await;
    hosted.wait_state(&name, "running").await;
    let service_token = hosted.service_env(&name, "ASHTRAY_SERVICE_TOKEN").await;
    let routes: Vec<(String, String)> = [&hosted.doc, &hosted.services_doc]
        .into_iter()
        .flat_map(|doc| doc["paths"].as_object().unwrap())
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect();
    assert!(routes.len() >= 12, "{routes:?}");

    let segment = prop_oneof![
        Just(name.clone()),
        "[a-zA-Z0-9._~-]{0,40}",
        "\\PC{0,20}",
        Just("..%2F..%2Fetc%2Fpasswd".to_string()),
        Just("%00".to_string()),
        Just("a%20b".to_string()),
    ];
    let query = prop_oneof![
        Just(String::new()),
        "(tail=[0-9]{1,25}|tail=-1|tail=x|follow=(true|false|yes|1)|token=[a-z]{0,8}|[a-z]{1,5}=[^&#]{0,10})(&(tail=[0-9]{1,6}|follow=false))?",
    ];
    let body = prop_oneof![
        Just(None),
        Just(Some("{}".to_string())),
        Just(Some("not json".to_string())),
        Just(Some(r#"{"state":"ok","progress":1e308}"#.to_string())),
        Just(Some(
            r#"{"state":"busy","progress":-0.0,"message":"x"}"#.to_string()
        )),
        Just(Some(r#"{"state":"error","extra":1}"#.to_string())),
        "\\PC{0,60}".prop_map(Some),
    ];
    let strategy = (0..routes.len(), segment, query, body, 0..3usize);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let control_token = hosted.setup.token();
    let (control, services) = (hosted.control.base.clone(), hosted.services.base.clone());
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(route, segment, query, body, who)| {
            let (template, method) = &routes[route];
            let mut path = template.replace(
                "{name}",
                &segment
                    .replace('/', "%2F")
                    .replace('?', "%3F")
                    .replace('#', "%23"),
            );
            // `follow=true` answers with an endless stream: only its status is looked at.
            let query = query.replace("follow=true", "follow=false");
            if !query.is_empty() {
                path = format!("{path}?{query}");
            }
            let base = if template.starts_with("/api/v1/self") {
                &services
            } else {
                &control
            };
            let token = [
                None,
                Some(control_token.as_str()),
                Some(service_token.as_str()),
            ][who];
            let status = handle.block_on(async {
                let mut request = reqwest::Client::new()
                    .request(
                        method.to_uppercase().parse().unwrap(),
                        format!("{base}{path}"),
                    )
                    .timeout(Duration::from_secs(10));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = &body {
                    request = request
                        .header("content-type", "application/json")
                        .body(body.clone());
                }
                request.send().await.map(|r| r.status())
            });
            let status =
                status.map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}")))?;
            prop_assert!(
                status.as_u16() < 500,
                "{} {} answered {}",
                method,
                path,
                status
            );
            Ok(())
        })
    });
    // The host survived it: it answers as its document says and still shows its service
    // (running, unless the fuzz stopped it).
    let alive = hosted.control.get("/api/v1/host").await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", hosted.daemon.output()));
    assert_eq!(alive.status, StatusCode::OK, "{}", alive.text);
    let documented = &hosted.doc["paths"]["/api/v1/host"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    validate(&hosted.doc, documented, &alive.json)
        .unwrap_or_else(|e| panic!("the host's answer after the fuzz: {e}\n{}", alive.text));
    let services = hosted.control.get("/api/v1/services").await;
    assert!(
        services
            .json
            .as_array()
            .is_some_and(|all| all.iter().any(|s| s["name"] == name)),
        "the fuzzed host still shows {name}: {}",
        services.text
    );
}

#[tokio::test]
async fn a_podman_service_reaches_its_own_api_too() {
    let world = World::new("api-podman").await;
    let podman = ashtray_tests::harness::Engine::podman().await;
    let name = world.declare("pod", "ticker", json!(null));
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().to_path_buf());
    let daemon = setup
        .apply(world.launch())
        .env("AYON_USE_PODMAN", "1")
        .spawn();
    let api = Api::new(&setup.control_url(), None);
    assert!(api.wait_up(&daemon).await);
    let api = api.with_token(Some(&setup.token()));
    let running = eventually(CONVERGE, || async {
        (api.get(&format!("/api/v1/services/{name}")).await.json["state"] == "running")
            .then_some(())
    })
    .await;
    let exec = Command::new("podman")
        .args(["exec", &slug(&name), "sh", "-c"])
        .arg(CALL_OWN_API)
        .output();
    let output = daemon.output();
    // Stop ashtray before cleaning up, or it would start the service again.
    drop(daemon);
    podman.clean(&world.prefix).await;
    assert!(running.is_some(), "{output}");
    let exec = exec.expect("podman exec");
    let body = text(&exec.stdout);
    assert!(
        exec.status.success(),
        "{body}{}\n{output}",
        text(&exec.stderr)
    );
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["name"], name);
}

/// ashtray started while the container engine was away opens the services' API the
/// moment the engine comes up, so a service's first call to it gets through: the
/// listener once waited for its next try, up to 3 s after the service ran, and a call in
/// that window was refused (seen with Podman answering slowly at start).
#[tokio::test]
async fn the_services_api_opens_as_soon_as_a_late_engine_comes_up() {
    let world = World::new("api-late").await;
    let name = world.declare("late", "ticker", json!(null));
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().to_path_buf());
    let engine = ashtray_tests::docker_proxy::ReservedSocket::new();
    let daemon = setup
        .apply(world.launch())
        .env("DOCKER_HOST", &engine.docker_host())
        .spawn();
    let deferred = daemon
        .wait_for_output("the services' API cannot listen yet", CONVERGE)
        .await;
    let _engine = engine.start();
    let api = Api::new(&setup.control_url(), Some(&setup.token()));
    let running = eventually(CONVERGE, || async {
        (api.get(&format!("/api/v1/services/{name}")).await.json["state"] == "running")
            .then_some(())
    })
    .await;
    // At once, the first time: no retry.
    let call = Command::new("docker")
        .args(["exec", &slug(&name), "sh", "-c"])
        .arg(CALL_OWN_API)
        .output();
    let output = daemon.output();
    // Stopped before the world cleans up, or it would start the service again.
    drop(daemon);
    assert!(deferred, "the engine was away, yet: {output}");
    assert!(running.is_some(), "{output}");
    let call = call.expect("docker exec");
    assert!(
        call.status.success(),
        "the service's first call was refused: {}{}\n{output}",
        text(&call.stdout),
        text(&call.stderr)
    );
    let me: Value = serde_json::from_str(&text(&call.stdout)).unwrap();
    assert_eq!(me["name"], name);
}

/// With 47120 taken (by this test, or by anyone else: either way the default is not free),
/// the control API takes a free port, and every place a user looks says which: the host
/// view (`dashboard_url`, so the window and the page can show it) and `ashtray token`.
#[tokio::test]
async fn the_dashboard_says_where_it_is_when_47120_is_taken() {
    // Held for the whole test; if someone else holds it, it is taken all the same.
    let _taken = std::net::TcpListener::bind("127.0.0.1:47120");
    assert!(
        std::net::TcpListener::bind("127.0.0.1:47120").is_err(),
        "47120 should be taken for this test"
    );
    let world = World::new("api-port").await;
    world.declare("port", "ticker", json!(null));
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let daemon = world
        .launch()
        .env("ASHTRAY_CONFIG_DIR", setup.config_dir.to_str().unwrap())
        .env("ASHTRAY_SERVICES_PORT", &setup.services_port.to_string())
        .spawn();
    let url = eventually(CONVERGE, || async {
        let text = std::fs::read_to_string(setup.config_dir.join("control-url")).ok()?;
        Some(text.trim().to_string()).filter(|u| !u.is_empty())
    })
    .await
    .unwrap_or_else(|| panic!("no control-url written:\n{}", daemon.output()));
    assert!(!url.ends_with(":47120"), "{url} is the taken port");
    let api = Api::new(&url, None);
    assert!(api.wait_up(&daemon).await);
    let api = api.with_token(Some(&setup.token()));
    let doc = api.get("/api/v1/openapi.json").await.json;
    let api = api.checked_against(doc);

    let host = api.get("/api/v1/host").await;
    assert_eq!(host.status, StatusCode::OK, "{}", host.text);
    assert_eq!(
        host.json["dashboard_url"],
        format!("{url}/"),
        "{}",
        host.text
    );
    // The event stream's `state` is the same view.
    let mut events = api.sse("/api/v1/events").await;
    let first = next_event(&mut events).await;
    assert_eq!(first.event, "state");
    let state: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(state["dashboard_url"], format!("{url}/"));

    let token = cli(&setup, &["token"]);
    assert!(token.status.success(), "{}", text(&token.stderr));
    assert_eq!(
        text(&token.stdout).trim(),
        setup.token(),
        "stdout stays the token alone, for scripts"
    );
    let said = text(&token.stderr);
    assert!(said.contains(&format!("the dashboard: {url}/")), "{said:?}");
    let json = cli(&setup, &["token", "--json"]);
    let json: Value = serde_json::from_slice(&json.stdout).expect("token --json prints JSON");
    assert_eq!(json["dashboard_url"], format!("{url}/"));
    assert_eq!(json["dashboard_answers"], true);

    // Once it has stopped, `token` no longer sends anyone to a dead address unwarned.
    drop(daemon);
    let token = cli(&setup, &["token"]);
    let said = text(&token.stderr);
    assert!(said.contains("does not answer"), "{said:?}");
}

/// A service the kernel kills for memory is said to be, on the engine's word (its
/// inspect's `State.OOMKilled`), not guessed from 137; a plain crash is not.
#[tokio::test]
async fn an_oom_killed_service_is_said_to_be_and_a_crash_is_not() {
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::new("api-oom").await;
    let oom = world.declare("oom", "oomer", json!({"memLimit": "16m"}));
    let crash = world.declare("crash", "crasher", json!(null));
    let hosted = Hosted::start(world).await;
    let exited = |name: String, code: i64| {
        let control = hosted.control.clone();
        async move {
            eventually(CONVERGE, || async {
                let s = control.get(&format!("/api/v1/services/{name}")).await.json;
                (s["last_exit_code"] == code).then_some(s)
            })
            .await
            .unwrap_or_else(|| panic!("{name} never exited with {code}"))
        }
    };
    let killed = exited(oom.clone(), 137).await;
    assert_eq!(killed["last_exit_oom_killed"], true, "{killed:#}");
    let error = killed["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("OOM-killed"), "{error:?}");
    let crashed = exited(crash.clone(), 3).await;
    assert_eq!(crashed["last_exit_oom_killed"], false, "{crashed:#}");
}

/// A detail view's data: the spec as the server sent it with secret-looking values
/// hidden, the container's image id, and the history of what happened, with reasons.
#[tokio::test]
async fn a_services_details_show_its_spec_without_secrets_and_its_history() {
    let world = World::new("api-details").await;
    let name = world.declare(
        "detail",
        "ticker",
        json!({"env": {"GREETING": "hi", "DB_PASSWORD": "hunter2", "ApiToken": "tok-123"},
               "volumes": ["/tmp:/data:ro"]}),
    );
    let hosted = Hosted::start(world).await;
    let running = hosted.wait_state(&name, "running").await;
    let path = format!("/api/v1/services/{name}/details");
    let details = hosted.control.get(&path).await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.text);
    for secret in ["hunter2", "tok-123"] {
        assert!(
            !details.text.contains(secret),
            "{secret} shown: {}",
            details.text
        );
    }
    let json = &details.json;
    assert_eq!(json["service"]["container_id"], running["container_id"]);
    assert!(
        json["image_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sha256:")),
        "{json:#}"
    );
    let env = json["spec"]["env"].as_array().unwrap();
    let entry = |key: &str| env.iter().find(|e| e["key"] == key).cloned().unwrap();
    assert_eq!(
        entry("GREETING"),
        json!({"key": "GREETING", "value": "hi", "hidden": false})
    );
    assert_eq!(
        entry("DB_PASSWORD"),
        json!({"key": "DB_PASSWORD", "value": null, "hidden": true})
    );
    assert_eq!(entry("ApiToken")["hidden"], true);
    assert_eq!(json["spec"]["volumes"], json!(["/tmp:/data:ro"]));
    assert_eq!(json["history"][0]["kind"], "started", "{json:#}");

    // Killed from outside: the history says it exited, how, and that it was recreated.
    let killed = images::docker_cli()
        .args(["kill", &slug(&name)])
        .output()
        .expect("docker kill");
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    let history = eventually(CONVERGE, || async {
        let json = hosted.control.get(&path).await.json;
        let history = json["history"].as_array()?.clone();
        history
            .iter()
            .any(|e| e["kind"] == "restarted")
            .then_some(history)
    })
    .await
    .unwrap_or_else(|| panic!("no restart in the history:\n{}", hosted.daemon.output()));
    let texts: Vec<&str> = history.iter().filter_map(|e| e["text"].as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("exited with code 137 (SIGKILL)")),
        "{texts:?}"
    );
    assert!(texts.contains(&"recreated: it had exited"), "{texts:?}");
    assert_eq!(
        hosted
            .control
            .get("/api/v1/services/nobody/details")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// CPU and memory per running service, from the engine's stats streams: a reading with
/// the memory the container uses and a history that grows about once a second; a service
/// stopped here drops out.
#[tokio::test]
async fn each_running_service_has_cpu_and_memory_with_a_short_history() {
    let world = World::new("api-stats").await;
    let one = world.declare("one", "ticker", json!(null));
    let two = world.declare("two", "ticker", json!(null));
    let hosted = Hosted::start(world).await;
    hosted.wait_state(&one, "running").await;
    hosted.wait_state(&two, "running").await;
    let measured = |name: String, points: usize| {
        let control = hosted.control.clone();
        async move {
            eventually(CONVERGE, || async {
                let stats = control.get("/api/v1/stats").await.json;
                let service = stats["services"][&name].clone();
                (service["history"].as_array()?.len() >= points).then_some(service)
            })
            .await
            .unwrap_or_else(|| panic!("no {points} readings of {name}"))
        }
    };
    let reading = measured(one.clone(), 3).await;
    let mem = reading["mem_bytes"].as_u64().unwrap_or_default();
    // A busybox shell loop: some hundreds of KiB, far below a GiB.
    assert!(mem > 0 && mem < 1 << 30, "{reading:#}");
    assert!(
        reading["cpu_percent"].as_f64().is_some_and(|c| c >= 0.0),
        "{reading:#}"
    );
    let history = reading["history"].as_array().unwrap();
    let times: Vec<u64> = history.iter().filter_map(|p| p["at_ms"].as_u64()).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {times:?}"
    );
    measured(two.clone(), 1).await;

    let stop = hosted
        .control
        .post(&format!("/api/v1/services/{two}/stop"))
        .await;
    assert_eq!(stop.status, StatusCode::ACCEPTED, "{}", stop.text);
    let gone = eventually(CONVERGE, || async {
        let stats = hosted.control.get("/api/v1/stats").await.json;
        (stats["services"].get(&two).is_none() && stats["services"].get(&one).is_some())
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "the stopped service still has readings");
}
