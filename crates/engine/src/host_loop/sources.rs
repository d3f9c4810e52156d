//! Where desired state comes from: the server's answer (or, while the server has not
//! answered and cannot be reached, its last answer kept on disk), and the local
//! services file. Each yields a [`DesiredSet`]; [`DesiredSet::merge`] (pure) makes the
//! one the loop plans with. This component owns the parts; the loop only asks for the
//! merged set when one of them changes.

use super::heartbeat::Answer;
use super::local_source::LocalSource;
use super::HostLoop;
use crate::answer_cache::AnswerCache;
use crate::container::HostSettings;
use crate::host_state::ServiceSource;
use crate::reconcile::desired::DesiredSet;

#[derive(Default)]
pub(super) struct DesiredSources {
    /// The server's last answer, or the cached one while there was none.
    pub(super) server: Option<DesiredSet>,
    pub(super) local: Option<LocalSource>,
    /// Where the server's answers are kept (`None` with `--no-cache` or no server).
    pub(super) cache: Option<AnswerCache>,
    /// The cached answer, held until the server proves unreachable: a server that
    /// answers at once is never preempted by an older answer.
    pub(super) held: Option<(DesiredSet, u64)>,
    /// `server` is the cached answer, not one heard since ashtray started.
    pub(super) server_cached: bool,
}

impl DesiredSources {
    pub(super) fn merged(&self) -> Option<DesiredSet> {
        let local = self.local.as_ref();
        DesiredSet::merge(
            self.server.clone(),
            local.and_then(|l| l.set.clone()),
            &local.map(LocalSource::origin).unwrap_or_default(),
        )
    }

    /// Whether the server has answered since ashtray started (a cached answer is not one).
    pub(super) fn server_answered(&self) -> bool {
        self.server.is_some() && !self.server_cached
    }

    pub(super) fn for_host(&mut self, host: &HostSettings) {
        self.server = self.server.take().map(|set| set.for_host(host));
        self.held = self.held.take().map(|(set, at)| (set.for_host(host), at));
        if let Some(local) = &mut self.local {
            local.for_host(host);
        }
    }
}

impl HostLoop {
    /// Reads the local services file again; a change makes a new desired set.
    pub(super) fn reload_local(&mut self) {
        let Some(local) = &mut self.sources.local else {
            return;
        };
        if local.reload(&self.host) {
            self.refresh_desired();
        }
    }

    /// The server's answer replaces the last one (and any cached one), and is kept.
    pub(super) fn take_server_answer(&mut self, answer: Answer) {
        // The same answer as the last changes nothing, on disk neither (heartbeat
        // bookkeeping aside, see `AnswerFingerprint`); one that replaces the cached one
        // always does. Judged by the fingerprints alone: no entry is looked at again.
        let holds = self
            .sources
            .server
            .as_ref()
            .and_then(DesiredSet::fingerprint);
        if !self.sources.server_cached && holds == Some(answer.fingerprint) {
            return;
        }
        let Some(entries) = answer.entries else {
            // The task judged against a fingerprint the loop no longer holds (it cannot,
            // with one heartbeat at a time): the next heartbeat brings the entries.
            tracing::debug!("a repeated answer came for one no longer held: read at the next");
            self.server.hold(None);
            return;
        };
        self.sources.held = None;
        self.sources.server_cached = false;
        let set = DesiredSet::from_answer(&entries, &self.host);
        self.server.hold(set.fingerprint());
        self.sources.server = Some(set);
        if let Some(cache) = &mut self.sources.cache {
            if let Err(error) = cache.store(&self.config.server_url, &entries) {
                tracing::warn!("{error}");
            }
        }
        self.refresh_desired();
    }

    /// The server cannot be reached: if it never answered, its cached answer runs.
    pub(super) fn server_unreachable(&mut self) {
        if self.sources.server.is_some() {
            return;
        }
        let Some((set, saved_at_ms)) = self.sources.held.take() else {
            return;
        };
        tracing::warn!(
            services = set.items().len(),
            saved = %humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(saved_at_ms)
            ),
            "the server cannot be reached: running its last answer, from the cache, until it answers"
        );
        self.sources.server = Some(set);
        self.sources.server_cached = true;
        self.server.hold(None);
        self.refresh_desired();
    }

    /// The merged set replaces the last one, and decides again which label-less
    /// containers are this host's.
    pub(super) fn refresh_desired(&mut self) {
        let Some(merged) = self.sources.merged() else {
            return;
        };
        let before = self.desired.as_ref();
        if before.map_or(&[][..], DesiredSet::problems) != merged.problems() {
            for problem in merged.problems() {
                tracing::warn!("{problem}");
            }
        }
        super::heartbeat::log_spec_changes(before, &merged);
        self.desired = Some(merged);
        let containers: Vec<_> = std::mem::take(&mut self.container_engine.observed)
            .into_iter()
            .chain(std::mem::take(&mut self.container_engine.unclaimed))
            .collect();
        self.place(containers);
        self.container_engine.placed_elsewhere();
    }
}

/// Loads the cached answer of `server_url` for [`DesiredSources::held`]: a cache that
/// cannot be read or parsed is ignored with a warning.
pub(super) fn load_cache(
    cache: &mut AnswerCache,
    server_url: &str,
    host: &HostSettings,
) -> Option<(DesiredSet, u64)> {
    match cache.load(server_url) {
        Ok(Some(cached)) => Some((
            DesiredSet::from_answer(&cached.services, host).from_source(ServiceSource::Cache),
            cached.saved_at_ms,
        )),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!("{error}");
            None
        }
    }
}
