//! Test images, built on this machine: no registry is reachable. The base is Debian's
//! static busybox in an empty root file system (`docker import`), and each test image is
//! a `docker build FROM` it. Safe to call from tests running in parallel processes (a
//! file lock serialises the builds).
//!
//! An image is trusted by its recipe, never by its tag: each carries a label with a hash
//! of what made it (the busybox binary, its applets and files; a Dockerfile and the base's
//! hash), and is built again when the label differs or is missing. An image left on the
//! machine by an older build (say a busybox with fewer applets) is therefore replaced, not
//! used. Copies into other stores (Podman, a second dockerd) compare the same label.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

pub const BUSYBOX: &str = "ashtest/busybox:1";
/// Prints `tick N` five times a second; exits 0 on SIGTERM.
pub const TICKER: &str = "ashtest/ticker:1";
/// A second tag of the ticker, for image-change tests.
pub const TICKER_2: &str = "ashtest/ticker:2";
/// Ignores SIGTERM: only SIGKILL stops it.
pub const NOTERM: &str = "ashtest/noterm:1";
/// Prints two lines and exits with code 3.
pub const CRASHER: &str = "ashtest/crasher:1";
/// Prints as fast as it can.
pub const CHATTY: &str = "ashtest/chatty:1";
/// Prints the numbers 1 to `BURST_LINES` at once when it starts, then nothing; exits 0
/// on SIGTERM.
pub const BURST: &str = "ashtest/burst:1";
pub const BURST_LINES: u64 = 200_000;
/// Prints `WORDY_LINES` lines of 400 bytes at once when it starts (more than a service's
/// log buffer keeps: 5 000 lines, 2 MiB), then nothing; exits 0 on SIGTERM.
pub const WORDY: &str = "ashtest/wordy:1";
pub const WORDY_LINES: u64 = 6_000;
/// Has a HEALTHCHECK (every second, one failure makes it unhealthy): healthy for its
/// first 8 s, unhealthy from then on; exits 0 on SIGTERM.
pub const SICKLY: &str = "ashtest/sickly:1";
/// Says so, then fills its memory until (under a small `memLimit`) the kernel kills it.
pub const OOMER: &str = "ashtest/oomer:1";

/// The label holding an image's recipe hash.
pub const RECIPE_LABEL: &str = "io.ashtest.recipe";

const BUSYBOX_BIN: &str = "/bin/busybox";

const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "yes", "cat", "env", "wget", "true", "false", "printf", "date", "seq",
    "head", "ls",
];
const PASSWD: &str = "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
const BUSYBOX_ENV: &str = "ENV PATH=/bin";

/// The images built `FROM` busybox, each with the rest of its Dockerfile.
const DERIVED: &[(&str, &str)] = &[
    (
        TICKER,
        r#"CMD ["sh", "-c", "trap 'echo bye; exit 0' TERM; i=0; while true; do i=$((i+1)); echo \"tick $i\"; sleep 0.2; done"]"#,
    ),
    (
        TICKER_2,
        r#"CMD ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo \"tick2 $i\"; sleep 0.2; done"]"#,
    ),
    (
        NOTERM,
        r#"CMD ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]"#,
    ),
    (
        CRASHER,
        r#"CMD ["sh", "-c", "echo starting; echo 'fatal: boom' >&2; exit 3"]"#,
    ),
    (
        CHATTY,
        r#"CMD ["yes", "a chatty service says something rather long to fill the buffer quickly"]"#,
    ),
    (
        SICKLY,
        r#"HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD ["sh", "-c", "read word < /tmp/health && [ \"$word\" = ok ]"]
CMD ["sh", "-c", "trap 'exit 0' TERM; echo ok > /tmp/health; sleep 8; echo sick > /tmp/health; while true; do sleep 1; done"]"#,
    ),
    // `seq` counts to WORDY_LINES; each number printed 400 digits wide.
    (
        WORDY,
        r#"CMD ["sh", "-c", "trap 'exit 0' TERM; seq 6000 | while read i; do printf '%0400d\n' $i; done; while true; do sleep 1; done"]"#,
    ),
    // `seq` counts to BURST_LINES (a test below keeps the two in step).
    (
        BURST,
        r#"CMD ["sh", "-c", "trap 'exit 0' TERM; seq 200000; while true; do sleep 1; done"]"#,
    ),
    (
        OOMER,
        r#"CMD ["sh", "-c", "echo filling memory; a=$(yes | head -c 200000000); echo survived"]"#,
    ),
];

