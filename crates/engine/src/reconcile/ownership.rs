//! Whose container is it? Pure decisions about the service containers on this engine
//! that this host did not start.
//!
//! ashtray labels its containers with `io.ashtray.host`; ash labels none with a host. On
//! an engine shared by several hosts (ash for one, ashtray for another, as during a
//! migration), a container with ash's labels and no host label may be this host's (ash
//! ran it here before the switch) or another host's. It is this host's only when this
//! host's heartbeat answer names its service. Otherwise the server's whole service list
//! (`GET /api/services`, a [`Catalog`]) tells: it is removed only when the server has no
//! such service, or has it for this host with `shouldRun` false; it is left alone when
//! another host runs it, or when its owner cannot be known. Nothing here guesses, does
//! I/O or reads a clock.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::ayon::wire::ServiceOwners;
use crate::runtime::ObservedContainer;

/// How a container relates to this host, from its labels and this host's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Started by ashtray for this host, or by ash for a service this host's answer names.
    Ours,
    /// Started by ash (no host label) for a service this host's answer does not name.
    Unclaimed,
    /// Started by another ashtray for another host: never looked at again.
    Theirs,
}

/// `answer` holds the service names of this host's last valid answer; `None` before
/// there was one, when no label-less container can be claimed yet.
pub fn claim(
    container: &ObservedContainer,
    this_host: &str,
    answer: Option<&HashSet<&str>>,
) -> Claim {
    match container.host.as_deref() {
        Some(host) if host == this_host => Claim::Ours,
        Some(_) => Claim::Theirs,
        None if answer.is_some_and(|names| names.contains(container.service_name.as_str())) => {
            Claim::Ours
        }
        None => Claim::Unclaimed,
    }
}

/// The server's service list, reduced to who runs what, and the unclaimed containers
/// that were already on the engine when it was asked for, each with the AYON server it
/// was started for. It vouches for those alone: a container that appeared later may
/// belong to a service declared later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    owners: HashMap<String, Owner>,
    /// Whether every entry could be read: a list with holes cannot prove a service gone.
    complete: bool,
    /// Container id to the `AYON_SERVER_URL` in its environment, if it has one.
    covers: HashMap<String, Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    hostname: String,
    should_run: bool,
}

impl Catalog {
    /// `covers`: the unclaimed containers seen before the list was asked for, with the
    /// `AYON_SERVER_URL` each was given.
    pub fn new(list: ServiceOwners, covers: HashMap<String, Option<String>>) -> Catalog {
        Catalog {
            complete: list.unreadable == 0,
            owners: list
                .owners
                .into_iter()
                .map(|o| {
                    (
                        o.name,
                        Owner {
                            hostname: o.hostname,
                            should_run: o.should_run,
                        },
                    )
                })
                .collect(),
            covers,
        }
    }

    pub fn covers(&self, container_id: &str) -> bool {
        self.covers.contains_key(container_id)
    }

    /// The server a covered container was started for, as far as it is known.
    pub fn server_of(&self, container_id: &str) -> Option<&str> {
        self.covers.get(container_id)?.as_deref()
    }
}

/// Whether two spellings name the same AYON server (a trailing `/` and the case of the
/// scheme and host aside). Different spellings of one server (an address inside a
/// compose network and one outside) count as different: that errs on leaving alone.
pub fn same_server(a: &str, b: &str) -> bool {
    let normal = |url: &str| url.trim().trim_end_matches('/').to_ascii_lowercase();
    normal(a) == normal(b)
}

/// What becomes of an unclaimed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Another host runs it (ash, most likely): never touched.
    OtherHost { host: String },
    /// Started for another AYON server (or for none it names): that server's business.
    OtherServer { url: Option<String> },
    /// The server has no such service any more: removed.
    DeletedOnServer,
    /// The server has it for this host with `shouldRun` false: stopped.
    StoppedOnServer,
    /// Whose it is cannot be known yet: left alone.
    Unknown(UnknownOwner),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownOwner {
    /// No answer of the server yet.
    NoAnswerYet,
    /// The server's service list has not been read since the container appeared.
    Asking,
    /// Asking for the service list failed.
    ServerFailed(String),
    /// Some entries of the service list could not be read.
    ListIncomplete,
    /// The list puts it on this host, running, but this host's answer did not name it:
    /// the two answers crossed; the next heartbeat settles it.
    AnswersDisagree,
}

