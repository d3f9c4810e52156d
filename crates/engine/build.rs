//! Bakes the git commit into the build, so `ashtray --version`, the API, `/metrics` and
//! the heartbeat's User-Agent say exactly what runs. A build without git (from a source
//! archive, or a container build context without `.git`) takes `ASHTRAY_COMMIT` from the
//! environment, else says `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ASHTRAY_COMMIT");
    // Read when the script runs, not baked in with `env!` when it is compiled: two
    // worktrees sharing a target directory share this script's binary, and a baked path
    // would ask the other worktree's git (or a removed one's, and say `unknown`). They
    // also share its last run: after a build in the other worktree, this one's commit is
    // read again only once one of its watched files below changes (a commit, a checkout).
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let manifest_dir = Path::new(&manifest_dir);
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
        if let Some(path) = git(manifest_dir, root, &["rev-parse", "--git-path", file]) {
            let path = root.join(path);
            if manifest_dir.join(&path).exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let commit = std::env::var("ASHTRAY_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(manifest_dir, root, &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ASHTRAY_COMMIT={}", commit.trim());
}

fn git(manifest_dir: &Path, root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(manifest_dir.join(root))
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_string())
}
