//! The two live streams, as Server-Sent Events: the host's changes and a service's output.
//!
//! Both are pulled by the reader: nothing is queued for a reader here beyond what the
//! engine's bounded channels hold, so a slow or stuck reader costs a bounded amount of
//! memory and loses the oldest items, and is told how many (`missed`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use ashtray_engine::host_state::{EventEnvelope, HostEvent, HostState};
use ashtray_engine::logs::Followed;
use ashtray_engine::Handle;

use crate::views::{DashboardUrl, HostView, LogLineView, Missed};

fn json_event(name: &str, data: &impl Serialize) -> Event {
    let data = serde_json::to_string(data).expect("API views always serialise");
    Event::default().event(name).data(data)
}

/// The same view `GET /api/v1/host` answers with.
fn state_event(state: &Arc<HostState>, dashboard: Option<&DashboardUrl>) -> Event {
    json_event("state", &HostView::at(state.clone(), dashboard))
}

/// Every name [`event_name`] gives, for the OpenAPI document.
pub const HOST_EVENT_NAMES: [&str; 7] = [
    "service_state",
    "service_restarted",
    "service_status",
    "service_removed",
    "server_connection",
    "engine_connection",
    "paused",
];

/// The SSE name of an event: its type, as in its JSON.
pub fn event_name(event: &HostEvent) -> &'static str {
    match event {
        HostEvent::ServiceState { .. } => "service_state",
        HostEvent::ServiceRestarted { .. } => "service_restarted",
        HostEvent::ServiceStatus { .. } => "service_status",
        HostEvent::ServiceRemoved { .. } => "service_removed",
        HostEvent::ServerConnection { .. } => "server_connection",
        HostEvent::EngineConnection { .. } => "engine_connection",
        HostEvent::Paused { .. } => "paused",
    }
}

fn envelope_event(envelope: &EventEnvelope) -> Event {
    json_event(event_name(&envelope.event), envelope).id(envelope.seq.to_string())
}

/// `state`, then each event and a fresh `state` after every change.
pub fn events(
    handle: &Handle,
    dashboard: Option<DashboardUrl>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before reading the snapshot: a change in between then shows twice (in
    // the snapshot and as an event), never not at all.
    let mut events = handle.events();
    let mut watch = handle.watch();
    let first = watch.borrow_and_update().clone();
    let stream = async_stream::stream! {
        yield Ok(state_event(&first, dashboard.as_ref()));
        loop {
            tokio::select! {
                // The engine sends a change's events before its snapshot: taking events
                // first keeps that order on the wire.
                biased;
                received = events.recv() => match received {
                    Ok(envelope) => yield Ok(envelope_event(&envelope)),
                    Err(RecvError::Lagged(missed)) => {
                        yield Ok(json_event("missed", &Missed { missed }));
                        let now = watch.borrow_and_update().clone();
                        yield Ok(state_event(&now, dashboard.as_ref()));
                    }
                    Err(RecvError::Closed) => break,
                },
                changed = watch.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = watch.borrow_and_update().clone();
                    yield Ok(state_event(&now, dashboard.as_ref()));
                }
            }
        }
    };
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The last `tail` lines, then every new one; `missed` when the reader fell behind.
pub fn follow_logs(
    handle: &Handle,
    service: &str,
    tail: usize,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (backlog, mut follower) = handle.logs().follow(service, tail);
    let stream = async_stream::stream! {
        for line in backlog {
            yield Ok(line_event(&line));
        }
        while let Some(followed) = follower.next().await {
            match followed {
                Followed::Line(line) => yield Ok(line_event(&line)),
                Followed::Missed(missed) => yield Ok(json_event("missed", &Missed { missed })),
            }
        }
    };
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn line_event(line: &ashtray_engine::logs::LogLine) -> Event {
    json_event("line", &LogLineView::from(line)).id(line.seq.to_string())
}