impl Verdict {
    /// Whether the container is to be stopped and removed.
    pub fn removes(&self) -> bool {
        matches!(self, Verdict::DeletedOnServer | Verdict::StoppedOnServer)
    }

    /// The host the server assigns the service to, when that is another host.
    pub fn owner_host(&self) -> Option<&str> {
        match self {
            Verdict::OtherHost { host } => Some(host),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::OtherHost { host } => write!(f, "left alone: ash runs it for host {host}"),
            Verdict::OtherServer { url: Some(url) } => {
                write!(
                    f,
                    "left alone: it was started for another AYON server ({url})"
                )
            }
            Verdict::OtherServer { url: None } => {
                write!(f, "left alone: its environment names no AYON server")
            }
            Verdict::DeletedOnServer => write!(f, "removed: the server no longer has this service"),
            Verdict::StoppedOnServer => write!(
                f,
                "stopped: the server has it on this host with shouldRun false"
            ),
            Verdict::Unknown(why) => {
                write!(f, "left alone: whose it is cannot be known yet (")?;
                match why {
                    UnknownOwner::NoAnswerYet => write!(f, "the server has not answered yet")?,
                    UnknownOwner::Asking => write!(f, "asking the server for its service list")?,
                    UnknownOwner::ServerFailed(error) => {
                        write!(f, "the server's service list cannot be read: {error}")?
                    }
                    UnknownOwner::ListIncomplete => write!(
                        f,
                        "some entries of the server's service list cannot be read"
                    )?,
                    UnknownOwner::AnswersDisagree => write!(
                        f,
                        "the server lists it for this host but its heartbeat answer did not"
                    )?,
                }
                write!(f, ")")
            }
        }
    }
}

/// Who this host is, as far as ownership goes.
#[derive(Debug, Clone, Copy)]
pub struct Me<'a> {
    pub hostname: &'a str,
    pub server_url: &'a str,
}

/// What the server's service list says of an unclaimed container. `failure` is the
/// error of the last try to read the list, if it failed.
pub fn verdict(
    container: &ObservedContainer,
    me: Me<'_>,
    answered: bool,
    catalog: Option<&Catalog>,
    failure: Option<&str>,
) -> Verdict {
    if !answered {
        return Verdict::Unknown(UnknownOwner::NoAnswerYet);
    }
    let Some(catalog) = catalog.filter(|c| c.covers(&container.id)) else {
        return Verdict::Unknown(match failure {
            Some(error) => UnknownOwner::ServerFailed(error.to_string()),
            None => UnknownOwner::Asking,
        });
    };
    match catalog.server_of(&container.id) {
        Some(url) if same_server(url, me.server_url) => {}
        url => {
            return Verdict::OtherServer {
                url: url.map(String::from),
            }
        }
    }
    match catalog.owners.get(&container.service_name) {
        None if catalog.complete => Verdict::DeletedOnServer,
        None => Verdict::Unknown(UnknownOwner::ListIncomplete),
        Some(owner) if owner.hostname != me.hostname => Verdict::OtherHost {
            host: owner.hostname.clone(),
        },
        Some(owner) if !owner.should_run => Verdict::StoppedOnServer,
        Some(_) => Verdict::Unknown(UnknownOwner::AnswersDisagree),
    }
}

/// The server's list is read again after this, while unclaimed containers remain: a
/// service may move or be deleted on the server meanwhile.
pub const CATALOG_REFRESH: Duration = Duration::from_secs(60);
/// After a failed read, the next try waits this long.
pub const CATALOG_RETRY: Duration = Duration::from_secs(5);

