//! What asks ashtray to stop: SIGTERM (systemd, `docker stop`) and SIGINT (Ctrl-C) on
//! Unix; Ctrl-C and the console closing on Windows.

use std::future::Future;

use anyhow::Context as _;

/// Installs the handlers now (a signal from this moment on is caught) and resolves on the
/// first stop request, with its name for the log.
pub fn stop_requested() -> anyhow::Result<impl Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            }
        })
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_c, ctrl_close};
        let mut interrupt = ctrl_c().context("installing a Ctrl-C handler")?;
        let mut close = ctrl_close().context("installing a console-close handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => "Ctrl-C",
                _ = close.recv() => "the console closed",
            }
        })
    }
}
