//! Bakes the git commit into the build, so `ashtray --version`, the API, `/metrics` and
//! the heartbeat's User-Agent say exactly what runs. A build without git (from a source
//! archive, or a container build context without `.git`) takes `ASHTRAY_COMMIT` from the
//! environment, else says `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ASHTRAY_COMMIT");
    // Relative to this package, so cargo resolves the watched paths against wherever the
    // workspace is now: two clones sharing one target directory (CI's fresh clones do)
    // would otherwise each watch the other's `.git` and keep a stale commit.
    let root = Path::new("../..");
    // A checkout moves HEAD; a commit moves a branch (a file under refs/heads, which cargo
    // watches as a directory, or packed-refs). The index is not watched: `git add` and
    // even `git status` rewrite it, and each rewrite would rebuild the workspace.
    // Uncommitted changes are not tracked: a developer's build names the commit its tree
    // started from. Only existing paths are named (cargo reruns for a missing one every
    // time); `--git-path` finds them in a worktree too, where `.git` is a file.
    for file in ["HEAD", "packed-refs", "refs/heads"] {
        if let Some(path) = git(root, &["rev-parse", "--git-path", file]) {
            let path = root.join(path);
            if Path::new(env!("CARGO_MANIFEST_DIR")).join(&path).exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let commit = std::env::var("ASHTRAY_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(root, &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ASHTRAY_COMMIT={}", commit.trim());
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(root))
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_string())
}
