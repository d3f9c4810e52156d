//! The local services file as a source of desired state: read through the pure
//! [`crate::local_services::parse`], watched with `notify` (its directory, so an editor
//! that saves by renaming a new file into place is seen too), and read again on every
//! tick as well (a cheap read of a small file, in case a change event is missed). A file
//! that does not parse keeps the last good set; the error is shown and logged once.

use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::container::HostSettings;
use crate::host_state::{LocalServicesView, ServiceSource};
use crate::local_services;
use crate::reconcile::desired::DesiredSet;

pub(super) struct LocalSource {
    path: PathBuf,
    /// The text last read (or why it could not be read), to act only on a change.
    last_read: Option<Result<String, String>>,
    /// The last good reading.
    pub(super) set: Option<DesiredSet>,
    pub(super) error: Option<String>,
    /// When to read it again after a change event (a burst of them is read once).
    pub(super) due: Option<tokio::time::Instant>,
    /// Kept alive: dropping it stops the watch.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl LocalSource {
    /// Watches `path`; each change of it sends `()` on `changes`.
    pub(super) fn new(path: &Path, changes: mpsc::UnboundedSender<()>) -> LocalSource {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let watcher = watch(&path, changes)
            .map_err(|error| {
                tracing::warn!(
                    "cannot watch the local services file {}: {error}; it is read again on every tick instead",
                    path.display()
                )
            })
            .ok();
        LocalSource {
            path,
            last_read: None,
            set: None,
            error: None,
            due: None,
            _watcher: watcher,
        }
    }

    pub(super) fn origin(&self) -> String {
        format!("the local services file {}", self.path.display())
    }

    /// Reads the file again; `true` when its services or its error changed.
    pub(super) fn reload(&mut self, host: &HostSettings) -> bool {
        self.due = None;
        let read = std::fs::read_to_string(&self.path).map_err(|error| error.to_string());
        if self.last_read.as_ref() == Some(&read) {
            return false;
        }
        self.last_read = Some(read.clone());
        let parsed = read
            .map_err(|error| format!("cannot read {}: {error}", self.origin()))
            .and_then(|text| {
                local_services::parse(&text, &self.path, &host.ayon_hostname)
                    .map_err(|error| error.to_string())
            });
        match parsed {
            Ok(items) => {
                let set =
                    DesiredSet::new(items, Vec::new(), host).from_source(ServiceSource::Local);
                tracing::info!(
                    file = %self.path.display(),
                    services = set.items().len(),
                    "read the local services file"
                );
                self.error = None;
                self.set = Some(set);
            }
            Err(error) => {
                let kept = self.set.as_ref().map_or(0, |s| s.items().len());
                tracing::error!("{error}; the {kept} service(s) it declared last stay as they are until it is fixed");
                self.error = Some(error);
            }
        }
        true
    }

    /// The same set for changed host settings (the network learned on connecting).
    pub(super) fn for_host(&mut self, host: &HostSettings) {
        self.set = self.set.take().map(|set| set.for_host(host));
    }

    pub(super) fn view(&self) -> LocalServicesView {
        LocalServicesView {
            path: self.path.display().to_string(),
            services: self.set.as_ref().map_or(0, |s| s.items().len()),
            error: self.error.clone(),
        }
    }
}

fn watch(
    path: &Path,
    changes: mpsc::UnboundedSender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let name = path.file_name().map(|n| n.to_os_string());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let ours = match &event {
            Ok(event) => event.paths.iter().any(|p| p.file_name() == name.as_deref()),
            Err(_) => true,
        };
        if ours {
            let _ = changes.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
