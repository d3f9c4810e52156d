//! Who may call what. The control API takes the host's bearer token (also as `?token=` on
//! GET, for EventSource, which cannot send headers); the services' API takes a service's
//! own token and knows the caller by it. A token of one kind never opens the other door.
//!
//! Never says why a token was refused, and never compares tokens in variable time.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use ashtray_engine::{Handle, Secret};

use crate::error::ApiError;

/// The control API's token.
#[derive(Clone)]
pub struct ControlToken(pub Arc<Secret>);

/// The service a request of the services' API comes from.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn same(given: &str, expected: &Secret) -> bool {
    given.as_bytes().ct_eq(expected.expose().as_bytes()).into()
}

pub async fn require_control_token(
    State(token): State<ControlToken>,
    request: Request,
    next: Next,
) -> Response {
    let from_header = bearer(request.headers()).map(str::to_string);
    let from_query = if request.method() == Method::GET {
        Query::<TokenQuery>::try_from_uri(request.uri())
            .ok()
            .and_then(|q| q.0.token)
    } else {
        None
    };
    let allowed = from_header
        .or(from_query)
        .is_some_and(|given| same(&given, &token.0));
    if !allowed {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

pub async fn require_service_token(
    State(handle): State<Handle>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(service) = bearer(request.headers()).and_then(|token| handle.service_of_token(token))
    else {
        return ApiError::Unauthorized.into_response();
    };
    request.extensions_mut().insert(Caller(service));
    next.run(request).await
}
