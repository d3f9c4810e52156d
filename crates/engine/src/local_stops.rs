//! Local stops: services the user stopped on this host (from the tray, the UI or the
//! CLI), and "pause all". They outlive ashtray's restarts, so they are kept on disk.
//! (The tray's settings overridden by the environment are another thing, in the GUI.)

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalStops {
    #[serde(default)]
    pub stopped: BTreeSet<String>,
    #[serde(default)]
    pub paused_all: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalStopsError {
    #[error("cannot read the stopped services from {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid overrides file ({source}); fix or delete it")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot save the stopped services to {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

impl LocalStops {
    /// The overrides of the AYON host `hostname` under `state_dir`.
    pub fn path(state_dir: &Path, hostname: &str) -> PathBuf {
        state_dir.join(format!("overrides-{}.json", crate::slug::slugify(hostname)))
    }

    /// Reads them; a missing file means none.
    pub fn load(path: &Path) -> Result<LocalStops, LocalStopsError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| LocalStopsError::Parse {
                path: path.to_path_buf(),
                source,
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(LocalStops::default()),
            Err(source) => Err(LocalStopsError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes them atomically: a crash mid-write leaves the old file, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), LocalStopsError> {
        let write = || -> io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let temporary = path.with_extension("json.tmp");
            std::fs::write(
                &temporary,
                serde_json::to_vec_pretty(self).expect("overrides serialise"),
            )?;
            std::fs::rename(&temporary, path)
        };
        write().map_err(|source| LocalStopsError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_missing_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = LocalStops::path(dir.path(), "Worker 1");
        assert!(path.ends_with("overrides-worker_1.json"));
        assert_eq!(LocalStops::load(&path).unwrap(), LocalStops::default());
        let overrides = LocalStops {
            stopped: ["ticker-a".to_string()].into(),
            paused_all: true,
        };
        overrides.save(&path).unwrap();
        assert_eq!(LocalStops::load(&path).unwrap(), overrides);
        std::fs::write(&path, "{").unwrap();
        assert!(LocalStops::load(&path)
            .unwrap_err()
            .to_string()
            .contains("fix or delete it"));
    }
}
