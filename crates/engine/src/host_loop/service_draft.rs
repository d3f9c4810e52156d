//! One service as the next snapshot would show it, borrowed from the loop's components
//! instead of copied out of them. A publish first holds these against the last
//! snapshot's views and builds nothing when every one shows the same: at 10 000 services
//! a steady pass rebuilt 10 000 views (eight strings each) only to find them equal to the
//! last and free them, two thirds of the publish.
//!
//! [`ServiceDraft::view`] and [`ServiceDraft::shows`] read every field through the same
//! accessors, and `shows` names each field of [`ServiceView`] without `..`: a field added
//! to the view does not compile until it is compared too.

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};

use super::book::ServiceRecord;
use crate::host_state::{
    ContainerHealth, DesiredState, ReportedStatus, ServiceActions, ServiceSource, ServiceState,
    ServiceView,
};
use crate::runtime::{ContainerStatus, ObservedContainer, PullProgress};
use crate::spec::{ServiceSpec, SpecError};

/// What the snapshot decided of one service, and what it read the rest from.
#[derive(Debug, Clone)]
pub(super) struct ServiceDraft<'a> {
    pub(super) name: &'a str,
    /// Its valid spec, when the answer has one.
    pub(super) spec: Option<&'a ServiceSpec>,
    /// The container that counts: running before any other.
    pub(super) keeper: Option<&'a ObservedContainer>,
    pub(super) record: Option<&'a ServiceRecord>,
    /// Why the answer's entry was refused, when it was.
    pub(super) refused: Option<&'a SpecError>,
    pub(super) desired: DesiredState,
    pub(super) state: ServiceState,
    pub(super) container_name: Cow<'a, str>,
    pub(super) next_restart_at_ms: Option<u64>,
    pub(super) actions: ServiceActions,
    pub(super) source: ServiceSource,
    pub(super) unreachable_since_ms: Option<u64>,
    pub(super) pull: Option<&'a PullProgress>,
}

