//! Images end to end: pulls from a registry run here on loopback (Debian's
//! `docker-registry`), with and without credentials, the pull's progress in the host's
//! state, the `always` policy, and `ashtray images import/export`. The real
//! `ashtray --daemon`, the real dockerd, the fake AYON server. Every image is made by the
//! test itself (random data in a layer of its own), so none can be left by an earlier run.

use std::process::Command;

use ashtray_tests::api_client::{Api, ApiSetup};
use ashtray_tests::harness::{ashtray_bin, eventually, unique, Ashtray};
use ashtray_tests::podman_service::PodmanService;
use ashtray_tests::registry::{build_image, image_id, remove_image, Registry, RemoveImages};
use ashtray_tests::world::{World, CONVERGE};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A layer big enough that a pull takes a moment, small enough to stay quick.
const BLOB: usize = 24 * 1024 * 1024;

/// A running ashtray with its control API, in `world`.
struct Hosted {
    daemon: Ashtray,
    world: World,
    setup: ApiSetup,
    control: Api,
    /// The engine client's configuration directory ashtray reads (DOCKER_CONFIG): empty
    /// unless a test writes one, never the user's.
    docker_config: tempfile::TempDir,
}

impl Hosted {
    async fn start(world: World, env: &[(&str, &str)]) -> Hosted {
        let docker_config = tempfile::tempdir().unwrap();
        let setup = ApiSetup::new(world.state.path().join("api"));
        let mut launch = setup
            .apply(world.launch())
            .env("DOCKER_CONFIG", docker_config.path().to_str().unwrap());
        for (key, value) in env {
            launch = launch.env(key, value);
        }
        let daemon = launch.spawn();
        let anonymous = Api::new(&setup.control_url(), None);
        assert!(
            anonymous.wait_up(&daemon).await,
            "the control API never answered"
        );
        let control = Api::new(&setup.control_url(), Some(&setup.token()));
        Hosted {
            daemon,
            world,
            setup,
            control,
            docker_config,
        }
    }

    /// The service as the API shows it; `None` until the host has heard of it.
    async fn service(&self, name: &str) -> Option<Value> {
        let answer = self.control.get(&format!("/api/v1/services/{name}")).await;
        (answer.status == StatusCode::OK).then_some(answer.json)
    }

    /// Waits until `test` holds of the service as the API shows it.
    async fn until(&self, name: &str, what: &str, test: impl Fn(&Value) -> bool) -> Value {
        let found = eventually(CONVERGE, || async {
            let shown = self.service(name).await?;
            test(&shown).then_some(shown)
        })
        .await;
        found.unwrap_or_else(|| panic!("{name} never {what}:\n{}", self.daemon.output()))
    }

    /// Waits until the service's pull failed; its error as the API shows it.
    async fn pull_failure(&self, name: &str) -> (Value, String) {
        let failed = self
            .until(name, "failed its pull", |s| {
                s["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("could not pull image"))
            })
            .await;
        let error = failed["last_error"].as_str().unwrap().to_string();
        (failed, error)
    }

    /// "Retry now", as the window's Start offers it: the backoff may have grown long on a
    /// loaded machine.
    async fn retry_now(&self, name: &str) {
        let retry = self
            .control
            .post(&format!("/api/v1/services/{name}/start"))
            .await;
        assert!(
            retry.status.is_success() || retry.status == StatusCode::CONFLICT,
            "{}",
            retry.text
        );
    }

    /// The image id of the service's running container.
    async fn running_image(&self, name: &str) -> String {
        let shown = self
            .until(name, "ran", |s| {
                s["state"] == "running" && s["container_id"].is_string()
            })
            .await;
        let id = shown["container_id"].as_str().unwrap();
        self.world
            .engine
            .inspect(id)
            .await
            .image
            .unwrap_or_default()
    }

    /// `ashtray` as a user runs it on this host, with this host's API and engine.
    fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(ashtray_bin());
        command
            .args(args)
            .env("ASHTRAY_CONFIG_DIR", &self.setup.config_dir)
            .env(
                "ASHTRAY_LISTEN",
                format!("127.0.0.1:{}", self.setup.control_port),
            )
            .env_remove("AYON_SERVER_URL")
            .env_remove("AYON_API_KEY");
        if let Ok(host) = std::env::var("ASHTEST_DOCKER_HOST") {
            command.env("DOCKER_HOST", host);
        }
        command.output().expect("running ashtray")
    }
}

