//! Test images, built on this machine: no registry is reachable. The base is Debian's
//! static busybox in an empty root file system (`docker import`), and each test image is
//! a `docker build FROM` it. Built once per engine and reused; safe to call from tests
//! running in parallel processes (a file lock serialises the builds).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

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

const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "yes", "cat", "env", "wget", "true", "false", "printf", "date", "seq",
    "head", "ls",
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

fn image_exists(image: &str) -> bool {
    docker_cli()
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds every test image that is missing.
pub fn ensure_images() -> anyhow::Result<()> {
    let all = [BUSYBOX, TICKER, TICKER_2, NOTERM, CRASHER, CHATTY, BURST];
    if all.iter().all(|image| image_exists(image)) {
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
    if !image_exists(BUSYBOX) {
        import_busybox()?;
    }
    build(
        TICKER,
        r#"CMD ["sh", "-c", "trap 'echo bye; exit 0' TERM; i=0; while true; do i=$((i+1)); echo \"tick $i\"; sleep 0.2; done"]"#,
    )?;
    build(
        TICKER_2,
        r#"CMD ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo \"tick2 $i\"; sleep 0.2; done"]"#,
    )?;
    build(
        NOTERM,
        r#"CMD ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]"#,
    )?;
    build(
        CRASHER,
        r#"CMD ["sh", "-c", "echo starting; echo 'fatal: boom' >&2; exit 3"]"#,
    )?;
    build(
        CHATTY,
        r#"CMD ["yes", "a chatty service says something rather long to fill the buffer quickly"]"#,
    )?;
    build(
        BURST,
        &format!(
            r#"CMD ["sh", "-c", "trap 'exit 0' TERM; seq {BURST_LINES}; while true; do sleep 1; done"]"#
        ),
    )?;
    Ok(())
}

fn import_busybox() -> anyhow::Result<()> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox is missing: install Debian's busybox-static (apt-get install busybox-static)");
    }
    let root = tempfile::tempdir()?;
    for dir in ["bin", "tmp", "etc"] {
        std::fs::create_dir_all(root.path().join(dir))?;
    }
    std::fs::copy(busybox, root.path().join("bin/busybox"))?;
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet))?;
    }
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )?;
    std::fs::write(
        root.path().join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\n",
    )?;
    let tar = Command::new("tar")
        .args(["-C"])
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let status = docker_cli()
        .args(["import", "--change", "ENV PATH=/bin", "-", BUSYBOX])
        .stdin(tar.stdout.context("tar's output")?)
        .stdout(Stdio::null())
        .status()
        .context("running docker import")?;
    if !status.success() {
        bail!("docker import of {BUSYBOX} failed");
    }
    Ok(())
}

fn build(tag: &str, cmd: &str) -> anyhow::Result<()> {
    if image_exists(tag) {
        return Ok(());
    }
    let context = tempfile::tempdir()?;
    let dockerfile = format!("FROM {BUSYBOX}\n{cmd}\n");
    let mut child = docker_cli()
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
            "docker build of {tag} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Copies images from Docker into Podman's local storage, unless already there.
pub fn copy_to_podman(images: &[&str]) -> anyhow::Result<()> {
    for image in images {
        let present = Command::new("podman")
            .args(["image", "exists", image])
            .status()
            .context("running podman")?;
        if present.success() {
            continue;
        }
        let save = docker_cli()
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .context("running docker save")?;
        let load = Command::new("podman")
            .args(["load", "-q"])
            .stdin(save.stdout.context("docker save's output")?)
            .stdout(Stdio::null())
            .status()
            .context("running podman load")?;
        if !load.success() {
            bail!("podman load of {image} failed");
        }
    }
    Ok(())
}
