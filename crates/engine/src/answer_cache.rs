//! The server's last valid answer, kept in the state directory so that a host that
//! restarts while its server is down still runs what the server last asked of it.
//!
//! Only the answer's entries are kept (the services' specs, as the server sent them),
//! with the server's URL and when they were saved: never ashtray's API key. Written
//! whole to a private temporary file and renamed into place, so a crash never leaves
//! half a cache; a cache that does not parse is ignored with a warning, never fatal.

use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    /// The server that gave the answer: a cache of another server is not used.
    pub server_url: String,
    /// Unix ms when it was saved.
    pub saved_at_ms: u64,
    /// The heartbeat answer's entries.
    pub services: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read the cached server answer {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the cached server answer {path} does not parse ({source}): it is ignored, and replaced by the server's next answer")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot save the server's answer to {path}: {source}; a restart while the server is down will start nothing")]
    Write { path: PathBuf, source: io::Error },
}

/// The cache file of one AYON host.
#[derive(Debug)]
pub struct AnswerCache {
    path: PathBuf,
    /// The entries last written, so an unchanged answer is not written again each tick.
    written: Option<Vec<Value>>,
}

impl AnswerCache {
    pub fn new(state_dir: &Path, hostname: &str) -> AnswerCache {
        AnswerCache {
            path: state_dir.join(format!(
                "server-answer-{}.json",
                crate::slug::slugify(hostname)
            )),
            written: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached answer of `server_url`, if there is one; `Ok(None)` for none or another
    /// server's.
    pub fn load(&mut self, server_url: &str) -> Result<Option<CachedAnswer>, CacheError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CacheError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let cached: CachedAnswer =
            serde_json::from_slice(&bytes).map_err(|source| CacheError::Parse {
                path: self.path.clone(),
                source,
            })?;
        if cached.server_url.trim_end_matches('/') != server_url.trim_end_matches('/') {
            return Ok(None);
        }
        self.written = Some(cached.services.clone());
        Ok(Some(cached))
    }

    /// Keeps `services` as the server's last answer, unless it is the one kept already.
    pub fn store(&mut self, server_url: &str, services: &[Value]) -> Result<(), CacheError> {
        if self.written.as_deref() == Some(services) {
            return Ok(());
        }
        let cached = CachedAnswer {
            server_url: server_url.to_string(),
            saved_at_ms: crate::host_state::now_ms(),
            services: services.to_vec(),
        };
        let write = || -> io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let temporary = self
                .path
                .with_extension(format!("tmp.{}", std::process::id()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            // The specs' env may hold what only the services should see: 0600. (On
            // Windows the file takes the user profile's ACL, which is the user's alone.)
            #[cfg(unix)]
            options.mode(0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(&serde_json::to_vec(&cached).expect("an answer serialises"))?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        };
        write().map_err(|source| CacheError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.written = Some(services.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_round_trips_for_its_own_server_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = AnswerCache::new(dir.path(), "Worker 1");
        assert!(cache.path().ends_with("server-answer-worker_1.json"));
        assert_eq!(cache.load("http://ayon").unwrap(), None);
        let services = vec![json!({"name": "a"})];
        cache.store("http://ayon", &services).unwrap();
        let mut again = AnswerCache::new(dir.path(), "Worker 1");
        let loaded = again.load("http://ayon/").unwrap().expect("kept");
        assert_eq!(loaded.services, services);
        assert_eq!(again.load("http://other").unwrap(), None);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cache.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_cache_that_does_not_parse_is_an_error_that_says_it_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = AnswerCache::new(dir.path(), "h");
        std::fs::write(cache.path(), "{ half").unwrap();
        let error = cache.load("http://ayon").unwrap_err().to_string();
        assert!(error.contains("ignored"), "{error}");
    }
}