#[tokio::test]
async fn a_missing_image_is_pulled_its_progress_shown_and_the_service_runs() {
    let registry = Registry::open().await;
    let (image, id) = registry.push_new(&unique("pulled"), "1", BLOB, "pulled and running");
    let _cleanup = RemoveImages(vec![image.clone()]);
    assert!(
        image_id(&image).is_none(),
        "the engine must not have it yet"
    );
    let hosted = Hosted::start(World::new("pull").await, &[]).await;
    let token = hosted.setup.token();
    let mut events = Api::new(&hosted.setup.control_url(), None)
        .sse(&format!("/api/v1/events?token={token}"))
        .await;

    let name = hosted.world.declare_image("pulled", &image);
    let mut pulls_seen: Vec<Value> = Vec::new();
    let running = tokio::time::timeout(CONVERGE, async {
        while let Some(event) = events.next().await {
            if event.event != "state" {
                continue;
            }
            let state: Value = serde_json::from_str(&event.data).unwrap();
            let Some(service) = state["services"]
                .as_array()
                .and_then(|all| all.iter().find(|s| s["name"] == name))
            else {
                continue;
            };
            if !service["pull"].is_null() {
                pulls_seen.push(service["pull"].clone());
            }
            if service["state"] == "running" {
                return service.clone();
            }
        }
        panic!("the event stream ended")
    })
    .await
    .unwrap_or_else(|_| panic!("{name} never ran: {}", hosted.daemon.output()));

    assert!(
        running["pull"].is_null(),
        "no pull shown once it runs: {running:#}"
    );
    assert!(
        !pulls_seen.is_empty(),
        "the pull's progress never showed in the host's state"
    );
    let last = pulls_seen.last().unwrap();
    assert_eq!(last["image"], image.as_str());
    assert!(
        last["layers_total"].as_u64().unwrap() >= 1,
        "the pull's layers: {pulls_seen:#?}"
    );
    assert!(
        pulls_seen
            .iter()
            .any(|p| p["bytes_total"].as_u64().unwrap() >= BLOB as u64 / 2),
        "the pull's bytes never showed the blob's size: {pulls_seen:#?}"
    );
    assert_eq!(
        hosted.running_image(&name).await,
        id,
        "it runs the pushed image"
    );
}

#[tokio::test]
async fn a_registry_wanting_credentials_fails_the_service_with_its_words_until_the_client_config_has_them(
) {
    let password = unique("s3cret");
    let registry = Registry::with_password("pipeline", &password).await;
    let (image, id) = registry.push_new(&unique("private"), "1", 1024, "private and running");
    let _cleanup = RemoveImages(vec![image.clone()]);
    let hosted = Hosted::start(World::new("auth").await, &[]).await;
    let name = hosted.world.declare_image("private", &image);
    let other = hosted.world.declare("other", "ticker", json!(null));

    let (failed, error) = hosted.pull_failure(&name).await;
    assert!(error.contains(&image), "the error names the image: {error}");
    assert!(
        error.contains("no basic auth credentials") || error.contains("unauthorized"),
        "the error carries the registry's words: {error}"
    );
    assert!(
        failed["next_restart_at_ms"].is_u64() || failed["state"] == "starting",
        "a failed pull is retried with backoff: {failed:#}"
    );
    hosted
        .until(&other, "ran beside the failing one", |s| {
            s["state"] == "running"
        })
        .await;

    // `docker login`, as the engine client's configuration, then "retry now": the next
    // try takes it up.
    registry.client_config(hosted.docker_config.path());
    hosted.retry_now(&name).await;
    assert_eq!(
        hosted.running_image(&name).await,
        id,
        "it runs the pushed image"
    );
    let shown = hosted.service(&name).await.unwrap();
    assert!(shown["last_error"].is_null(), "{shown:#}");
    let everything = format!(
        "{}{}",
        hosted.daemon.output(),
        hosted.control.get("/api/v1/host").await.text
    );
    assert!(
        !everything.contains(&password),
        "the registry's password showed in the log or the API"
    );
}

#[tokio::test]
async fn policy_always_takes_up_a_tag_moved_on_the_registry_and_missing_does_not() {
    let registry = Registry::open().await;
    let (image, first) = registry.push_new(&unique("moving"), "latest", 1024, "first");
    let mut cleanup = RemoveImages(vec![image.clone(), first.clone()]);
    let always = Hosted::start(
        World::new("always").await,
        &[("ASHTRAY_PULL_POLICY", "always")],
    )
    .await;
    let name = always.world.declare_image("moving", &image);
    assert_eq!(always.running_image(&name).await, first);

    let second = registry.move_tag(&image, &first, 1024, "second");
    cleanup.0.push(second.clone());
    assert_eq!(
        image_id(&image).as_deref(),
        Some(first.as_str()),
        "the engine still has the first image under the tag"
    );
    let restart = always
        .control
        .post(&format!("/api/v1/services/{name}/restart"))
        .await;
    assert!(restart.status.is_success(), "{}", restart.text);
    let taken_up = eventually(CONVERGE, || async {
        (always.running_image(&name).await == second).then_some(())
    })
    .await;
    assert!(
        taken_up.is_some(),
        "always did not pull the moved tag: {}",
        always.daemon.output()
    );
    drop(always);

    // The default keeps what the engine has: put the first image back under the tag.
    Command::new("/usr/bin/docker")
        .envs(std::env::var("ASHTEST_DOCKER_HOST").map(|h| ("DOCKER_HOST", h)))
        .args(["tag", &first, &image])
        .status()
        .unwrap();
    let missing = Hosted::start(World::new("missing").await, &[]).await;
    let name = missing.world.declare_image("moving", &image);
    assert_eq!(
        missing.running_image(&name).await,
        first,
        "missing pulled an image the engine had"
    );
    drop(missing);
}

