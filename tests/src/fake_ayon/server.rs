//! Listening and serving connections, in a way that can be stopped for real.
//!
//! `axum::serve` can stop accepting, but lets open keep-alive connections live on,
//! so a client would keep talking to a server that "went away". Here every
//! connection is a task of the accept loop; stopping drops the listener and aborts
//! those tasks, which closes their sockets: clients see a closed connection, then
//! "connection refused". The port can then be bound again for `come_back`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// A listener and its connections, running until stopped.
pub struct Serving {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Serving {
    /// Binds `addr` (port 0 picks one) and starts serving `app` on it.
    pub async fn start(addr: SocketAddr, app: Router) -> io::Result<Serving> {
        let listener = bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, app, stop.clone()));
        Ok(Serving { addr, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener and every connection; returns once all are closed.
    pub async fn stop(self) {
        self.stop.cancel();
        // A panic in the loop would already have ended serving; nothing to add.
        let _ = self.task.await;
    }

    /// For Drop, which cannot wait: the loop winds down on its own.
    pub fn stop_soon(&self) {
        self.stop.cancel();
    }
}

/// Binds with SO_REUSEADDR, so the port of a server that just went away can be
/// listened on again at once, even while its closed connections linger in TIME_WAIT.
/// Retries briefly in case the old socket is still being torn down.
async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut attempts = 0;
    loop {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn accept_loop(listener: TcpListener, app: Router, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, app.clone()));
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connections so the set does not grow without end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Aborting a connection's task drops its socket, which closes it.
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, app: Router) {
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(app);
    // A client that breaks off mid-request is not the fake's problem.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