impl ServiceDraft<'_> {
    /// The view, owned: what the snapshot holds.
    pub(super) fn view(&self) -> ServiceView {
        ServiceView {
            name: self.name.to_string(),
            addon_name: self.spec.map(|s| s.addon_name.clone()),
            addon_version: self.spec.map(|s| s.addon_version.clone()),
            service: self.spec.map(|s| s.service.clone()),
            image: self.image().map(String::from),
            desired: self.desired,
            state: self.state,
            container_id: self.container_id().map(String::from),
            container_name: self.container_name.to_string(),
            started_at_ms: self.started_at_ms(),
            restarts: self.restarts(),
            last_restart_reason: self.restart_reason().map(|reason| reason.to_string()),
            last_exit_code: self.record.and_then(|r| r.last_exit_code),
            last_exit_oom_killed: self.last_exit_oom_killed(),
            last_error: self.last_error().map(|error| error.to_string()),
            last_output: self.last_output().to_vec(),
            next_restart_at_ms: self.next_restart_at_ms,
            reported: self.reported().cloned(),
            actions: self.actions,
            source: self.source,
            unreachable_since_ms: self.unreachable_since_ms,
            health: self.health(),
            pull: self.pull.cloned(),
        }
    }

    /// Whether `view` is what [`ServiceDraft::view`] would build: compared field by
    /// field, nothing built.
    pub(super) fn shows(&self, view: &ServiceView) -> bool {
        let ServiceView {
            name,
            addon_name,
            addon_version,
            service,
            image,
            desired,
            state,
            container_id,
            container_name,
            started_at_ms,
            restarts,
            last_restart_reason,
            last_exit_code,
            last_exit_oom_killed,
            last_error,
            last_output,
            next_restart_at_ms,
            reported,
            actions,
            source,
            unreachable_since_ms,
            health,
            pull,
        } = view;
        let spec_field = |field: fn(&ServiceSpec) -> &String, shown: &Option<String>| {
            self.spec.map(field) == shown.as_ref()
        };
        *name == self.name
            && *desired == self.desired
            && *state == self.state
            && *actions == self.actions
            && *source == self.source
            && *next_restart_at_ms == self.next_restart_at_ms
            && *unreachable_since_ms == self.unreachable_since_ms
            && *started_at_ms == self.started_at_ms()
            && *restarts == self.restarts()
            && *last_exit_code == self.record.and_then(|r| r.last_exit_code)
            && *last_exit_oom_killed == self.last_exit_oom_killed()
            && *health == self.health()
            && spec_field(|s| &s.addon_name, addon_name)
            && spec_field(|s| &s.addon_version, addon_version)
            && spec_field(|s| &s.service, service)
            && image.as_deref() == self.image()
            && container_id.as_deref() == self.container_id()
            && *container_name == self.container_name
            && optional_displays_as(self.restart_reason(), last_restart_reason)
            && optional_displays_as(self.last_error(), last_error)
            && last_output.as_slice() == self.last_output()
            && reported.as_ref() == self.reported()
            && pull.as_ref() == self.pull
    }

    fn image(&self) -> Option<&str> {
        self.spec
            .map(|s| s.image.as_str())
            .or_else(|| self.keeper.map(|k| k.image.as_str()))
    }

    fn container_id(&self) -> Option<&str> {
        self.keeper.map(|k| k.id.as_str())
    }

    /// The keeper while it runs: only then do its start and its health mean anything.
    fn running(&self) -> Option<&ObservedContainer> {
        self.keeper.filter(|k| k.status == ContainerStatus::Running)
    }

    fn started_at_ms(&self) -> Option<u64> {
        self.running().map(|k| (k.created.max(0) as u64) * 1000)
    }

    fn health(&self) -> Option<ContainerHealth> {
        self.running().and_then(|k| k.health)
    }

    fn restarts(&self) -> u32 {
        self.record.map_or(0, |r| r.restarts)
    }

    fn restart_reason(&self) -> Option<&dyn Display> {
        self.record
            .and_then(|r| r.last_restart_reason.as_ref())
            .map(|reason| reason as &dyn Display)
    }

    fn last_exit_oom_killed(&self) -> bool {
        self.record.is_some_and(|r| r.last_exit_oom_killed)
    }

    /// A refused spec's reason, else the last attempt's error.
    fn last_error(&self) -> Option<&dyn Display> {
        match self.refused {
            Some(error) => Some(error as &dyn Display),
            None => self
                .record
                .and_then(|r| r.last_error.as_ref())
                .map(|error| error as &dyn Display),
        }
    }

    fn last_output(&self) -> &[String] {
        self.record.map_or(&[], |r| r.last_output.as_slice())
    }

    fn reported(&self) -> Option<&ReportedStatus> {
        self.record.and_then(|r| r.reported.as_ref())
    }
}

fn optional_displays_as(value: Option<&dyn Display>, shown: &Option<String>) -> bool {
    match (value, shown) {
        (None, None) => true,
        (Some(value), Some(shown)) => displays_as(value, shown),
        _ => false,
    }
}

