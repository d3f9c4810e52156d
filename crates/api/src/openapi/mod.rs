//! The OpenAPI documents, generated from the handlers' annotations: one per listener,
//! each served by its own listener at `/api/v1/openapi.json`, so that no document lists a
//! route its listener answers 404 on. The tests check every response against them, and
//! schemathesis fuzzes each listener against its own.
//!
//! What annotations cannot say, the shape of each Server-Sent Event, is added by [`sse`].

mod sse;

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{control, host_schema, service_api, views};

#[derive(OpenApi)]
#[openapi(
    info(title = "ashtray control API", description = "ashtray's control API, on its control listener (127.0.0.1:47120 by default): for the UI, the CLI and scripts, with the bearer token `ashtray token` prints. The services' own API is on the other listener, with its own document there."),
    paths(
        control::host, control::services, control::service, control::details, control::stop, control::start, control::restart,
        control::pause, control::resume, control::logs, control::events, crate::stats::stats,
    ),
    components(schemas(
        views::HostView, views::ServiceInfo, views::Accepted, views::PauseView, views::LogLineView, views::LogsView,
        views::Missed, crate::error::ErrorBody, crate::details::ServiceDetailsView, crate::details::SpecView,
        crate::details::EnvEntry, crate::details::HistoryEntryView, views::PortView, views::SpecCommon,
        crate::stats::StatsView, crate::stats::ServiceStatsView, crate::stats::StatsPointView,
        host_schema::HostStateSchema, host_schema::EventEnvelopeSchema, host_schema::HostEventSchema,
    )),
    modifiers(&ControlToken),
)]
struct ControlDoc;

#[derive(OpenApi)]
#[openapi(
    info(title = "ashtray services' API", description = "The services' own API, on the services' listener (ASHTRAY_API_URL inside a service container): a service reads its own spec and reports its status, with its ASHTRAY_SERVICE_TOKEN."),
    paths(service_api::get_self, service_api::post_status),
    components(schemas(
        views::SelfView, views::SelfSpec, views::SpecCommon, views::PortView, views::ServiceInfo, views::StatusReport, crate::error::ErrorBody,
    )),
    modifiers(&ServiceToken),
)]
struct ServicesDoc;

/// The control token (`ashtray token`), as security scheme `bearer`.
struct ControlToken;
/// A service's own token (ASHTRAY_SERVICE_TOKEN), as security scheme `service_token`.
struct ServiceToken;

impl Modify for ControlToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        add_bearer_scheme(openapi, "bearer");
    }
}

impl Modify for ServiceToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        add_bearer_scheme(openapi, "service_token");
    }
}

fn add_bearer_scheme(openapi: &mut utoipa::openapi::OpenApi, name: &str) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        name,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
}

/// The control listener's document.
pub fn control_document() -> Value {
    let mut doc = serde_json::to_value(ControlDoc::openapi()).expect("a document serialises");
    sse::describe_streams(&mut doc);
    doc
}

/// The services' listener's document.
pub fn services_document() -> Value {
    serde_json::to_value(ServicesDoc::openapi()).expect("a document serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(doc: &Value) -> Vec<&str> {
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn each_document_lists_its_own_listeners_routes_and_no_other() {
        let control = control_document();
        let mut listed = paths(&control);
        listed.sort_unstable();
        assert_eq!(
            listed,
            [
                "/api/v1/events",
                "/api/v1/host",
                "/api/v1/pause",
                "/api/v1/resume",
                "/api/v1/services",
                "/api/v1/services/{name}",
                "/api/v1/services/{name}/details",
                "/api/v1/services/{name}/logs",
                "/api/v1/services/{name}/restart",
                "/api/v1/services/{name}/start",
                "/api/v1/services/{name}/stop",
                "/api/v1/stats",
            ]
        );
        let services = services_document();
        let mut listed = paths(&services);
        listed.sort_unstable();
        assert_eq!(listed, ["/api/v1/self", "/api/v1/self/status"]);
        // Each names only its own token.
        let schemes = |doc: &Value| {
            let mut names: Vec<String> = doc["components"]["securitySchemes"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            names.sort_unstable();
            names
        };
        assert_eq!(schemes(&control), ["bearer"]);
        assert_eq!(schemes(&services), ["service_token"]);
    }

    #[test]
    fn tail_states_the_bound_the_server_enforces() {
        let doc = control_document();
        let tail = doc["paths"]["/api/v1/services/{name}/logs"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "tail")
            .expect("tail is documented")
            .clone();
        assert_eq!(tail["schema"]["maximum"], views::MAX_TAIL, "{tail}");
        assert_eq!(tail["schema"]["minimum"], 0, "{tail}");
    }

    #[test]
    fn a_status_report_states_the_bounds_the_server_enforces() {
        let doc = services_document();
        let report = &doc["components"]["schemas"]["StatusReport"]["properties"];
        assert_eq!(
            report["message"]["maxLength"],
            views::MAX_STATUS_MESSAGE,
            "{report}"
        );
        assert_eq!(report["progress"]["minimum"], 0, "{report}");
        assert_eq!(report["progress"]["maximum"], 100, "{report}");
    }
}
