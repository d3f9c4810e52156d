//! Image pulls: when to pull (the host's [`PullPolicy`]), and how far a pull has come
//! ([`PullProgress`], added up from the engine's progress records by the pure
//! [`PullTally`]). The engine's own request is in `Runtime::pull_image` below.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::CreateImageInfo;
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::registry_auth::RegistryAuth;
use super::{status_of, Runtime, RuntimeError};

/// When a service's image is pulled before its container is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Only when the engine does not have the image (Docker's and `ash`'s default).
    #[default]
    Missing,
    /// Before every create, so a tag moved on the registry (`:latest`) is taken up.
    Always,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<PullPolicy, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "missing" | "" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            other => Err(format!(
                "{other:?} is not a pull policy: use missing (pull only images this engine does not have) or always (pull before every start)"
            )),
        }
    }
}

impl std::fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PullPolicy::Missing => "missing",
            PullPolicy::Always => "always",
        })
    }
}

/// How far a pull has come: what the service's row shows while its image is pulled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullProgress {
    pub image: String,
    /// Bytes downloaded of the layers whose size is known yet.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Layers downloaded and extracted (or already on this engine).
    pub layers_done: u32,
    pub layers_total: u32,
}

/// Progress is handed on at most this often: the engine sends a record per chunk.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Default, Clone, Copy)]
struct Layer {
    done: u64,
    total: u64,
    complete: bool,
}

/// Adds up the engine's per-layer records into one [`PullProgress`]. Pure: fed the
/// records in order, it reads no clock and does no I/O.
#[derive(Debug, Default)]
pub struct PullTally {
    image: String,
    layers: BTreeMap<String, Layer>,
}

impl PullTally {
    pub fn new(image: &str) -> PullTally {
        PullTally {
            image: image.to_string(),
            layers: BTreeMap::new(),
        }
    }

    /// Takes one record; true when it changed the figures.
    pub fn push(
        &mut self,
        id: Option<&str>,
        status: &str,
        current: Option<i64>,
        total: Option<i64>,
    ) -> bool {
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            return false;
        };
        // "Pulling from library/busybox" carries the tag as its id, not a layer.
        if status.starts_with("Pulling from") {
            return false;
        }
        // A new layer is news by itself: it adds to the layers to fetch.
        let new = !self.layers.contains_key(id);
        let layer = self.layers.entry(id.to_string()).or_default();
        let before = *layer;
        let size = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        match status {
            "Downloading" => {
                if let Some(total) = size(total).filter(|t| *t > 0) {
                    layer.total = total;
                }
                if let Some(current) = size(current) {
                    layer.done = current.min(layer.total.max(current));
                }
            }
            "Verifying Checksum" | "Download complete" | "Extracting" => layer.done = layer.total,
            "Pull complete" | "Already exists" => {
                layer.done = layer.total;
                layer.complete = true;
            }
            _ => {}
        }
        let changed = (before.done, before.total, before.complete)
            != (layer.done, layer.total, layer.complete);
        new || changed
    }

    pub fn progress(&self) -> PullProgress {
        let layers = self.layers.values();
        PullProgress {
            image: self.image.clone(),
            bytes_done: layers.clone().map(|l| l.done).sum(),
            bytes_total: layers.clone().map(|l| l.total).sum(),
            layers_done: layers.clone().filter(|l| l.complete).count() as u32,
            layers_total: self.layers.len() as u32,
        }
    }
}

/// The error of a failed pull, with the registry's own words as the engine passed them on.
fn pull_failed(image: &str, reason: String) -> RuntimeError {
    RuntimeError::ImageMissing {
        image: image.to_string(),
        reason,
    }
}

