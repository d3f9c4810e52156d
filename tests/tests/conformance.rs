//! The fake AYON server checked by the shared conformance script
//! (`shared/ayon-api/conformance.py`), the same script that checks the real
//! server's wire format: if the fake passes it, tests against the fake test
//! against what ayon-backend 1.16.0 really answers.

use std::path::{Path, PathBuf};

use ashtray_tests::fake_ayon::FakeAyon;

fn conformance_script() -> PathBuf {
    // tests/ -> the repository root -> shared/ beside it.
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = repo_root.join("../shared/ayon-api/conformance.py");
    assert!(
        script.is_file(),
        "conformance.py not found: looked for {} (shared/ayon-api/ beside the repository root {})",
        script.display(),
        repo_root.display()
    );
    script
}

/// Runs the script against the fake; returns its output after checking it passed.
async fn run_conformance(script: &Path, fake: &FakeAyon) -> String {
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--url", &fake.url(), "--key", &fake.service_key()])
        .arg("--non-service-auth")
        .arg(format!("Authorization: Bearer {}", fake.admin_token()))
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !stderr.is_empty() {
        eprintln!("{stderr}");
    }
    let last_line = stdout.lines().last().unwrap_or("");
    assert!(
        output.status.success(),
        "conformance.py exited with {}; its last line: {last_line:?}",
        output.status
    );
    assert!(
        last_line.split(", ").any(|part| part == "0 failed"),
        "conformance.py's last line should say `0 failed`, got {last_line:?}"
    );
    stdout
}

#[tokio::test]
async fn fake_server_passes_conformance_py() {
    let script = conformance_script();
    let fake = FakeAyon::start().await;
    run_conformance(&script, &fake).await;
    // The script uses fresh names and cleans up, so a second run on the same server
    // must pass too: nothing it left behind may change the answers.
    run_conformance(&script, &fake).await;
}
