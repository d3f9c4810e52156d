//! How the API's listeners treat each connection: a small kernel send buffer, so that a
//! reader who stops reading a live stream (logs, events) holds little in flight. Without
//! it the kernel buffers megabytes per connection: memory, and a log pane that shows
//! long-gone lines before it learns it fell behind. With it a slow reader soon loses the
//! oldest lines and is told how many (`missed`).

use std::io;
use std::net::SocketAddr;

use axum::serve::{Listener, ListenerExt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Bytes the kernel may hold unsent per connection (it doubles the figure). Enough for
/// full speed on loopback and a LAN; a slow reader lags after this much.
const SEND_BUFFER: usize = 256 * 1024;

/// The listener, with each accepted connection tuned.
pub fn tuned(listener: TcpListener) -> impl Listener<Addr = std::net::SocketAddr> {
    listener.tap_io(|stream| {
        // Small answers go out at once rather than waiting for more (Nagle).
        let _ = stream.set_nodelay(true);
        if let Err(error) = socket2::SockRef::from(&*stream).set_send_buffer_size(SEND_BUFFER) {
            tracing::debug!("cannot bound a connection's send buffer: {error}");
        }
    })
}

/// Binds `addr` even while no interface has that address: Podman makes its bridge (and
/// gateway address) only when its first container starts, and may remove it when the
/// last one stops; a freely bound socket answers whenever the address exists.
pub fn bind_gateway(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => socket.set_freebind_v6(true)?,
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
