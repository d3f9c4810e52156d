//! The browser dashboard of `ashtray --daemon`: the same `ui/` as the window, served by
//! the control API behind its token, driven in headless Chromium through chromedriver.

use std::process::Command;
use std::time::Duration;

use ashtray_tests::desktop::{
    attr_of, free_port, require_tools, screenshot, text_of, until, Driver,
};
use ashtray_tests::harness::eventually;
use ashtray_tests::world::{World, CONVERGE};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

const SEEN: Duration = Duration::from_secs(20);

async fn sign_in(client: &Client, token: &str) {
    let field = client
        .find(Locator::Css("#login-token"))
        .await
        .expect("the token field");
    field.clear().await.unwrap();
    field.send_keys(token).await.unwrap();
    client
        .find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_the_right_one_shows_the_services() {
    let [chromedriver, chromium] =
        require_tools("the dashboard test", ["chromedriver", "chromium"]);
    ashtray_tests::images::ensure_images().expect("test images");
    let world = World::new("dash").await;
    let names = [
        world.declare("one", "ticker", Value::Null),
        world.declare("two", "ticker", Value::Null),
        world.declare("three", "ticker", Value::Null),
    ];
    let config = tempfile::tempdir().unwrap();
    let _daemon = world
        .launch()
        .env("ASHTRAY_CONFIG_DIR", &config.path().display().to_string())
        .spawn();
    assert!(
        world.wait_running(&[&names[0], &names[1], &names[2]]).await,
        "running: {:?}",
        world.running_names().await
    );
    let url = eventually(CONVERGE, || async {
        let text = std::fs::read_to_string(config.path().join("control-url")).ok()?;
        Some(text.trim().to_string()).filter(|u| !u.is_empty())
    })
    .await
    .expect("the daemon writes its control API's URL to the config directory");
    let token = std::fs::read_to_string(config.path().join("token"))
        .expect("the control API token")
        .trim()
        .to_string();

    let port = free_port();
    let mut command = Command::new(chromedriver);
    command.arg(format!("--port={port}"));
    let driver = Driver::spawn(command, port);
    let profile = tempfile::tempdir().unwrap();
    let client = driver
        .session(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,800", format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }))
        .await;

    client
        .goto(&format!("{url}/"))
        .await
        .expect("the dashboard page");
    let view = || async { attr_of(&client, "body", "data-view").await };
    until("the sign-in form", SEEN, || async {
        (view().await.as_deref() == Some("login")).then_some(())
    })
    .await;

    sign_in(&client, "not-the-token").await;
    let refusal = until("the refusal", SEEN, || async {
        let text = text_of(&client, "#login-error").await?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(refusal.contains("not accepted"), "{refusal:?}");
    assert_eq!(
        view().await.as_deref(),
        Some("login"),
        "a wrong token shows nothing else"
    );
    screenshot(&client, "dashboard-login.png").await;

    sign_in(&client, &token).await;
    until("the service list", SEEN, || async {
        (view().await.as_deref() == Some("services")).then_some(())
    })
    .await;
    for name in &names {
        let css = format!("tr[data-service=\"{name}\"] [data-role=\"state\"]");
        until(&format!("{name} shown running"), SEEN, || async {
            (text_of(&client, &css).await.as_deref() == Some("Running")).then_some(())
        })
        .await;
    }
    let host = text_of(&client, "#host-server-state")
        .await
        .unwrap_or_default();
    assert_eq!(host, "Connected");
    screenshot(&client, "dashboard-services.png").await;

    // The dark theme follows the OS: emulate a dark desktop through Chromium's DevTools.
    if let Ok(Some(session)) = client.session_id().await {
        let dark = reqwest::Client::new()
            .post(format!("{}/session/{session}/goog/cdp/execute", driver.url))
            .json(&json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}}))
            .send()
            .await;
        if dark.is_ok_and(|r| r.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let background = client
                .execute(
                    "return getComputedStyle(document.body).backgroundColor",
                    vec![],
                )
                .await
                .unwrap();
            assert_ne!(
                background.as_str(),
                Some("rgb(244, 246, 249)"),
                "the page turns dark with the OS"
            );
            screenshot(&client, "dashboard-dark.png").await;
        }
    }

    // The token is kept for the browser session: a reload stays signed in.
    client.refresh().await.unwrap();
    until("the list after a reload", SEEN, || async {
        (view().await.as_deref() == Some("services")).then_some(())
    })
    .await;

    let _ = client.close().await;
}
