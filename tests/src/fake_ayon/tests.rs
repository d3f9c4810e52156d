//! The fake over real HTTP: the fault switches, going away and coming back, the
//! heartbeat record, and the answers routing gives before any handler runs.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use super::*;

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn call(
    fake: &FakeAyon,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Answer {
    try_call(&client(), fake, method, path, key, body)
        .await
        .unwrap()
}

async fn try_call(
    client: &Client,
    fake: &FakeAyon,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> reqwest::Result<Answer> {
    let mut request = client.request(method, format!("{}{path}", fake.url()));
    if let Some(key) = key {
        request = request.header("X-Api-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    Ok(Answer {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await?,
    })
}

fn beat(hostname: &str, running: &[&str]) -> Value {
    json!({"hostname": hostname, "health": {"cpu": 1.5, "mem": 2}, "services": running})
}

#[tokio::test]
async fn heartbeat_answers_this_hosts_services_with_the_servers_headers() {
    let fake = FakeAyon::start().await;
    let key = fake.service_key();
    fake.add_host("host-a");
    fake.put_service("b-svc", "ticker", "1.0.0", "noterm", "host-a", Value::Null)
        .unwrap();
    fake.put_service(
        "a-svc",
        "ticker",
        "1.0.0",
        "ticker",
        "host-a",
        json!({"env": {"N": 2}}),
    )
    .unwrap();
    let answer = call(
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&key),
        Some(beat("host-a", &["a-svc"])),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["server"], "uvicorn");
    assert_eq!(answer.headers["x-request-id"].len(), 16);
    let services = answer.json()["services"].clone();
    assert_eq!(services[0]["name"], "a-svc");
    assert_eq!(services[0]["isRunning"], true);
    assert_eq!(services[0]["data"]["env"], json!({"N": 2}));
    assert_eq!(services[0]["data"]["image"], "ashtest/ticker:1");
    assert_eq!(services[1]["name"], "b-svc");
    assert!(services[1]["lastSeenDelta"].is_f64());
    assert_eq!(fake.service("a-svc").unwrap()["isRunning"], true);
}

#[tokio::test]
async fn rust_handle_errors_are_the_servers_bodies() {
    let fake = FakeAyon::start().await;
    let err = fake
        .put_service("x", "ticker", "1.0.0", "ticker", "never-beat", Value::Null)
        .unwrap_err();
    assert!(err.contains("foreign-key-violation"), "{err}");
    fake.add_host("h");
    fake.put_service("x", "ticker", "1.0.0", "ticker", "h", Value::Null)
        .unwrap();
    let err = fake
        .put_service("x", "ticker", "1.0.0", "ticker", "h", Value::Null)
        .unwrap_err();
    assert!(err.contains("unique-violation"), "{err}");
    let err = fake
        .put_service("y", "ticker", "2.0.0", "ticker", "h", Value::Null)
        .unwrap_err();
    assert_eq!(
        err,
        r#"{"code":404,"detail":"Addon ticker version 2.0.0 does not exist"}"#
    );
    assert_eq!(
        fake.patch_service("nope", json!({"shouldRun": false}))
            .unwrap_err(),
        r#"{"code":404,"detail":"Service not found"}"#
    );
    fake.patch_service("x", json!({"shouldRun": false, "env": {"B": "2"}}))
        .unwrap();
    let x = fake.service("x").unwrap();
    assert_eq!(
        (x["shouldRun"].clone(), x["data"]["env"].clone()),
        (json!(false), json!({"B": "2"}))
    );
    fake.add_addon("extra", "0.1.0", &[("svc", "")]);
    fake.put_service("e", "extra", "0.1.0", "svc", "h", Value::Null)
        .unwrap();
    assert_eq!(fake.service("e").unwrap()["data"]["image"], "");
    fake.delete_service("e");
    assert!(fake.service("e").is_none());
}

#[tokio::test]
async fn admin_credentials_are_not_a_service() {
    let fake = FakeAyon::start().await;
    let me = call(
        &fake,
        Method::GET,
        "/api/users/me",
        Some(&fake.admin_key()),
        None,
    )
    .await
    .json();
    assert_eq!(me["name"], "admin");
    assert!(me["data"].get("isService").is_none());
    let answer = client()
        .post(format!("{}/api/hosts/heartbeat", fake.url()))
        .bearer_auth(fake.admin_token())
        .json(&beat("h", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let me = call(
        &fake,
        Method::GET,
        "/api/users/me",
        Some(&fake.service_key()),
        None,
    )
    .await
    .json();
    assert_eq!(me["name"], "service-user");
    assert_eq!(me["data"]["isService"], true);
}

#[tokio::test]
async fn routing_answers_404_405_and_307_before_credentials() {
    let fake = FakeAyon::start().await;
    let answer = call(&fake, Method::GET, "/api/nosuchthing", None, None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.text,
        r#"{"code":404,"detail":"API endpoint /api/nosuchthing not found","path":"/api/nosuchthing"}"#
    );
    let answer = call(&fake, Method::GET, "/api/hosts/heartbeat", None, None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers["allow"], "POST");
    assert_eq!(answer.text, r#"{"detail":"Method Not Allowed"}"#);
    let answer = call(&fake, Method::POST, "/api/services/x", None, None).await;
    assert_eq!(
        (answer.status, answer.headers["allow"].to_str().unwrap()),
        (StatusCode::METHOD_NOT_ALLOWED, "PUT")
    );
    let answer = call(&fake, Method::POST, "/api/hosts/heartbeat/", None, None).await;
    assert_eq!(answer.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        answer.headers["location"],
        format!("{}/api/hosts/heartbeat", fake.url())
    );
    assert_eq!(answer.headers["content-length"], "0");
    // Faults do not touch routing.
    fake.set_fault(Fault::Unauthorized);
    let answer = call(
        &fake,
        Method::GET,
        "/api/hosts/heartbeat",
        Some(&fake.service_key()),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn bad_json_is_refused_before_credentials() {
    let fake = FakeAyon::start().await;
    let answer = client()
        .post(format!("{}/api/hosts/heartbeat", fake.url()))
        .header("content-type", "application/json")
        .body(r#"{"hostname": "host-a", "#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["errors"][0]["loc"], json!(["body", 23]));
    assert_eq!(body["traceback"], "23: JSON decode error");
}

#[tokio::test]
async fn a_failing_service_list_leaves_heartbeats_answered() {
    let fake = FakeAyon::start().await;
    let key = fake.service_key();
    fake.add_host("h");
    fake.set_fault(Fault::ServicesListFails);
    let list = call(&fake, Method::GET, "/api/services", Some(&key), None).await;
    assert_eq!(list.status, StatusCode::INTERNAL_SERVER_ERROR);
    let beat = call(
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&key),
        Some(beat("h", &[])),
    )
    .await;
    assert_eq!(beat.status, StatusCode::OK);
    fake.set_fault(Fault::None);
    let list = call(&fake, Method::GET, "/api/services", Some(&key), None).await;
    assert_eq!(list.status, StatusCode::OK);
}

#[tokio::test]
async fn each_fault_hits_authenticated_routes_but_not_info() {
    let fake = FakeAyon::start().await;
    let key = fake.service_key();
    let hb = || Some(beat("h", &[]));

    fake.set_fault(Fault::ServerError);
    let answer = call(
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&key),
        hb(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.json()["code"], 500);
    assert_eq!(
        call(&fake, Method::GET, "/api/users/me", Some(&key), None)
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        call(&fake, Method::GET, "/api/info", None, None)
            .await
            .status,
        StatusCode::OK
    );

    fake.set_fault(Fault::Garbage);
    let answer = call(
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&key),
        hb(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&answer.text).is_err(),
        "{}",
        answer.text
    );

    fake.set_fault(Fault::WrongShape);
    let answer = call(&fake, Method::GET, "/api/users/me", Some(&key), None).await;
    assert_eq!(
        (answer.status, answer.json()),
        (StatusCode::OK, json!({"services": "nope"}))
    );

    fake.set_fault(Fault::Unauthorized);
    let answer = call(&fake, Method::GET, "/api/services", Some(&key), None).await;
    assert_eq!(
        (answer.status, answer.text.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"code":401,"detail":"Invalid API key"}"#
        )
    );

    fake.set_fault(Fault::Slow(Duration::from_millis(300)));
    let started = Instant::now();
    let answer = call(
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&key),
        hb(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    fake.set_fault(Fault::None);
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "/api/hosts/heartbeat",
            Some(&key),
            hb()
        )
        .await
        .status,
        StatusCode::OK
    );

    // Every heartbeat was recorded with the status it got, in order.
    let statuses: Vec<u16> = fake.heartbeats().iter().map(|r| r.status).collect();
    // ServerError, Garbage, Slow, None (the other two faults were tried on other routes).
    assert_eq!(statuses, [500, 200, 200, 200]);
    assert!(fake
        .heartbeats()
        .iter()
        .all(|r| r.api_key.as_deref() == Some(key.as_str())));
}

#[tokio::test]
async fn a_slow_answer_is_recorded_and_applied_before_it_is_sent() {
    let fake = FakeAyon::start().await;
    let delay = Duration::from_secs(3);
    fake.set_fault(Fault::Slow(delay));
    let impatient = Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let sent = try_call(
        &impatient,
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&fake.service_key()),
        Some(beat("late-host", &[])),
    )
    .await;
    assert!(sent.is_err(), "the client should have timed out");
    let record = fake
        .wait_for_heartbeat(delay, |r| r.body["hostname"] == "late-host")
        .await
        .expect("the abandoned heartbeat is recorded");
    assert!(
        started.elapsed() < delay,
        "recorded only when the answer was sent"
    );
    assert_eq!(record.status, 200);
    // ... and the host exists, as after any heartbeat.
    fake.put_service("s", "ticker", "1.0.0", "ticker", "late-host", Value::Null)
        .unwrap();
}

#[tokio::test]
async fn go_away_refuses_connections_and_come_back_serves_the_same_state() {
    let fake = FakeAyon::start().await;
    let url = fake.url();
    let key = fake.service_key();
    // A pooled keep-alive connection must not survive going away either.
    let pooled = client();
    let hb = || Some(beat("h", &[]));
    try_call(
        &pooled,
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&key),
        hb(),
    )
    .await
    .unwrap();

    fake.go_away().await;
    let err = try_call(
        &pooled,
        &fake,
        Method::POST,
        "/api/hosts/heartbeat",
        Some(&key),
        hb(),
    )
    .await
    .unwrap_err();
    assert!(err.is_connect(), "expected connection refused, got {err:?}");
    let port = url.rsplit(':').next().unwrap();
    let refused = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    fake.come_back().await;
    assert_eq!(fake.url(), url);
    let answer = try_call(&pooled, &fake, Method::GET, "/api/hosts", Some(&key), None)
        .await
        .unwrap();
    assert_eq!(answer.json()["hosts"][0]["name"], "h");
    fake.come_back().await; // already back: nothing happens
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let fake = FakeAyon::start().await;
    let addr = fake.url().trim_start_matches("http://").to_string();
    drop(fake);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "still listening after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_service_key_must_look_like_one() {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    assert!(FakeAyon::try_start(addr, Some("too-short")).await.is_err());
    let key = "A".repeat(32);
    let fake = FakeAyon::try_start(addr, Some(&key)).await.unwrap();
    assert_eq!(fake.service_key(), key);
}
