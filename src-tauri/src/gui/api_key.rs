//! The AYON API key in the OS keyring (Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows) through the `keyring` crate.
//!
//! Never writes the key anywhere else: where no keyring answers, saving fails with the
//! reason and Settings says so; there is no plain-file fallback. Every call blocks (the
//! Secret Service client runs its own executor), so each one goes to `spawn_blocking`
//! and never runs on the async runtime's workers.

use ashtray_engine::Secret;

/// Where the key is filed: `secret-tool lookup service ashtray username ayon-api-key`.
pub const SERVICE: &str = "ashtray";
pub const USER: &str = "ayon-api-key";

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("no OS keyring is available ({0})")]
    Unavailable(String),
    #[error("the OS keyring refused: {0}")]
    Failed(String),
}

/// What the keyring holds, as Settings shows it (never the key itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyringStatus {
    pub available: bool,
    pub problem: Option<String>,
    pub stored: bool,
}

fn entry() -> Result<keyring::Entry, KeyringError> {
    keyring::Entry::new(SERVICE, USER).map_err(classify)
}

fn classify(error: keyring::Error) -> KeyringError {
    match error {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            KeyringError::Unavailable(inner.to_string())
        }
        other => KeyringError::Failed(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeyringError> + Send + 'static,
) -> Result<T, KeyringError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(KeyringError::Failed(format!(
            "the keyring call panicked: {e}"
        )))
    })
}

/// The stored key, `None` if there is none.
pub async fn load() -> Result<Option<Secret>, KeyringError> {
    blocking(|| match entry()?.get_password() {
        Ok(key) => Ok(Some(Secret::new(key))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(error) => Err(classify(error)),
    })
    .await
}

pub async fn store(key: Secret) -> Result<(), KeyringError> {
    blocking(move || entry()?.set_password(key.expose()).map_err(classify)).await
}

pub async fn status() -> KeyringStatus {
    match load().await {
        Ok(key) => KeyringStatus {
            available: true,
            problem: None,
            stored: key.is_some(),
        },
        Err(error) => KeyringStatus {
            available: false,
            problem: Some(error.to_string()),
            stored: false,
        },
    }
}