/// The Debian client: another one first on PATH may speak an API version the daemon refuses.
pub fn docker_cli() -> Command {
    let client = if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    };
    let mut command = Command::new(client);
    if let Ok(host) = std::env::var("ASHTEST_DOCKER_HOST") {
        command.env("DOCKER_HOST", host);
    }
    command
}

/// Where images live: the tests' Docker (`docker_cli`), another dockerd, or Podman.
#[derive(Debug, Clone, Copy)]
pub enum Store<'a> {
    Docker,
    /// A dockerd on this socket URI, e.g. `unix:///tmp/x/docker.sock`.
    DockerAt(&'a str),
    Podman,
    /// The rootless Podman of the tests' unprivileged user ([`crate::rootless`]).
    PodmanRootless,
}

impl Store<'_> {
    fn cli(&self) -> Command {
        match self {
            Store::Docker => docker_cli(),
            Store::DockerAt(host) => {
                let mut command = docker_cli();
                command.env("DOCKER_HOST", host);
                command
            }
            Store::Podman => Command::new("podman"),
            Store::PodmanRootless => crate::rootless::podman_cli(),
        }
    }

    /// The image's recipe label here; `None` if the image (or its label) is missing.
    fn recipe_of(&self, image: &str) -> Option<String> {
        // Docker keeps labels under Config; Podman's inspect has them at the top too.
        let format = match self {
            Store::Podman | Store::PodmanRootless => {
                format!("{{{{ index .Labels \"{RECIPE_LABEL}\" }}}}")
            }
            _ => format!("{{{{ index .Config.Labels \"{RECIPE_LABEL}\" }}}}"),
        };
        let output = self
            .cli()
            .args(["image", "inspect", "--format", &format, image])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let label = String::from_utf8_lossy(&output.stdout).trim().to_string();
        (output.status.success() && !label.is_empty() && label != "<no value>").then_some(label)
    }

    fn is_current(&self, image: &str, recipe: &str) -> bool {
        self.recipe_of(image).as_deref() == Some(recipe)
    }
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        // Length-prefixed, so that moving a byte from one part to the next changes it.
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

/// The base image's recipe: the busybox binary, its applets, its files and its ENV.
fn busybox_recipe() -> anyhow::Result<&'static str> {
    static RECIPE: OnceLock<String> = OnceLock::new();
    if let Some(recipe) = RECIPE.get() {
        return Ok(recipe);
    }
    let binary = std::fs::read(BUSYBOX_BIN).with_context(|| {
        format!("reading {BUSYBOX_BIN}: install Debian's busybox-static (apt-get install busybox-static)")
    })?;
    let applets = APPLETS.join(" ");
    let recipe = sha256_hex(&[
        &binary,
        applets.as_bytes(),
        PASSWD.as_bytes(),
        GROUP.as_bytes(),
        BUSYBOX_ENV.as_bytes(),
    ]);
    Ok(RECIPE.get_or_init(|| recipe))
}

/// A derived image's recipe and Dockerfile: its own text and its base's recipe, so a new
/// base rebuilds everything on it.
fn derived_recipe(body: &str) -> anyhow::Result<(String, String)> {
    Ok(derived_recipe_on(busybox_recipe()?, body))
}

fn derived_recipe_on(base: &str, body: &str) -> (String, String) {
    let text = format!("FROM {BUSYBOX}\n{body}\n");
    let recipe = sha256_hex(&[base.as_bytes(), text.as_bytes()]);
    let dockerfile = format!("{text}LABEL {RECIPE_LABEL}={recipe}\n");
    (recipe, dockerfile)
}

/// The recipe every test image should carry, by tag.
fn recipe_of(image: &str) -> anyhow::Result<String> {
    if image == BUSYBOX {
        return Ok(busybox_recipe()?.to_string());
    }
    let (_, body) = DERIVED
        .iter()
        .find(|(tag, _)| *tag == image)
        .with_context(|| format!("{image} is not one of the test images"))?;
    Ok(derived_recipe(body)?.0)
}