impl Runtime {
    /// Whether the engine has `image` (one request).
    pub async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        self.count();
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(error) if status_of(&error) == Some(404) => Ok(false),
            Err(error) => Err(self.api_error("inspecting image", image)(error)),
        }
    }

    /// Pulls `image` with `auth` if given, handing `progress` the figures at most every
    /// [`PROGRESS_EVERY`] (and once as soon as the first layer is known).
    pub async fn pull_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<(), RuntimeError> {
        self.count();
        let mut stream = self.docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(image.to_string()),
                ..Default::default()
            }),
            None,
            auth.map(RegistryAuth::to_bollard),
        );
        let mut tally = PullTally::new(image);
        let mut last_sent: Option<tokio::time::Instant> = None;
        while let Some(record) = stream.next().await {
            let record: CreateImageInfo = match record {
                Ok(record) => record,
                Err(error) if super::is_connection_error(&error) => {
                    return Err(self.api_error("pulling image", image)(error))
                }
                Err(error) => return Err(pull_failed(image, super::engine_words(error))),
            };
            if let Some(detail) = record.error_detail.and_then(|d| d.message) {
                return Err(pull_failed(image, detail));
            }
            let detail = record.progress_detail.unwrap_or_default();
            let changed = tally.push(
                record.id.as_deref(),
                record.status.as_deref().unwrap_or(""),
                detail.current,
                detail.total,
            );
            let due = last_sent.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY);
            if changed && due {
                last_sent = Some(tokio::time::Instant::now());
                progress(tally.progress());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(records: &[(&str, &str, Option<i64>, Option<i64>)]) -> PullProgress {
        let mut tally = PullTally::new("registry.lan/tools:1");
        for (id, status, current, total) in records {
            tally.push(Some(id), status, *current, *total);
        }
        tally.progress()
    }

    #[test]
    fn policies_read_as_written_and_refuse_others() {
        assert_eq!("missing".parse(), Ok(PullPolicy::Missing));
        assert_eq!(" Always ".parse(), Ok(PullPolicy::Always));
        assert_eq!(PullPolicy::default(), PullPolicy::Missing);
        let error = "never".parse::<PullPolicy>().unwrap_err();
        assert!(
            error.contains("\"never\"") && error.contains("always"),
            "{error}"
        );
    }

    #[test]
    fn layers_add_up_bytes_and_count_complete_ones() {
        let progress = tally(&[
            ("1", "Pulling from tools", None, None),
            ("a", "Pulling fs layer", None, None),
            ("b", "Pulling fs layer", None, None),
            ("c", "Already exists", None, None),
            ("a", "Downloading", Some(100), Some(1000)),
            ("b", "Downloading", Some(50), Some(500)),
            ("a", "Downloading", Some(400), Some(1000)),
        ]);
        assert_eq!(
            (progress.bytes_done, progress.bytes_total),
            (450, 1500),
            "the tag's id is no layer; a layer already here adds no bytes"
        );
        assert_eq!((progress.layers_done, progress.layers_total), (1, 3));
        assert_eq!(progress.image, "registry.lan/tools:1");
    }

    #[test]
    fn a_downloaded_layer_counts_whole_and_done_once_extracted() {
        let progress = tally(&[
            ("a", "Downloading", Some(10), Some(1000)),
            ("a", "Download complete", None, None),
            ("b", "Downloading", Some(10), Some(20)),
        ]);
        assert_eq!((progress.bytes_done, progress.layers_done), (1010, 0));
        let progress = tally(&[
            ("a", "Downloading", Some(10), Some(1000)),
            ("a", "Extracting", Some(5), Some(1000)),
            ("a", "Pull complete", None, None),
        ]);
        assert_eq!((progress.bytes_done, progress.bytes_total), (1000, 1000));
        assert_eq!((progress.layers_done, progress.layers_total), (1, 1));
    }

    #[test]
    fn records_without_a_layer_change_nothing() {
        let mut tally = PullTally::new("x");
        assert!(!tally.push(None, "Digest: sha256:abc", None, None));
        assert!(!tally.push(Some("latest"), "Pulling from library/x", None, None));
        assert!(
            tally.push(Some("a"), "Pulling fs layer", None, None),
            "a new layer is news"
        );
        assert!(!tally.push(Some("a"), "Waiting", None, None));
        assert!(tally.push(Some("a"), "Downloading", Some(1), Some(2)));
        assert_eq!(tally.progress().layers_total, 1);
    }
}