/// When the service list was last asked for and how that went.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogAge {
    pub in_flight: bool,
    /// When the last read that succeeded was asked for.
    pub fetched_at: Option<Instant>,
    /// When the last read that failed ended.
    pub failed_at: Option<Instant>,
}

/// Whether to ask for the server's service list now: only while some unclaimed container
/// is not covered by the list at hand (then at once, or after [`CATALOG_RETRY`] when the
/// last try failed), or the list is older than [`CATALOG_REFRESH`]. Never with nothing to
/// decide about.
pub fn wants_catalog<'a>(
    age: CatalogAge,
    catalog: Option<&Catalog>,
    unclaimed: impl IntoIterator<Item = &'a str>,
    now: Instant,
) -> bool {
    if age.in_flight {
        return false;
    }
    let mut unclaimed = unclaimed.into_iter().peekable();
    if unclaimed.peek().is_none() {
        return false;
    }
    if age
        .failed_at
        .is_some_and(|failed| now < failed + CATALOG_RETRY)
    {
        return false;
    }
    let uncovered = unclaimed.any(|id| !catalog.is_some_and(|c| c.covers(id)));
    uncovered
        || age
            .fetched_at
            .is_none_or(|fetched| now >= fetched + CATALOG_REFRESH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ayon::wire::ServiceOwner;

    fn ash_container(id: &str, service: &str) -> ObservedContainer {
        crate::testing::running_container(id, service)
    }

    fn owner(name: &str, host: &str, should_run: bool) -> ServiceOwner {
        ServiceOwner {
            name: name.into(),
            hostname: host.into(),
            should_run,
        }
    }

    const ME: Me<'static> = Me {
        hostname: "me",
        server_url: "https://ayon.studio",
    };

    fn catalog(owners: Vec<ServiceOwner>, covers: &[&str]) -> Catalog {
        Catalog::new(
            ServiceOwners {
                owners,
                unreadable: 0,
            },
            covers
                .iter()
                .map(|id| (id.to_string(), Some("https://AYON.studio/".to_string())))
                .collect(),
        )
    }

    #[test]
    fn a_label_less_container_is_ours_only_when_this_hosts_answer_names_it() {
        let ash = ash_container("1", "sync");
        let named: HashSet<&str> = ["sync"].into();
        let other: HashSet<&str> = ["transcode"].into();
        assert_eq!(claim(&ash, "me", Some(&named)), Claim::Ours);
        assert_eq!(claim(&ash, "me", Some(&other)), Claim::Unclaimed);
        assert_eq!(claim(&ash, "me", None), Claim::Unclaimed);
        let mut ours = ash.clone();
        ours.host = Some("me".into());
        assert_eq!(claim(&ours, "me", None), Claim::Ours);
        ours.host = Some("them".into());
        assert_eq!(claim(&ours, "me", Some(&named)), Claim::Theirs);
    }

    #[test]
    fn another_hosts_service_is_left_alone_with_its_host_named() {
        let ash = ash_container("1", "sync");
        let list = catalog(vec![owner("sync", "sw-07", true)], &["1"]);
        let verdict = verdict(&ash, ME, true, Some(&list), None);
        assert_eq!(
            verdict,
            Verdict::OtherHost {
                host: "sw-07".into()
            }
        );
        assert!(!verdict.removes());
        assert_eq!(
            verdict.to_string(),
            "left alone: ash runs it for host sw-07"
        );
        // Stopped on another host is still another host's business.
        let list = catalog(vec![owner("sync", "sw-07", false)], &["1"]);
        assert!(!verdict_of(&ash, &list).removes());
    }

    fn verdict_of(container: &ObservedContainer, list: &Catalog) -> Verdict {
        verdict(container, ME, true, Some(list), None)
    }

    #[test]
    fn a_service_the_server_no_longer_has_is_removed() {
        let ash = ash_container("1", "sync");
        let list = catalog(vec![owner("other", "me", true)], &["1"]);
        let verdict = verdict_of(&ash, &list);
        assert_eq!(verdict, Verdict::DeletedOnServer);
        assert!(verdict.removes());
        assert_eq!(
            verdict.to_string(),
            "removed: the server no longer has this service"
        );
    }

    #[test]
    fn this_hosts_service_with_should_run_false_is_stopped() {
        let ash = ash_container("1", "sync");
        let list = catalog(vec![owner("sync", "me", false)], &["1"]);
        assert_eq!(verdict_of(&ash, &list), Verdict::StoppedOnServer);
    }

    #[test]
    fn what_cannot_be_known_is_left_alone() {
        let ash = ash_container("1", "sync");
        let list = catalog(vec![], &["1"]);
        // No answer of the server yet.
        assert_eq!(
            verdict(&ash, ME, false, Some(&list), None),
            Verdict::Unknown(UnknownOwner::NoAnswerYet)
        );
        // The list was read before this container appeared.
        let older = catalog(vec![], &["0"]);
        assert_eq!(
            verdict(&ash, ME, true, Some(&older), None),
            Verdict::Unknown(UnknownOwner::Asking)
        );
        // The server cannot be asked.
        let failed = verdict(&ash, ME, true, None, Some("the AYON server failed (500)"));
        assert!(!failed.removes());
        assert!(failed.to_string().contains("the AYON server failed (500)"));
        // A list with an unreadable entry cannot prove the service gone.
        let holes = Catalog::new(
            ServiceOwners {
                owners: vec![],
                unreadable: 1,
            },
            [("1".to_string(), Some(ME.server_url.to_string()))].into(),
        );
        assert_eq!(
            verdict_of(&ash, &holes),
            Verdict::Unknown(UnknownOwner::ListIncomplete)
        );
        // Listed for this host and wanted, though the answer did not name it.
        let crossed = catalog(vec![owner("sync", "me", true)], &["1"]);
        assert_eq!(
            verdict_of(&ash, &crossed),
            Verdict::Unknown(UnknownOwner::AnswersDisagree)
        );
    }

    #[test]
    fn a_container_started_for_another_server_is_left_alone() {
        let ash = ash_container("1", "sync");
        // This server has no such service: that proves nothing about another server's.
        let list = Catalog::new(
            ServiceOwners::default(),
            [("1".to_string(), Some("http://staging:5000".to_string()))].into(),
        );
        let verdict = verdict_of(&ash, &list);
        assert_eq!(
            verdict,
            Verdict::OtherServer {
                url: Some("http://staging:5000".into())
            }
        );
        assert!(!verdict.removes());
        let unnamed = Catalog::new(ServiceOwners::default(), [("1".to_string(), None)].into());
        assert!(!verdict_of(&ash, &unnamed).removes());
    }

    #[test]
    fn the_list_is_asked_for_only_when_there_is_something_to_decide() {
        let now = Instant::now();
        let fresh = CatalogAge {
            in_flight: false,
            fetched_at: Some(now),
            failed_at: None,
        };
        let list = catalog(vec![], &["1"]);
        assert!(!wants_catalog(CatalogAge::default(), None, [], now));
        assert!(wants_catalog(CatalogAge::default(), None, ["1"], now));
        // Covered and recent: no request.
        assert!(!wants_catalog(fresh, Some(&list), ["1"], now));
        // A new container: asked again at once.
        assert!(wants_catalog(fresh, Some(&list), ["1", "2"], now));
        // Never two at once.
        let busy = CatalogAge {
            in_flight: true,
            ..fresh
        };
        assert!(!wants_catalog(busy, Some(&list), ["2"], now));
        // A stale list is read again.
        assert!(wants_catalog(
            fresh,
            Some(&list),
            ["1"],
            now + CATALOG_REFRESH
        ));
        // After a failure, not before the retry delay.
        let failed = CatalogAge {
            failed_at: Some(now),
            ..fresh
        };
        assert!(!wants_catalog(failed, Some(&list), ["2"], now));
        assert!(wants_catalog(
            failed,
            Some(&list),
            ["2"],
            now + CATALOG_RETRY
        ));
    }
}
