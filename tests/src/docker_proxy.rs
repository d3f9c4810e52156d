//! A counting proxy on the Docker socket: a Unix socket that forwards every byte to the
//! real engine's and writes down each HTTP request that goes through (method and path),
//! so a test or benchmark can say how many requests ashtray made, and which.
//!
//! Hand-written rather than socat: socat's verbose dump would have to be parsed from a
//! second process, and a forwarder is thirty lines of tokio. Requests are read from the
//! request lines of the client's bytes (`GET /v1.41/containers/json?... HTTP/1.1`), which
//! is exact for bollard: its bodies are JSON on one line, never a line of that shape.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// One request seen going to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    /// Without the API version prefix: `/containers/json?all=true&...`.
    pub path: String,
}

/// The proxy, listening until dropped.
pub struct DockerProxy {
    socket: PathBuf,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A socket path where the proxy listens once started: until then, an engine that is not
/// there (nothing listens), for a test of an engine that comes up late.
pub struct ReservedSocket {
    dir: tempfile::TempDir,
}

impl ReservedSocket {
    pub fn new() -> ReservedSocket {
        ReservedSocket {
            dir: tempfile::tempdir().expect("a directory for the proxy's socket"),
        }
    }

    /// What to give ashtray as `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// The engine comes up: the proxy listens on this socket.
    pub fn start(self) -> DockerProxy {
        DockerProxy::listen_in(self.dir)
    }
}

impl Default for ReservedSocket {
    fn default() -> ReservedSocket {
        ReservedSocket::new()
    }
}

impl DockerProxy {
    /// Listens on a new socket and forwards to the engine the tests use
    /// (`ASHTEST_DOCKER_HOST`, else `/var/run/docker.sock`).
    pub fn start() -> DockerProxy {
        DockerProxy::listen_in(tempfile::tempdir().expect("a directory for the proxy's socket"))
    }

    fn listen_in(dir: tempfile::TempDir) -> DockerProxy {
        let upstream = std::env::var("ASHTEST_DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let upstream = PathBuf::from(
            upstream
                .strip_prefix("unix://")
                .expect("the counting proxy forwards to a Unix socket (ASHTEST_DOCKER_HOST)"),
        );
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("binding the proxy's socket");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept(listener, upstream, seen.clone()));
        DockerProxy {
            socket,
            seen,
            task,
            _dir: dir,
        }
    }

    /// What to give ashtray as `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// How many requests went through so far.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The requests from number `from` on.
    pub fn since(&self, from: usize) -> Vec<SeenRequest> {
        self.seen.lock().unwrap()[from..].to_vec()
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: UnixListener, upstream: PathBuf, seen: Arc<Mutex<Vec<SeenRequest>>>) {
    while let Ok((client, _)) = listener.accept().await {
        let upstream = upstream.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            if let Ok(engine) = UnixStream::connect(&upstream).await {
                forward(client, engine, seen).await;
            }
        });
    }
}

async fn forward(client: UnixStream, engine: UnixStream, seen: Arc<Mutex<Vec<SeenRequest>>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut engine_read, mut engine_write) = engine.into_split();
    let upstream = async move {
        let mut lines = RequestLines::default();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let requests = lines.feed(&buffer[..read]);
            seen.lock().unwrap().extend(requests);
            if engine_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = engine_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut engine_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Cuts a client's bytes into lines and keeps those that are HTTP request lines.
#[derive(Default)]
struct RequestLines {
    line: Vec<u8>,
}

/// Enough of a line to hold any request line bollard writes; the rest is not kept.
const LINE_KEPT: usize = 8 * 1024;

impl RequestLines {
    fn feed(&mut self, bytes: &[u8]) -> Vec<SeenRequest> {
        let mut found = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                if let Some(request) = request_line(&self.line) {
                    found.push(request);
                }
                self.line.clear();
            } else if self.line.len() < LINE_KEPT {
                self.line.push(byte);
            }
        }
        found
    }
}

fn request_line(line: &[u8]) -> Option<SeenRequest> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    let known = ["GET", "POST", "PUT", "DELETE", "HEAD"].contains(&method);
    if !known || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return None;
    }
    // `/v1.41/containers/json` → `/containers/json`.
    let path = match target.strip_prefix("/v") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            rest.find('/').map_or(target, |at| &rest[at..])
        }
        _ => target,
    };
    Some(SeenRequest {
        method: method.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_found_across_reads_and_bodies_are_not_requests() {
        let mut lines = RequestLines::default();
        let first = lines.feed(b"GET /v1.41/containers/json?all=true HT");
        assert!(first.is_empty());
        let rest = lines.feed(
            b"TP/1.1\r\nhost: docker\r\n\r\nPOST /v1.41/containers/create?name=a HTTP/1.1\r\n\r\n{\"Cmd\":[\"GET / HTTP/1.1\"]}",
        );
        assert_eq!(
            [first, rest].concat(),
            [
                SeenRequest {
                    method: "GET".into(),
                    path: "/containers/json?all=true".into()
                },
                SeenRequest {
                    method: "POST".into(),
                    path: "/containers/create?name=a".into()
                },
            ]
        );
    }
}