fn all_current(store: Store) -> anyhow::Result<bool> {
    if !store.is_current(BUSYBOX, busybox_recipe()?) {
        return Ok(false);
    }
    for (tag, body) in DERIVED {
        if !store.is_current(tag, &derived_recipe(body)?.0) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Builds every test image that is missing or not made by today's recipe, in the tests'
/// Docker.
pub fn ensure_images() -> anyhow::Result<()> {
    ensure_images_in(Store::Docker)
}

/// The same in a Docker store of choice.
pub fn ensure_images_in(store: Store) -> anyhow::Result<()> {
    if all_current(store)? {
        return Ok(());
    }
    let lock_path = std::env::temp_dir().join("ashtest-images.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock().context("locking the image build")?;
    // Another process may have built them while this one waited for the lock.
    if !store.is_current(BUSYBOX, busybox_recipe()?) {
        import_busybox(store)?;
    }
    for (tag, body) in DERIVED {
        let (recipe, dockerfile) = derived_recipe(body)?;
        if !store.is_current(tag, &recipe) {
            build(store, tag, &dockerfile)?;
        }
    }
    Ok(())
}

fn import_busybox(store: Store) -> anyhow::Result<()> {
    let recipe = busybox_recipe()?;
    let root = tempfile::tempdir()?;
    for dir in ["bin", "tmp", "etc"] {
        std::fs::create_dir_all(root.path().join(dir))?;
    }
    std::fs::copy(BUSYBOX_BIN, root.path().join("bin/busybox"))?;
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet))?;
    }
    std::fs::write(root.path().join("etc/passwd"), PASSWD)?;
    std::fs::write(root.path().join("etc/group"), GROUP)?;
    let tar = Command::new("tar")
        .args(["-C"])
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let label = format!("LABEL {RECIPE_LABEL}={recipe}");
    let status = store
        .cli()
        .args([
            "import",
            "--change",
            BUSYBOX_ENV,
            "--change",
            &label,
            "-",
            BUSYBOX,
        ])
        .stdin(tar.stdout.context("tar's output")?)
        .stdout(Stdio::null())
        .status()
        .context("running docker import")?;
    if !status.success() {
        bail!("docker import of {BUSYBOX} into {store:?} failed");
    }
    Ok(())
}

fn build(store: Store, tag: &str, dockerfile: &str) -> anyhow::Result<()> {
    let context = tempfile::tempdir()?;
    let mut child = store
        .cli()
        .args(["build", "-q", "-t", tag, "-f", "-"])
        .arg(context.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running docker build")?;
    child
        .stdin
        .take()
        .context("docker build's input")?
        .write_all(dockerfile.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "docker build of {tag} in {store:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Copies test images from the tests' Docker into `to` (`docker save | load`), unless
/// `to` has them by today's recipe already. Builds them first if needed.
pub fn copy_to(to: Store, images: &[&str]) -> anyhow::Result<()> {
    ensure_images()?;
    for image in images {
        let recipe = recipe_of(image)?;
        if to.is_current(image, &recipe) {
            continue;
        }
        let save = docker_cli()
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .context("running docker save")?;
        let load = to
            .cli()
            .args(["load", "-q"])
            .stdin(save.stdout.context("docker save's output")?)
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("loading {image} into {to:?}"))?;
        if !load.success() {
            bail!("loading {image} into {to:?} failed");
        }
        if !to.is_current(image, &recipe) {
            bail!("{image} was loaded into {to:?} but does not carry recipe {recipe}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_follows_its_dockerfile_and_its_base() {
        let (ticker, dockerfile) = derived_recipe_on("base-1", DERIVED[0].1);
        assert!(dockerfile.ends_with(&format!("LABEL {RECIPE_LABEL}={ticker}\n")));
        assert_eq!(derived_recipe_on("base-1", DERIVED[0].1).0, ticker);
        // A base built anew (say with more applets) makes every image on it stale.
        assert_ne!(derived_recipe_on("base-2", DERIVED[0].1).0, ticker);
        assert_ne!(derived_recipe_on("base-1", DERIVED[1].1).0, ticker);
        // Parts are delimited: moving a byte between them is another recipe.
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
    }

    #[test]
    fn the_burst_image_prints_burst_lines() {
        let (_, body) = DERIVED.iter().find(|(tag, _)| *tag == BURST).unwrap();
        assert!(body.contains(&format!("seq {BURST_LINES};")), "{body}");
        let (_, body) = DERIVED.iter().find(|(tag, _)| *tag == WORDY).unwrap();
        assert!(body.contains(&format!("seq {WORDY_LINES} ")), "{body}");
    }
}