/// Podman keeps `podman login`'s credentials in its own auth.json, not the docker CLI's
/// file: a pull through Podman takes them from there. The Podman service is the test's
/// own (see `PodmanService`): it has no credentials of its own, so the pull that works
/// got them from ashtray.
#[tokio::test]
async fn a_pull_through_podman_takes_the_credentials_podman_login_keeps() {
    let password = unique("s3cret");
    let registry = Registry::with_password("pipeline", &password).await;
    let (image, _) = registry.push_new(&unique("podpulled"), "1", 1024, "pulled by podman");
    let podman = PodmanService::start(&[&registry.addr]).await;
    let engine = podman.engine().await;
    let auth_dir = tempfile::tempdir().unwrap();
    // Where `podman login --authfile` (or REGISTRY_AUTH_FILE) puts them.
    let auth_file = auth_dir.path().join("auth.json");
    let hosted = Hosted::start(
        World::new("podpull").await,
        &[
            ("AYON_USE_PODMAN", "1"),
            ("CONTAINER_HOST", &podman.url()),
            ("REGISTRY_AUTH_FILE", auth_file.to_str().unwrap()),
        ],
    )
    .await;
    let name = hosted.world.declare_image("podpulled", &image);

    let (_, error) = hosted.pull_failure(&name).await;
    assert!(
        error.contains("unauthorized") || error.contains("authentication required"),
        "without credentials Podman is refused, in the registry's words: {error}"
    );

    registry.write_auth_file(&auth_file);
    hosted.retry_now(&name).await;
    let running = eventually(CONVERGE, || async {
        let running = engine.running(&hosted.world.prefix).await;
        (!running.is_empty()).then_some(running)
    })
    .await;
    let output = hosted.daemon.output();
    let podman_log = podman.log();
    let prefix = hosted.world.prefix.clone();
    // ashtray stops first, or it would start the service again.
    drop(hosted);
    engine.clean(&prefix).await;
    let _ = Command::new("podman").args(["rmi", "-f", &image]).output();
    let running =
        running.unwrap_or_else(|| panic!("it never ran in Podman: {output}\n{podman_log}"));
    assert_eq!(running[0].labels["io.ayon.service.service_name"], name);
    assert!(
        !output.contains(&password),
        "the registry's password showed in the log"
    );
}

#[tokio::test]
async fn an_archive_exported_from_a_host_imports_its_images_again() {
    let image = format!("ashtest/{}:1", unique("archived"));
    let id = build_image(&image, 1024, "archived").expect("building a test image");
    let _cleanup = RemoveImages(vec![image.clone()]);
    let hosted = Hosted::start(World::new("archive").await, &[]).await;
    let name = hosted.world.declare_image("archived", &image);
    assert_eq!(hosted.running_image(&name).await, id);

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("host-images.tar");
    let export = hosted.cli(&["images", "export", "-o", archive.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&export.stdout);
    assert!(
        export.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(said.contains(&image), "export names what it wrote: {said}");
    assert!(archive.metadata().unwrap().len() > 0);
    assert!(
        !dir.path().join("host-images.tar.partial").exists(),
        "no half-written file is left"
    );

    remove_image(&image);
    assert!(
        image_id(&image).is_none(),
        "the engine must not have it before the import"
    );
    let import = hosted.cli(&["images", "import", archive.to_str().unwrap()]);
    assert!(
        import.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(String::from_utf8_lossy(&import.stdout).contains(&image));
    assert_eq!(
        image_id(&image).as_deref(),
        Some(id.as_str()),
        "the same image is back"
    );

    // What is not an archive is refused with the file's name and what to do.
    let garbage = dir.path().join("notes.tar");
    std::fs::write(&garbage, "not an archive").unwrap();
    let refused = hosted.cli(&["images", "import", garbage.to_str().unwrap()]);
    let words = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        words.contains("notes.tar") && words.contains("docker save"),
        "{words}"
    );
    let absent = hosted.cli(&["images", "import", "/nonexistent/images.tar"]);
    let words = String::from_utf8_lossy(&absent.stderr);
    assert!(!absent.status.success());
    assert!(words.contains("/nonexistent/images.tar"), "{words}");
}
