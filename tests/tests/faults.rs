//! A reconciler that loses nothing: faults injected into the AYON server, the container
//! engine and the daemon itself, with what a user would see asserted (containers and
//! their ids, the log). One test per point of the reliability issue.

use std::time::{Duration, Instant};

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::ash::{run_like_ash, AshService};
use ashtray_tests::fake_ayon::Fault;
use ashtray_tests::harness::eventually;
use ashtray_tests::images::{self, docker_cli};
use ashtray_tests::world::{slug, World, CONVERGE};
use serde_json::{json, Value};

/// 1. No valid answer, no stopping: 5xx, garbage, a wrong shape, a 401, a slow server
/// and a server that went away each leave every container running as it is; the log
/// says why; heartbeats resume by themselves.
#[tokio::test]
async fn without_a_valid_answer_nothing_is_stopped_and_heartbeats_resume() {
    let world = World::new("nostop").await;
    let a = world.declare("a", "ticker", Value::Null);
    let b = world.declare("b", "noterm", Value::Null);
    let setup = ApiSetup::new(world.state.path().join("api"));
    let daemon = setup
        .apply(world.launch().arg("--request-timeout").arg("1s"))
        .spawn();
    assert!(world.wait_running(&[&a, &b]).await, "{}", daemon.output());
    let before = world.running_ids().await;
    let api = Api::new(&setup.control_url(), Some(&setup.token()));
    // What the host state says about the server, as the UI and `ashtray status` show it.
    let server_state = || async {
        let host = api.get("/api/v1/host").await.json;
        (
            host["server"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            host["server"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };

    let faults: [(Fault, &str); 5] = [
        (Fault::ServerError, "the AYON server failed (500"),
        (Fault::Garbage, "cannot be read"),
        (Fault::WrongShape, "cannot be read"),
        (Fault::Unauthorized, "refused the API key"),
        (
            Fault::Slow(Duration::from_secs(3)),
            "did not answer within 1 s",
        ),
    ];
    for (fault, says) in faults {
        let mark = daemon.mark();
        let since = Instant::now();
        world.fake.set_fault(fault.clone());
        assert!(
            daemon.wait_for_output_after(mark, says, CONVERGE).await,
            "{fault:?}: {}",
            daemon.output()
        );
        // It keeps meeting the fault for a few more heartbeats and still stops nothing.
        let met = eventually(CONVERGE, || async {
            (world
                .fake
                .heartbeats()
                .iter()
                .filter(|hb| hb.at > since)
                .count()
                >= 3)
                .then_some(())
        })
        .await;
        assert!(met.is_some(), "{fault:?}: heartbeats stopped");
        assert_eq!(
            world.running_ids().await,
            before,
            "{fault:?} changed containers"
        );
        let (state, reason) = server_state().await;
        let expected = if fault == Fault::Unauthorized {
            "unauthorized"
        } else {
            "unreachable"
        };
        assert_eq!(state, expected, "{fault:?}: {reason}");
        assert!(
            reason.contains(says),
            "{fault:?}: the host state says {reason:?}"
        );
        let mark = daemon.mark();
        world.fake.set_fault(Fault::None);
        assert!(
            daemon
                .wait_for_output_after(mark, "heartbeats are answered", CONVERGE)
                .await,
            "{fault:?}"
        );
        assert!(
            world.wait_heartbeats(2, 200).await,
            "heartbeats did not resume after {fault:?}"
        );
        assert_eq!(
            world.running_ids().await,
            before,
            "recovery from {fault:?} changed containers"
        );
    }

    world.fake.go_away().await;
    assert!(
        daemon
            .wait_for_output("cannot reach the AYON server", CONVERGE)
            .await,
        "{}",
        daemon.output()
    );
    assert_eq!(world.running_ids().await, before);
    let (state, reason) = server_state().await;
    assert_eq!(state, "unreachable");
    assert!(reason.contains("cannot reach the AYON server"), "{reason}");
    world.fake.come_back().await;
    assert!(
        world.wait_heartbeats(2, 200).await,
        "heartbeats did not resume after the server came back"
    );
    assert_eq!(world.running_ids().await, before);
    assert_eq!(server_state().await.0, "connected");
}

/// 1b. A slow server does not stall the loop: while every heartbeat times out, a service
/// that dies is still restarted.
#[tokio::test]
async fn a_slow_server_does_not_stall_the_loop() {
    let world = World::new("slow").await;
    let a = world.declare("a", "ticker", Value::Null);
    let daemon = world.launch().arg("--request-timeout").arg("1s").spawn();
    assert!(world.wait_running(&[&a]).await, "{}", daemon.output());
    let before = world.running_ids().await;
    world.fake.set_fault(Fault::Slow(Duration::from_secs(30)));
    assert!(
        daemon
            .wait_for_output("did not answer within 1 s", CONVERGE)
            .await,
        "{}",
        daemon.output()
    );
    let status = docker_cli().args(["kill", &before[0].1]).output().unwrap();
    assert!(status.status.success());
    let restarted = eventually(CONVERGE, || async {
        let now = world.running_ids().await;
        (now.len() == 1 && now[0].1 != before[0].1).then_some(now)
    })
    .await;
    assert!(
        restarted.is_some(),
        "the killed service was not restarted while the server was slow: {}",
        daemon.output()
    );
}

/// 2. One bad spec never hurts the others: the bad one is never started, the log names
/// the field and the value, the good ones converge; fixed on the server, it starts.
#[tokio::test]
async fn a_bad_spec_fails_alone_and_starts_once_fixed() {
    let world = World::new("badspec").await;
    let good = world.declare("good", "ticker", Value::Null);
    let bad_mem = world.declare("badmem", "ticker", json!({"memLimit": "lots"}));
    let bad_volume = world.declare("badvol", "ticker", json!({"volumes": ["relative/path"]}));
    let bad_port = world.declare("badport", "ticker", json!({"ports": ["80:99999"]}));
    let daemon = world.launch().spawn();
    assert!(world.wait_running(&[&good]).await, "{}", daemon.output());
    for (name, field, value) in [
        (&bad_mem, "memLimit", "lots"),
        (&bad_volume, "volumes", "relative/path"),
        (&bad_port, "ports", "80:99999"),
    ] {
        let says = format!("service \"{name}\": {field} \"{value}\"");
        assert!(
            daemon.wait_for_output(&says, CONVERGE).await,
            "no {says:?} in {}",
            daemon.output()
        );
    }
    assert_eq!(
        world.engine.containers(&world.prefix).await.len(),
        1,
        "a bad spec was started"
    );
    world
        .fake
        .patch_service(&bad_mem, json!({"memLimit": "64m"}))
        .unwrap();
    assert!(
        world.wait_running(&[&good, &bad_mem]).await,
        "{}",
        daemon.output()
    );
}

/// 2b. An entry of the answer that is not a service object at all is reported and
/// skipped; the real services still converge and nothing is stopped.
#[tokio::test]
async fn an_answer_entry_that_is_not_a_service_is_reported_and_skipped() {
    let world = World::new("entry").await;
    let a = world.declare("a", "ticker", Value::Null);
    world.fake.set_fault(Fault::ExtraEntries(vec![
        json!(42),
        json!({"name": "half a service"}),
    ]));
    let daemon = world.launch().spawn();
    assert!(world.wait_running(&[&a]).await, "{}", daemon.output());
    assert!(
        daemon
            .wait_for_output("an entry that is not a service", CONVERGE)
            .await,
        "{}",
        daemon.output()
    );
    assert!(
        daemon.output().contains("half a service"),
        "{}",
        daemon.output()
    );
    // The bad entries stay in every answer; the host still follows the good ones.
    let b = world.declare("b", "ticker", Value::Null);
    assert!(world.wait_running(&[&a, &b]).await, "{}", daemon.output());
}

/// 3. Drift: a spec changed on the server is applied within one tick by recreating the
/// container, never by running a second one.
#[tokio::test]
async fn a_changed_spec_recreates_the_container_with_the_new_spec() {
    let world = World::new("drift").await;
    let a = world.declare("a", "ticker", json!({"env": {"COLOUR": "red"}}));
    let b = world.declare("b", "ticker", Value::Null);
    let daemon = world.launch().spawn();
    assert!(world.wait_running(&[&a, &b]).await, "{}", daemon.output());
    let before = world.running_ids().await;

    world
        .fake
        .patch_service(&a, json!({"env": {"COLOUR": "blue"}, "memLimit": "64m"}))
        .unwrap();
    let changed = eventually(CONVERGE, || async {
        let now = world.running_ids().await;
        let new_a = now.iter().find(|(name, _)| *name == slug(&a))?;
        (new_a.1 != before[0].1).then(|| new_a.1.clone())
    })
    .await
    .expect("the changed service was recreated");
    let env = world.engine.env(&changed).await;
    assert!(env.contains(&"COLOUR=blue".to_string()), "{env:?}");
    let inspect = world.engine.inspect(&changed).await;
    assert_eq!(inspect.host_config.unwrap().memory, Some(64 << 20));
    // The unchanged one is untouched, and nothing runs twice.
    let now = world.running_ids().await;
    assert_eq!(
        now.iter().find(|(name, _)| *name == slug(&b)),
        before.iter().find(|(name, _)| *name == slug(&b))
    );
    assert_eq!(world.engine.containers(&world.prefix).await.len(), 2);
    assert!(daemon.output().contains("recreating"));
}

/// 3b. Containers started by `ash` (its labels, no ashtray label) are adopted as they are
/// when they match the server's spec, and replaced when they do not.
#[tokio::test]
async fn containers_started_by_ash_are_adopted_or_replaced() {
    let world = World::alone("ash").await;
    let same = world.declare("same", "ticker", json!({"env": {"N": 2}}));
    let differs = world.declare("differs", "ticker", json!({"env": {"N": 2}}));
    let ash_run = |name: &str, n: &str| {
        run_like_ash(
            &world.fake,
            &AshService {
                name,
                addon_name: "ticker",
                addon_version: "1.0.0",
                service: "ticker",
                image: images::TICKER,
                env: &[("N", n)],
            },
        )
    };
    let same_id = ash_run(&same, "2");
    let differs_id = ash_run(&differs, "1");

    let daemon = world.launch().spawn();
    let replaced = eventually(CONVERGE, || async {
        let now = world.running_ids().await;
        let new = now.iter().find(|(name, _)| *name == slug(&differs))?;
        (new.1 != differs_id).then(|| new.1.clone())
    })
    .await;
    assert!(
        replaced.is_some(),
        "the differing ash container was not replaced: {}",
        daemon.output()
    );
    assert!(
        daemon
            .output()
            .contains("adopted a running container started by ash"),
        "{}",
        daemon.output()
    );
    assert!(world.wait_heartbeats(3, 200).await);
    let now = world.running_ids().await;
    assert!(
        now.contains(&(slug(&same), same_id)),
        "the matching ash container was not kept: {now:?}"
    );
    assert_eq!(world.engine.containers(&world.prefix).await.len(), 2);
}

/// 4. Killed with SIGKILL and restarted, ashtray adopts its containers: same ids, none
/// duplicated or restarted. A second ashtray on the same host and engine refuses to start.
#[tokio::test]
async fn after_sigkill_the_same_containers_are_adopted_and_a_second_instance_refuses() {
    let world = World::new("adopt").await;
    let names = ["a", "b", "c"].map(|s| world.declare(s, "ticker", Value::Null));
    let first = world.launch().spawn();
    assert!(
        world
            .wait_running(&names.each_ref().map(String::as_str))
            .await,
        "{}",
        first.output()
    );
    let before = world.running_ids().await;

    let mut second = world.launch().spawn();
    let status = second
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("the second ashtray exits");
    assert!(!status.success());
    assert!(
        second
            .output()
            .contains(&format!("another ashtray (pid {})", first.pid())),
        "{}",
        second.output()
    );

    first.signal("KILL");
    drop(first);
    let restarted = world.launch().spawn();
    assert!(
        restarted
            .wait_for_output("heartbeats are answered", CONVERGE)
            .await
    );
    assert!(world.wait_heartbeats(4, 200).await);
    assert_eq!(world.running_ids().await, before, "{}", restarted.output());
    assert_eq!(world.engine.containers(&world.prefix).await.len(), 3);
    assert!(
        !restarted.output().contains("starting"),
        "{}",
        restarted.output()
    );
}

/// 5. A service that keeps exiting is restarted with exponential backoff (1 s, 2 s, 4 s,
/// ...), its exit code and last output kept, and marked crash-looping.
#[tokio::test]
async fn a_crashing_service_backs_off_exponentially_and_keeps_its_exit_code() {
    let world = World::new("crash").await;
    let crasher = world.declare("crasher", "crasher", Value::Null);
    let steady = world.declare("steady", "ticker", Value::Null);
    let setup = ApiSetup::new(world.state.path().join("api"));
    let daemon = setup.apply(world.launch()).spawn();
    assert!(
        daemon
            .wait_for_output("restarting in 4 s (crash loop)", Duration::from_secs(40))
            .await,
        "{}",
        daemon.output()
    );
    let output = daemon.output();
    let delays: Vec<&str> = output
        .lines()
        .filter(|line| line.contains(&crasher) && line.contains("exited with code 3"))
        .filter_map(|line| line.split("restarting in ").nth(1))
        .collect();
    assert!(delays.len() >= 3, "{output}");
    assert!(
        delays[0].starts_with("1 s")
            && delays[1].starts_with("2 s")
            && delays[2].starts_with("4 s"),
        "{delays:?}"
    );
    // The steady one was never disturbed.
    assert_eq!(world.running_names().await, [slug(&steady)]);
    // Its exit code and last output are kept in the host state, and it is marked.
    let api = Api::new(&setup.control_url(), Some(&setup.token()));
    let view = api.get(&format!("/api/v1/services/{crasher}")).await.json;
    assert_eq!(view["state"], json!("crash_looping"), "{view}");
    assert_eq!(view["last_exit_code"], json!(3), "{view}");
    let last_output = view["last_output"]
        .as_array()
        .expect("last_output is a list");
    assert!(last_output.contains(&json!("fatal: boom")), "{view}");
    assert!(view["restarts"].as_u64().unwrap() >= 2, "{view}");
}

/// 6. dockerd stops and comes back: ashtray says the engine is down meanwhile, then
/// converges again by itself, without duplicates.
#[tokio::test]
async fn the_engine_restarting_is_survived_without_duplicates() {
    let world = World::alone("dockerd").await;
    let names = ["a", "b"].map(|s| world.declare(s, "ticker", Value::Null));
    let setup = ApiSetup::new(world.state.path().join("api"));
    let daemon = setup.apply(world.launch()).spawn();
    assert!(
        world
            .wait_running(&names.each_ref().map(String::as_str))
            .await,
        "{}",
        daemon.output()
    );
    let api = Api::new(&setup.control_url(), Some(&setup.token()));

    restart_dockerd(|| async {
        assert!(
            daemon
                .wait_for_output("cannot reach the Docker engine", CONVERGE)
                .await,
            "{}",
            daemon.output()
        );
        let host = api.get("/api/v1/host").await.json;
        assert_eq!(host["engine"]["state"], json!("down"), "{host}");
    })
    .await;
    assert!(
        daemon
            .wait_for_output("the container engine is back", CONVERGE)
            .await,
        "{}",
        daemon.output()
    );
    assert!(
        world
            .wait_running(&names.each_ref().map(String::as_str))
            .await,
        "{}",
        daemon.output()
    );
    assert!(world.wait_heartbeats(3, 200).await);
    assert_eq!(
        world.engine.containers(&world.prefix).await.len(),
        2,
        "{}",
        daemon.output()
    );
    assert_eq!(
        api.get("/api/v1/host").await.json["engine"]["state"],
        json!("up")
    );
    // The bridge came back with dockerd: a service reaches its own API again.
    let container = &world.engine.running(&world.prefix).await[0];
    let url = world
        .engine
        .env(&container.id)
        .await
        .into_iter()
        .find_map(|e| e.strip_prefix("ASHTRAY_API_URL=").map(str::to_string))
        .expect("the container knows the services' API");
    let reached = eventually(CONVERGE, || async {
        let out = docker_cli()
            .args([
                "exec",
                &container.id,
                "wget",
                "-qO-",
                &format!("{url}/healthz"),
            ])
            .output()
            .unwrap();
        out.status.success().then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "{url} is not reachable from a service after dockerd restarted"
    );
}

/// Where the machine's dockerd (started as plain `dockerd`) writes its pid.
const DOCKERD_PIDFILE: &str = "/var/run/docker.pid";

/// The dockerd the tests use: its pid, and how to start it again. Found by its pid file,
/// or, with ASHTEST_DOCKER_HOST, as the dockerd whose command line names that socket;
/// never by name alone: other dockerds may run beside it (a test's own, another user's),
/// and stopping them all would break what they serve.
fn tested_dockerd() -> (String, Vec<String>) {
    let Some(host) = std::env::var_os("ASHTEST_DOCKER_HOST") else {
        let pid = std::fs::read_to_string(DOCKERD_PIDFILE)
            .unwrap_or_else(|e| panic!("reading {DOCKERD_PIDFILE}: {e}: is dockerd running?"));
        return (pid.trim().to_string(), vec!["dockerd".to_string()]);
    };
    let host = host.to_string_lossy().into_owned();
    let socket = host.trim_start_matches("unix://").to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_dockerd = args.first()?.rsplit('/').next() == Some("dockerd");
            let serves = args.iter().any(|a| a.ends_with(&socket));
            (is_dockerd && serves).then_some((pid, args))
        })
        .unwrap_or_else(|| panic!("no dockerd serves ASHTEST_DOCKER_HOST={host}"))
}

/// A shell word for `sh -c`.
fn quoted(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Stops dockerd, runs `while_down`, starts it again and waits until it answers.
async fn restart_dockerd<F, Fut>(while_down: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    assert!(
        nix_is_root(),
        "this test restarts dockerd and must run as root"
    );
    let (pid, command) = tested_dockerd();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(stopped.success(), "no dockerd with pid {pid} to stop");
    let down = eventually(Duration::from_secs(30), || async {
        (!docker_cli().arg("info").output().unwrap().status.success()).then_some(())
    })
    .await;
    assert!(down.is_some(), "dockerd did not stop");
    // Let it finish exiting before a new one takes its pid file.
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    eventually(Duration::from_secs(30), || async {
        (!proc_dir.exists()).then_some(())
    })
    .await
    .expect("dockerd exits");
    while_down().await;
    let words: Vec<String> = command.iter().map(|a| quoted(a)).collect();
    let started = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "setsid nohup {} >>/tmp/ashtray-dockerd.log 2>&1 &",
            words.join(" ")
        ))
        .status()
        .unwrap();
    assert!(started.success());
    let up = eventually(Duration::from_secs(60), || async {
        docker_cli()
            .arg("info")
            .output()
            .unwrap()
            .status
            .success()
            .then_some(())
    })
    .await;
    assert!(up.is_some(), "dockerd did not come back");
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// 7. SIGTERM ends ashtray within 2 s and, by default, leaves the services running;
/// with --stop-services-on-exit it stops them.
#[tokio::test]
async fn sigterm_stops_within_two_seconds_and_leaves_services_running_by_default() {
    let world = World::new("term").await;
    let a = world.declare("a", "ticker", Value::Null);
    let b = world.declare("b", "noterm", Value::Null);
    let mut daemon = world.launch().spawn();
    assert!(world.wait_running(&[&a, &b]).await, "{}", daemon.output());
    let before = world.running_ids().await;
    daemon.signal("TERM");
    let status = daemon
        .wait_exit(Duration::from_secs(2))
        .await
        .expect("ashtray exits within 2 s of SIGTERM");
    assert!(status.success(), "{}", daemon.output());
    assert_eq!(world.running_ids().await, before);

    let mut stopper = world
        .launch()
        .arg("--stop-services-on-exit")
        .arg("--stop-timeout")
        .arg("1s")
        .spawn();
    assert!(world.wait_heartbeats(2, 200).await);
    stopper.signal("INT");
    let status = stopper
        .wait_exit(Duration::from_secs(20))
        .await
        .expect("ashtray exits after stopping its services");
    assert!(status.success(), "{}", stopper.output());
    assert!(
        world.engine.containers(&world.prefix).await.is_empty(),
        "{}",
        stopper.output()
    );
}
