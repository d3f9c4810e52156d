//! The OpenAPI document, generated from the handlers' annotations: what the tests check
//! every response against.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{control, host_schema, service_api, views};

#[derive(OpenApi)]
#[openapi(
    info(title = "ashtray", description = "ashtray's local API: the control API (UI, CLI; bearer token from `ashtray token`) and the services' own API (from inside service containers; ASHTRAY_SERVICE_TOKEN)."),
    paths(
        control::host, control::services, control::service, control::stop, control::start, control::restart,
        control::pause, control::resume, control::logs, control::events,
        service_api::get_self, service_api::post_status,
    ),
    components(schemas(
        views::HostView, views::ServiceInfo, views::Accepted, views::PauseView, views::LogLineView, views::LogsView,
        views::Missed, views::SelfView, views::SelfSpec, views::PortView, views::StatusReport, crate::error::ErrorBody,
        host_schema::HostStateSchema, host_schema::EventEnvelopeSchema, host_schema::HostEventSchema,
    )),
    modifiers(&Security),
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "service_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
