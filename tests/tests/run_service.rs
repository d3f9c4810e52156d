//! `ashtray run-service`: one service in the foreground under a pseudo-terminal
//! (`script(1)`), as an addon developer runs it; Ctrl-C typed on that terminal must leave
//! no container. Real dockerd, the fake AYON server for `--from-server`.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ashtray_tests::api_client::ApiSetup;
use ashtray_tests::harness::{ashtray_bin, collect_output, eventually};
use ashtray_tests::images::docker_cli;
use ashtray_tests::world::{slug, World, CONVERGE};
use serde_json::json;

/// `ashtray run-service ...` on a pseudo-terminal: what it prints, and its keyboard.
struct OnTerminal {
    child: Child,
    keyboard: ChildStdin,
    output: Arc<Mutex<Vec<String>>>,
}

impl OnTerminal {
    fn start(args: &[&str], env: &[(&str, String)]) -> OnTerminal {
        let mut line = format!("exec {}", ashtray_bin().display());
        for arg in args {
            line.push_str(&format!(" '{arg}'"));
        }
        let mut command = Command::new("script");
        command
            .args(["-qfec", &line, "/dev/null"])
            .env_remove("AYON_SERVER_URL")
            .env_remove("AYON_API_KEY")
            .env_remove("ASHTRAY_SERVICES")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(host) = std::env::var("ASHTEST_DOCKER_HOST") {
            command.env("DOCKER_HOST", host);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("running script(1)");
        let output = collect_output(&mut child);
        let keyboard = child.stdin.take().unwrap();
        OnTerminal {
            child,
            keyboard,
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    async fn wait_for(&self, needle: &str) {
        let seen = eventually(CONVERGE, || async {
            self.output().contains(needle).then_some(())
        })
        .await;
        assert!(
            seen.is_some(),
            "never printed {needle:?}: {}",
            self.output()
        );
    }

    /// Types Ctrl-C and waits for it to end.
    async fn ctrl_c(&mut self) {
        self.keyboard.write_all(b"\x03").unwrap();
        self.keyboard.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "still running after Ctrl-C: {}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Containers `run-service` made for `service`, running or not.
fn foreground_containers(service: &str) -> Vec<String> {
    let output = docker_cli()
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!(
            "label={}={service}",
            ashtray_engine::foreground::LABEL_RUN_SERVICE
        ))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Removes whatever `run-service` left of `service`, whatever the test's outcome.
struct RemoveLeftovers(String);

impl Drop for RemoveLeftovers {
    fn drop(&mut self) {
        for id in foreground_containers(&self.0) {
            let _ = docker_cli().args(["rm", "-f", &id]).output();
        }
    }
}

fn sorted(mut env: Vec<String>) -> Vec<String> {
    env.retain(|e| !e.starts_with("PATH=") && !e.starts_with("HOSTNAME="));
    env.sort();
    env
}

#[tokio::test]
async fn a_service_from_the_server_runs_in_the_foreground_as_the_host_runs_it_and_ctrl_c_leaves_nothing(
) {
    let world = World::new("run-svc").await;
    let name = world.declare("dev", "ticker", json!({"env": {"MODE": "dev", "N": 2}}));
    let _leftovers = RemoveLeftovers(name.clone());
    // The host runs it first: what it gives the container is what run-service must give.
    let config = tempfile::tempdir().unwrap();
    let setup = ApiSetup::new(config.path().join("ashtray"));
    let daemon = setup.apply(world.launch()).spawn();
    assert!(world.wait_running(&[&name]).await, "{}", daemon.output());
    let hosted = world.running_ids().await[0].1.clone();
    let hosted_env = sorted(world.engine.env(&hosted).await);

    let env = [
        ("AYON_SERVER_URL", world.fake.url()),
        ("AYON_API_KEY", world.fake.service_key()),
        ("AYON_HOSTNAME", world.host.clone()),
        ("ASHTRAY_CONFIG_DIR", setup.config_dir.display().to_string()),
        (
            "ASHTRAY_STATE_DIR",
            world.state.path().display().to_string(),
        ),
        ("ASHTRAY_SERVICES_PORT", setup.services_port.to_string()),
    ];
    let mut terminal = OnTerminal::start(&["run-service", "--from-server", &name], &env);
    terminal.wait_for("tick 2").await;
    let ours = foreground_containers(&name);
    assert_eq!(ours.len(), 1, "{ours:?}: {}", terminal.output());
    let ours_env = sorted(world.engine.env(&ours[0]).await);
    assert!(ours_env.contains(&"MODE=dev".to_string()), "{ours_env:?}");
    assert!(
        ours_env
            .iter()
            .any(|e| e.starts_with("ASHTRAY_SERVICE_TOKEN=")),
        "{ours_env:?}"
    );
    assert_eq!(ours_env, hosted_env, "exactly the host's environment");

    terminal.ctrl_c().await;
    assert!(
        foreground_containers(&name).is_empty(),
        "Ctrl-C left a container: {}",
        terminal.output()
    );
    assert!(
        terminal.output().contains("stopped and removed"),
        "{}",
        terminal.output()
    );
    // The host's own container of the service was never touched.
    assert_eq!(
        world.running_ids().await[0].1,
        hosted,
        "{}",
        daemon.output()
    );
    assert_eq!(world.running_names().await, [slug(&name)]);
    drop(daemon);
}

#[tokio::test]
async fn a_service_from_a_file_runs_in_the_foreground_and_ctrl_c_leaves_nothing() {
    let world = World::new("run-file").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dev.toml");
    let name = world.service("dev");
    let _leftovers = RemoveLeftovers(name.clone());
    std::fs::write(
        &file,
        format!(
            "[[services]]\nname = \"{name}\"\nimage = \"{}\"\n",
            ashtray_tests::images::TICKER
        ),
    )
    .unwrap();
    let env = [
        (
            "ASHTRAY_CONFIG_DIR",
            dir.path().join("config").display().to_string(),
        ),
        (
            "ASHTRAY_STATE_DIR",
            world.state.path().display().to_string(),
        ),
    ];
    let mut terminal = OnTerminal::start(&["run-service", file.to_str().unwrap()], &env);
    terminal.wait_for("tick 2").await;
    assert_eq!(foreground_containers(&name).len(), 1);
    terminal.ctrl_c().await;
    assert!(
        foreground_containers(&name).is_empty(),
        "Ctrl-C left a container: {}",
        terminal.output()
    );
}
