//! One ashtray per AYON host and container engine: a second one would fight the first
//! over the same containers. The lock is an advisory file lock, released by the kernel
//! when the process dies, so a SIGKILLed ashtray never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::runtime::Endpoint;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another ashtray{pid} already runs the services of host {hostname:?} on {engine}; stop it first (lock file {path})")]
    Held {
        hostname: String,
        engine: String,
        pid: String,
        path: PathBuf,
    },
    #[error("cannot create the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the life of the process.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// Takes the lock of (`endpoint`, `hostname`), in the machine's temporary directory so
/// that every user's ashtray sees the same one.
pub fn acquire(endpoint: &Endpoint, hostname: &str) -> Result<InstanceLock, LockError> {
    let digest = Sha256::digest(format!("{}\n{hostname}", endpoint.uri));
    let path = std::env::temp_dir().join(format!("ashtray-{}.lock", &hex::encode(digest)[..16]));
    let io_error = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io_error)?;
            write!(file, "{}", std::process::id()).map_err(io_error)?;
            Ok(InstanceLock { _file: file, path })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.rewind();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            Err(LockError::Held {
                hostname: hostname.to_string(),
                engine: endpoint.uri.clone(),
                pid: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
                path,
            })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(io_error(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_host_and_engine_is_refused_until_released() {
        let endpoint = Endpoint {
            uri: format!("unix:///test/{}", std::process::id()),
            podman: false,
        };
        let first = acquire(&endpoint, "host-a").unwrap();
        let error = acquire(&endpoint, "host-a").unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
        let other_host = acquire(&endpoint, "host-b");
        assert!(other_host.is_ok());
        drop(first);
        assert!(acquire(&endpoint, "host-a").is_ok());
    }
}
