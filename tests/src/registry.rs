//! A container registry on loopback for the pull tests: Debian's `docker-registry` (the
//! distribution registry), with or without htpasswd (bcrypt) credentials, its storage in
//! a fresh directory, on a fresh port. Killed when dropped. Images are pushed to it with
//! the Debian docker client; a 127.0.0.1 registry needs no TLS (dockerd allows it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::api_client::free_port;
use crate::harness::{eventually, unique};
use crate::images::{self, docker_cli};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub credentials: Option<(String, String)>,
    dir: tempfile::TempDir,
}

impl Registry {
    /// A registry anyone may pull from.
    pub async fn open() -> Registry {
        Self::start(None).await
    }

    /// A registry that wants `user` and `password` for every request.
    pub async fn with_password(user: &str, password: &str) -> Registry {
        Self::start(Some((user.to_string(), password.to_string()))).await
    }

    async fn start(credentials: Option<(String, String)>) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: run scripts/setup-test-env.sh (Debian's docker-registry)"
        );
        let dir = tempfile::tempdir().expect("a registry directory");
        let addr = format!("127.0.0.1:{}", free_port());
        let auth = match &credentials {
            Some((user, password)) => {
                let htpasswd = dir.path().join("htpasswd");
                let output = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils) runs: run scripts/setup-test-env.sh");
                assert!(output.status.success(), "htpasswd failed: {output:?}");
                std::fs::write(&htpasswd, &output.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: ashtest\n    path: {}\n",
                    htpasswd.display()
                )
            }
            None => String::new(),
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(REGISTRY_BIN)
            .args(["serve", config.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry {
            child,
            addr,
            credentials,
            dir,
        };
        let url = format!("http://{}/v2/", registry.addr);
        // 200 open, 401 with credentials: either way it answers.
        let up = eventually(Duration::from_secs(20), || async {
            reqwest::get(&url).await.ok().map(|_| ())
        })
        .await;
        assert!(up.is_some(), "docker-registry never answered at {url}");
        registry
    }

    /// A docker client configuration directory (`DOCKER_CONFIG`) holding this
    /// registry's credentials as `docker login` writes them, base64 `auth`.
    pub fn client_config(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        self.write_auth_file(&dir.join("config.json"));
        dir.to_path_buf()
    }

    /// Writes this registry's credentials to `path` as `podman login` writes its
    /// auth.json (the same `auths` format as the docker CLI's `config.json`).
    pub fn write_auth_file(&self, path: &Path) {
        let (user, password) = self
            .credentials
            .clone()
            .expect("a registry with a password");
        let auth = STANDARD.encode(format!("{user}:{password}"));
        std::fs::write(
            path,
            serde_json::json!({"auths": {&self.addr: {"auth": auth}}}).to_string(),
        )
        .unwrap();
    }

    /// The docker client, logged in to this registry when it wants credentials (its
    /// configuration in the registry's own directory, never the user's).
    fn cli(&self) -> Command {
        let mut command = docker_cli();
        if self.credentials.is_some() {
            command.env(
                "DOCKER_CONFIG",
                self.client_config(&self.dir.path().join("client")),
            );
        }
        command
    }

    /// Builds a new image (on the test busybox, with `blob_bytes` of random data in a
    /// layer of its own, printing `says` when it starts), pushes it as `name:tag` here,
    /// and removes it from the engine, so that a start must pull it. Its reference and
    /// image id.
    pub fn push_new(
        &self,
        name: &str,
        tag: &str,
        blob_bytes: usize,
        says: &str,
    ) -> (String, String) {
        let reference = format!("{}/{name}:{tag}", self.addr);
        let id = build_image(&reference, blob_bytes, says).expect("building a test image");
        self.push(&reference).expect("pushing to the test registry");
        remove_image(&reference);
        (reference, id)
    }

    /// Pushes a new image as `reference` to the registry only: the engine keeps the image
    /// it had under that name (`keep_id`), as a host would after the tag moved upstream.
    pub fn move_tag(
        &self,
        reference: &str,
        keep_id: &str,
        blob_bytes: usize,
        says: &str,
    ) -> String {
        let id = build_image(reference, blob_bytes, says).expect("building a test image");
        self.push(reference).expect("pushing to the test registry");
        run(docker_cli().args(["tag", keep_id, reference])).expect("tagging the old image back");
        id
    }

    fn push(&self, reference: &str) -> anyhow::Result<String> {
        run(self.cli().args(["push", reference]))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds a new image as `reference` on this engine: the test busybox, `blob_bytes` of
/// random data in a layer of its own (so no earlier run's layer matches), printing `says`
/// when it starts. Its image id.
pub fn build_image(reference: &str, blob_bytes: usize, says: &str) -> anyhow::Result<String> {
    images::ensure_images()?;
    let context = tempfile::tempdir()?;
    let mut blob = vec![0u8; blob_bytes];
    rand::rng().fill_bytes(&mut blob);
    std::fs::write(context.path().join("blob"), &blob)?;
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {}\nCOPY blob /blob\nLABEL io.ashtest.unique={}\nCMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; echo '{says}'; while true; do sleep 1; done\"]\n",
            images::BUSYBOX,
            unique("img"),
        ),
    )?;
    run(docker_cli()
        .args(["build", "-q", "-t", reference])
        .arg(context.path()))
}

/// Removes the images (references or ids) it holds when dropped, whatever the test's
/// outcome: each test's images are its own and useless to any other.
#[derive(Default)]
pub struct RemoveImages(pub Vec<String>);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        for image in &self.0 {
            remove_image(image);
        }
    }
}

/// Removes `reference` from the engine (an image no other tag holds goes with it).
pub fn remove_image(reference: &str) {
    let _ = docker_cli()
        .args(["image", "rm", "-f", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The image id the engine has under `reference`, if any.
pub fn image_id(reference: &str) -> Option<String> {
    run(docker_cli().args(["image", "inspect", "--format", "{{.Id}}", reference])).ok()
}

fn run(command: &mut Command) -> anyhow::Result<String> {
    let output = command.output().context("running docker")?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
