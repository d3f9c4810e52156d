//! `GET /api/v1/services/{name}/details`: what a detail view shows of one service beyond
//! the list: its spec as the server sent it (values of secret-looking env keys hidden),
//! the image id of its container, and its recent history. Asked of the engine on request
//! (`Handle::details`), never carried in the host's every snapshot.

use serde::Serialize;
use utoipa::ToSchema;

use ashtray_engine::history::HistoryEntry;
use ashtray_engine::spec::ServiceSpec;
use ashtray_engine::ServiceDetails;

use crate::views::{ServiceInfo, SpecCommon};

/// Words in an env key that mark its value as a secret. A key, token or password in a
/// spec's env is the service's own business: the detail view says the key is there,
/// never its value.
const SECRET_WORDS: &[&str] = &[
    "KEY",
    "PASS",
    "AUTH",
    "PRIVATE",
    "COOKIE",
    "SESSION",
    "CREDENTIAL",
    "CREDENTIALS",
];
/// Endings that mark a word run together from several (`APITOKEN`, `DBPASSWORD`).
const SECRET_ENDINGS: &[&str] = &["TOKEN", "SECRET", "PASSWORD", "PASSWD", "APIKEY"];

/// Whether `key`'s value must not be shown: one of its words (split at `_`, `-`, `.`) is a
/// secret word, or ends like one: `AYON_API_KEY`, `db-password`, `ApiToken`. Errs towards
/// hiding; `MONKEY_COUNT` or `PASSAGE` are shown.
pub fn is_secret_key(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    upper.split(['_', '-', '.']).any(|word| {
        SECRET_WORDS.contains(&word) || SECRET_ENDINGS.iter().any(|end| word.ends_with(end))
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvEntry {
    pub key: String,
    /// Null when hidden.
    pub value: Option<String>,
    /// The key looks like a secret's: its value is not shown.
    pub hidden: bool,
}

/// The spec as the server sent it (validated), for a person to read.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecView {
    #[serde(flatten)]
    pub common: SpecCommon,
    /// In the server's order; values of secret-looking keys hidden.
    pub env: Vec<EnvEntry>,
    /// The command instead of the image's (local services file only).
    pub command: Option<Vec<String>>,
}

impl SpecView {
    pub fn of(spec: &ServiceSpec) -> SpecView {
        SpecView {
            common: SpecCommon::of(spec),
            env: spec
                .env
                .iter()
                .map(|(key, value)| {
                    let hidden = is_secret_key(key);
                    EnvEntry {
                        key: key.clone(),
                        value: (!hidden).then(|| value.clone()),
                        hidden,
                    }
                })
                .collect(),
            command: spec.command.clone(),
        }
    }
}

/// One thing that happened to a service on this host.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntryView {
    /// Unix ms.
    pub at_ms: u64,
    /// `started`, `restarted`, `exited`, `start_failed`, `stopped` or `stop_failed`.
    pub kind: String,
    /// In words, with the reason: "exited with code 137 (SIGKILL)", "recreated: its spec
    /// changed on the server".
    pub text: String,
}

impl From<&HistoryEntry> for HistoryEntryView {
    fn from(entry: &HistoryEntry) -> Self {
        HistoryEntryView {
            at_ms: entry.at_ms,
            kind: entry.kind.as_str().to_string(),
            text: entry.text.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDetailsView {
    /// The service as the list shows it (container id, image, state, the full last error).
    pub service: ServiceInfo,
    /// The id of its container's image (`sha256:…`), when the engine says.
    pub image_id: Option<String>,
    /// Its spec, while it is wanted here with a valid one.
    pub spec: Option<SpecView>,
    /// Oldest first, the last 50 at most.
    pub history: Vec<HistoryEntryView>,
}

impl ServiceDetailsView {
    pub fn of(service: ServiceInfo, details: &ServiceDetails) -> ServiceDetailsView {
        ServiceDetailsView {
            service,
            image_id: details.image_id.clone(),
            spec: details.spec.as_ref().map(SpecView::of),
            history: details.history.iter().map(HistoryEntryView::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_keys_are_told_from_plain_ones() {
        for secret in [
            "AYON_API_KEY",
            "ASHTRAY_SERVICE_TOKEN",
            "db-password",
            "ApiToken",
            "AWS_SECRET_ACCESS_KEY",
            "SMTP_PASS",
            "private.key",
        ] {
            assert!(is_secret_key(secret), "{secret}");
        }
        for plain in [
            "GREETING",
            "AYON_SERVER_URL",
            "PATH",
            "MONKEY_COUNT",
            "PASSAGE",
        ] {
            assert!(!is_secret_key(plain), "{plain}");
        }
    }
}
