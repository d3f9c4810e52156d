//! The server's service list, asked for only while some container on the engine cannot be
//! placed by its labels ([`crate::reconcile::ownership`] decides what it means). Owns the
//! last list, how old it is, the one request in flight, and what was last said about
//! each unclaimed container, so each decision is logged once.

use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc;
use tokio::time::Instant;

use std::sync::Arc;

use crate::ayon::wire::ServiceOwners;
use crate::ayon::{AyonError, ServerApi};
use crate::reconcile::ownership::{wants_catalog, Catalog, CatalogAge, UnknownOwner, Verdict};
use crate::runtime::{ContainerRuntime, ObservedContainer};

/// The `AYON_SERVER_URL` in a container's environment (`KEY=value` entries).
fn server_url_of(env: &[String]) -> Option<String> {
    env.iter()
        .find_map(|entry| entry.strip_prefix("AYON_SERVER_URL="))
        .map(String::from)
}

/// The answer to one request, with the containers it covers and the server each names.
pub(super) struct CatalogReply {
    result: Result<ServiceOwners, AyonError>,
    covers: HashMap<String, Option<String>>,
    asked_at: Instant,
}

pub(super) struct ServerCatalog {
    list: Option<Catalog>,
    failure: Option<String>,
    age: CatalogAge,
    said: HashMap<String, Verdict>,
    replies: mpsc::UnboundedSender<CatalogReply>,
}

impl ServerCatalog {
    pub(super) fn new(replies: mpsc::UnboundedSender<CatalogReply>) -> ServerCatalog {
        ServerCatalog {
            list: None,
            failure: None,
            age: CatalogAge::default(),
            said: HashMap::new(),
            replies,
        }
    }

    pub(super) fn list(&self) -> Option<&Catalog> {
        self.list.as_ref()
    }

    pub(super) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Asks the server for its list when the unclaimed containers need it (never two
    /// requests at once, never with nothing to decide). Containers not seen before are
    /// inspected first, once each, for the `AYON_SERVER_URL` ash gave them.
    pub(super) fn refresh_if_needed(
        &mut self,
        client: Arc<dyn ServerApi>,
        runtime: Arc<dyn ContainerRuntime>,
        unclaimed: &[ObservedContainer],
        now: Instant,
    ) {
        let ids = unclaimed.iter().map(|c| c.id.as_str());
        if !wants_catalog(self.age, self.list.as_ref(), ids, now) {
            return;
        }
        self.age.in_flight = true;
        let known: HashMap<String, Option<String>> = unclaimed
            .iter()
            .filter(|c| self.list.as_ref().is_some_and(|list| list.covers(&c.id)))
            .map(|c| {
                let server = self.list.as_ref().and_then(|l| l.server_of(&c.id));
                (c.id.clone(), server.map(String::from))
            })
            .collect();
        let new: Vec<String> = unclaimed
            .iter()
            .filter(|c| !known.contains_key(&c.id))
            .map(|c| c.id.clone())
            .collect();
        tracing::debug!(
            containers = unclaimed.len(),
            "asking the server for its service list, to place containers without a host label"
        );
        let replies = self.replies.clone();
        tokio::spawn(async move {
            let mut covers = known;
            for id in new {
                // One that is gone meanwhile stays uncovered, and so undecided.
                if let Ok(applied) = runtime.applied_config(&id).await {
                    covers.insert(id, server_url_of(&applied.env));
                }
            }
            let result = client.service_owners().await;
            let _ = replies.send(CatalogReply {
                result,
                covers,
                asked_at: now,
            });
        });
    }

    pub(super) fn on_reply(&mut self, reply: CatalogReply) {
        self.age.in_flight = false;
        match reply.result {
            Ok(owners) => {
                self.list = Some(Catalog::new(owners, reply.covers));
                self.age.fetched_at = Some(reply.asked_at);
                self.age.failed_at = None;
                self.failure = None;
            }
            Err(error) => {
                self.age.failed_at = Some(Instant::now());
                self.failure = Some(error.to_string());
            }
        }
    }

    /// Logs each unclaimed container's verdict when it is new or changed, and forgets
    /// containers that are gone.
    pub(super) fn say<'a>(
        &mut self,
        verdicts: impl IntoIterator<Item = (&'a ObservedContainer, Verdict)>,
    ) {
        let mut present = HashSet::new();
        for (container, verdict) in verdicts {
            present.insert(container.id.clone());
            if self.said.get(&container.id) == Some(&verdict) {
                continue;
            }
            // Removals are logged by the action that carries them out; waiting for the
            // first answer or the list lasts a moment, and the verdict that follows is
            // what a reader needs.
            if matches!(
                verdict,
                Verdict::Unknown(UnknownOwner::Asking | UnknownOwner::NoAnswerYet)
            ) {
                continue;
            }
            if !verdict.removes() {
                tracing::info!(
                    service = %container.service_name,
                    container = %super::short(&container.id),
                    "a container without ashtray's host label is {verdict}"
                );
            }
            self.said.insert(container.id.clone(), verdict);
        }
        self.said.retain(|id, _| present.contains(id));
    }
}
