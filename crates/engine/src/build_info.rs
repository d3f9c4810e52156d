//! What was built: the version and the git commit, the same words wherever they are shown
//! (`ashtray --version`, `GET /api/v1/host`, `/metrics`, the heartbeat's User-Agent).

/// The crate version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit HEAD was at when it was built (12 hex digits), or `unknown` (see the
/// crate's build script).
pub const COMMIT: &str = env!("ASHTRAY_COMMIT");

/// `0.1.0 (commit 3743f3c1a2b4)`, for `--version`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ASHTRAY_COMMIT"),
    ")"
);

/// `ashtray/0.1.0 (3743f3c1a2b4)`, the User-Agent of every request to the AYON server.
pub fn user_agent() -> String {
    format!("ashtray/{VERSION} ({COMMIT})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_names_the_commit() {
        assert!(!COMMIT.is_empty());
        assert!(LONG_VERSION.starts_with(VERSION));
        assert!(LONG_VERSION.contains(COMMIT));
        assert_eq!(user_agent(), format!("ashtray/{VERSION} ({COMMIT})"));
    }
}