/// Whether `value` displays as `text`, without building the string: the text is matched
/// piece by piece as the value writes itself, and the first piece that differs ends it.
fn displays_as(value: &dyn Display, text: &str) -> bool {
    struct Expect<'t>(&'t str);
    impl fmt::Write for Expect<'_> {
        fn write_str(&mut self, piece: &str) -> fmt::Result {
            self.0 = self.0.strip_prefix(piece).ok_or(fmt::Error)?;
            Ok(())
        }
    }
    let mut rest = Expect(text);
    write!(rest, "{value}").is_ok() && rest.0.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_state::ReportedState;
    use crate::reconcile::executor::RestartReason;
    use crate::spec::Desired;
    use crate::testing::{desired, running_container};
    use std::time::Duration;

    #[test]
    fn a_display_is_matched_without_being_built() {
        let reason = RestartReason::Unhealthy(Duration::from_secs(30));
        assert!(displays_as(
            &reason,
            "its health check said unhealthy for 30 s"
        ));
        assert!(!displays_as(
            &reason,
            "its health check said unhealthy for 3 s"
        ));
        assert!(!displays_as(
            &reason,
            "its health check said unhealthy for 30 s!"
        ));
        assert!(!displays_as(&reason, "its health"));
        assert!(displays_as(&"", ""));
    }

    /// A record with every field a view shows set to something.
    fn full_record() -> ServiceRecord {
        let mut record = ServiceRecord::default();
        record.restarts = 2;
        record.last_exit_code = Some(137);
        record.last_exit_oom_killed = true;
        record.last_error = Some("exited with code 137".into());
        record.last_restart_reason = Some(RestartReason::Exited);
        record.last_output = vec!["a line".into()];
        record.reported = Some(ReportedStatus {
            state: ReportedState::Ok,
            message: Some("fine".into()),
            progress: Some(50.0),
            at_ms: 7,
        });
        record
    }

    #[test]
    fn a_draft_shows_its_own_view_and_not_one_with_any_field_changed() {
        let spec = match desired("a", "img:1") {
            Desired::Run(spec) => spec,
            other => panic!("a valid entry: {other:?}"),
        };
        let keeper = running_container("id-a", "a");
        let keeper = ObservedContainer {
            health: Some(ContainerHealth::Healthy),
            ..keeper
        };
        let record = full_record();
        let pull = PullProgress {
            image: "img:1".into(),
            bytes_done: 1,
            bytes_total: 2,
            layers_done: 0,
            layers_total: 1,
        };
        let draft = ServiceDraft {
            name: "a",
            spec: Some(&spec),
            keeper: Some(&keeper),
            record: Some(&record),
            refused: None,
            desired: DesiredState::Run,
            state: ServiceState::Running,
            container_name: Cow::Borrowed("ayon-a"),
            next_restart_at_ms: Some(5),
            actions: ServiceActions {
                start: false,
                stop: true,
                restart: true,
            },
            source: ServiceSource::Server,
            unreachable_since_ms: Some(9),
            pull: Some(&pull),
        };
        let view = draft.view();
        assert!(draft.shows(&view));

        type Change = fn(&mut ServiceView);
        #[rustfmt::skip]
        let changes: Vec<(&str, Change)> = vec![
            ("name", |v| v.name.push('x')),
            ("addon_name", |v| v.addon_name = None),
            ("addon_version", |v| v.addon_version = Some("9".into())),
            ("service", |v| v.service = None),
            ("image", |v| v.image = Some("img:2".into())),
            ("desired", |v| v.desired = DesiredState::NotWanted),
            ("state", |v| v.state = ServiceState::Stopping),
            ("container_id", |v| v.container_id = None),
            ("container_name", |v| v.container_name.push('x')),
            ("started_at_ms", |v| v.started_at_ms = Some(1)),
            ("restarts", |v| v.restarts += 1),
            ("last_restart_reason", |v| v.last_restart_reason = Some("it had exited twice".into())),
            ("last_exit_code", |v| v.last_exit_code = Some(1)),
            ("last_exit_oom_killed", |v| v.last_exit_oom_killed = false),
            ("last_error", |v| v.last_error = Some("exited with code 13".into())),
            ("last_output", |v| v.last_output.push("another".into())),
            ("next_restart_at_ms", |v| v.next_restart_at_ms = None),
            ("reported", |v| v.reported.as_mut().unwrap().message = None),
            ("actions", |v| v.actions.start = true),
            ("source", |v| v.source = ServiceSource::Cache),
            ("unreachable_since_ms", |v| v.unreachable_since_ms = Some(10)),
            ("health", |v| v.health = Some(ContainerHealth::Unhealthy)),
            ("pull", |v| v.pull.as_mut().unwrap().bytes_done = 2),
        ];
        for (field, change) in changes {
            let mut changed = view.clone();
            change(&mut changed);
            assert!(!draft.shows(&changed), "a changed {field} went unseen");
        }
    }

    #[test]
    fn a_refused_spec_shows_its_reason_as_the_last_error() {
        let refused = match desired("a", "Not An Image") {
            Desired::Invalid(error) => error,
            other => panic!("a refused entry: {other:?}"),
        };
        let record = full_record();
        let draft = ServiceDraft {
            name: "a",
            spec: None,
            keeper: None,
            record: Some(&record),
            refused: Some(&refused),
            desired: DesiredState::Invalid,
            state: ServiceState::Failed,
            container_name: Cow::Owned(crate::slug::container_name("a")),
            next_restart_at_ms: None,
            actions: ServiceActions::default(),
            source: ServiceSource::Server,
            unreachable_since_ms: None,
            pull: None,
        };
        let view = draft.view();
        assert_eq!(view.last_error, Some(refused.to_string()));
        assert_eq!((view.started_at_ms, view.health), (None, None));
        assert!(draft.shows(&view));
        let with_record_error = ServiceView {
            last_error: Some("exited with code 137".into()),
            ..view
        };
        assert!(!draft.shows(&with_record_error));
    }
}
