//! `ashtray --daemon`: the engine and its API, headless, until SIGTERM or SIGINT.

use std::time::Duration;

use anyhow::Context;
use ashtray_engine::answer_cache::AnswerCache;
use ashtray_engine::ayon::{AyonClient, AyonError};
use ashtray_engine::EngineConfig;
use backon::{ExponentialBuilder, Retryable};
use tokio_util::sync::CancellationToken;

use crate::host::{self, ApiOptions};

pub async fn run(config: EngineConfig, api: ApiOptions) -> anyhow::Result<()> {
    let _lock = ashtray_engine::lock::acquire(&config.endpoint, &config.hostname)?;
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));

    if config.server_url.is_empty() {
        // No server to log in to: the local services are all there is (the engine says so).
        let host = host::start(config, api, cancel.clone()).await?;
        cancel.cancelled().await;
        host.shutdown().await;
        return Ok(());
    }

    let client = AyonClient::new(
        &config.server_url,
        config.api_key.clone(),
        config.request_timeout,
    );
    let login = (|| client.service_user())
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(1))
                .with_max_delay(Duration::from_secs(30))
                .with_jitter()
                .without_max_times(),
        )
        .when(AyonError::is_transient)
        .notify(|error, delay| {
            tracing::warn!(
                "{error}; trying again in {:.0} s",
                delay.as_secs_f32().ceil()
            )
        });
    // With something to run before the server answers (local services, or the server's
    // answer cached by an earlier run), the host starts at once and the login goes on
    // beside it; a refused key still stops everything.
    let early = config.local_services.is_some()
        || (config.answer_cache
            && AnswerCache::new(&config.state_dir, &config.hostname)
                .path()
                .exists());
    let started = if early {
        Some(host::start(config.clone(), api.clone(), cancel.clone()).await?)
    } else {
        None
    };
    let user = tokio::select! {
        user = login => user.with_context(|| format!("cannot start: logging in to {}", config.server_url)),
        _ = cancel.cancelled() => {
            if let Some(host) = started {
                host.shutdown().await;
            }
            return Ok(());
        }
    };
    let user = match user {
        Ok(user) => user,
        Err(error) => {
            if let Some(host) = started {
                host.shutdown().await;
            }
            return Err(error);
        }
    };
    tracing::info!(
        user,
        server = %config.server_url,
        host = %config.hostname,
        engine = %config.endpoint.uri,
        "logged in; serving this host's services"
    );

    let host = match started {
        Some(host) => host,
        None => host::start(config, api, cancel.clone()).await?,
    };
    cancel.cancelled().await;
    host.shutdown().await;
    Ok(())
}

async fn cancel_on_signal(cancel: CancellationToken) {
    let stop = crate::signals::stop_requested().expect("installing the stop signals' handlers");
    let which = stop.await;
    tracing::info!("{which}: stopping");
    cancel.cancel();
}
