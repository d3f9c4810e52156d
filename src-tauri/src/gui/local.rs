//! How the window and a second launch reach the always-on tray host: a Unix socket in
//! ashtray's config directory, one JSON request and one JSON answer per connection.
//!
//! Not the control API, because that one runs only while the engine does (a first run has
//! none until Settings is saved) and knows nothing of windows. The config directory is its
//! owner's alone, so the socket needs no token; a lock file beside it makes sure one tray
//! host owns it (two launches at once cannot both take it).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use super::session::Connection;

const SOCKET: &str = "tray-host.sock";
const LOCK: &str = "tray-host.lock";
/// Longest request or answer: a request is a few words, an answer a URL and a token.
const MAX_MESSAGE: u64 = 64 * 1024;

/// What a client asks the tray host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Show the window (a second launch, the tray): on Settings when `settings`.
    Open { settings: bool },
    /// Where the control API is and why the host does not run, once the first start
    /// after launch has been tried.
    Status,
    /// Start the host again from the saved settings (Settings was saved).
    Reload,
    /// Quit the app, as the tray's Quit does (the window asked the user first).
    Quit,
}

/// The tray host's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub connection: Option<Connection>,
    pub host_error: Option<String>,
    /// After `Reload`: whether there was enough configuration to start.
    pub started: bool,
}

pub fn socket_path(config_dir: &Path) -> PathBuf {
    config_dir.join(SOCKET)
}

/// The tray host's claim on its config directory: held for the life of the process.
pub struct Claim {
    _lock: File,
    pub listener: UnixListener,
}

/// Takes the socket, or `None` when another tray host holds it (then ask it instead).
pub fn claim(config_dir: &Path) -> io::Result<Option<Claim>> {
    std::fs::create_dir_all(config_dir)?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(config_dir.join(LOCK))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(error)) => return Err(error),
    }
    let path = socket_path(config_dir);
    // Left by a tray host that was killed: the lock says nobody serves it.
    match std::fs::remove_file(&path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    Ok(Some(Claim {
        _lock: lock,
        listener,
    }))
}

/// One request as the host's loop receives it, with where the answer goes.
pub type Incoming = (Request, oneshot::Sender<Answer>);

/// Accepts clients until the process ends, handing each request to `requests`.
pub async fn serve(listener: UnixListener, requests: mpsc::Sender<Incoming>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("the tray host's socket: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(stream, requests).await {
                tracing::debug!("a client of the tray host's socket: {error}");
            }
        });
    }
}

async fn answer(mut stream: UnixStream, requests: mpsc::Sender<Incoming>) -> io::Result<()> {
    let mut text = String::new();
    (&mut stream)
        .take(MAX_MESSAGE)
        .read_to_string(&mut text)
        .await?;
    let request: Request =
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let (reply, answered) = oneshot::channel();
    if requests.send((request, reply)).await.is_err() {
        return Ok(());
    }
    let Ok(answer) = answered.await else {
        return Ok(());
    };
    let text = serde_json::to_vec(&answer).expect("answers always serialise");
    stream.write_all(&text).await?;
    stream.shutdown().await
}

/// Asks the tray host of `config_dir`; an error when none runs there (or it does not
/// answer within `limit`).
pub async fn ask(config_dir: &Path, request: &Request, limit: Duration) -> io::Result<Answer> {
    let path = socket_path(config_dir);
    let exchange = async {
        let mut stream = UnixStream::connect(&path).await?;
        let text = serde_json::to_vec(request).expect("requests always serialise");
        stream.write_all(&text).await?;
        stream.shutdown().await?;
        let mut text = String::new();
        stream.take(MAX_MESSAGE).read_to_string(&mut text).await?;
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    };
    tokio::time::timeout(limit, exchange).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the tray host at {} did not answer within {} s",
                path.display(),
                limit.as_secs()
            ),
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_host_claims_the_socket_and_answers_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let claim = claim(dir.path()).unwrap().expect("the first claim wins");
        assert!(
            super::claim(dir.path()).unwrap().is_none(),
            "a second tray host must ask the first"
        );
        let (requests, mut incoming) = mpsc::channel(4);
        tokio::spawn(serve(claim.listener, requests));
        tokio::spawn(async move {
            while let Some((request, reply)) = incoming.recv().await {
                let _ = reply.send(Answer {
                    started: request == Request::Reload,
                    ..Answer::default()
                });
            }
        });
        let limit = Duration::from_secs(5);
        assert!(
            ask(dir.path(), &Request::Reload, limit)
                .await
                .unwrap()
                .started
        );
        assert!(
            !ask(dir.path(), &Request::Status, limit)
                .await
                .unwrap()
                .started
        );
    }

    #[tokio::test]
    async fn a_socket_left_by_a_killed_host_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        // A socket file nobody listens on, and no lock held.
        drop(std::os::unix::net::UnixListener::bind(socket_path(dir.path())).unwrap());
        assert!(ask(dir.path(), &Request::Status, Duration::from_secs(5))
            .await
            .is_err());
        assert!(claim(dir.path()).unwrap().is_some());
    }
}
