//! Every error answer of the fake, with the server's status and exact body.
//!
//! The shapes differ more than one would guess: most errors are
//! `{"code","detail"}`, an unknown route adds `path`, a wrong method has no `code`,
//! validation errors carry `traceback` and `errors`, and database conflicts are an
//! HTTP 500 whose body says 409.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::body::BodyError;
use super::state::StoreError;
use super::validate::FieldError;

#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// `{"code": status, "detail": ...}`: 400, 401, 403, 404, and the 500 of a fault.
    Plain { status: StatusCode, detail: String },
    /// A path no route serves.
    RouteNotFound { path: String },
    /// A route that exists, asked with another method; `allow` lists its methods.
    MethodNotAllowed { allow: &'static str },
    /// The request body failed the model (also "JSON decode error").
    Validation {
        method: &'static str,
        path: String,
        errors: Vec<ValidationItem>,
    },
    /// A refused write, as asyncpg's exception is reported.
    Database {
        method: &'static str,
        name: String,
        detail: String,
        error: &'static str,
    },
}

/// One entry of a validation error's `errors`.
#[derive(Clone, Debug, PartialEq)]
pub enum ValidationItem {
    Field(FieldError),
    /// The body is not JSON: `pos` is Python's character offset.
    JsonInvalid {
        pos: usize,
        msg: &'static str,
    },
}

impl ApiError {
    pub fn plain(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError::Plain {
            status,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: &str) -> ApiError {
        ApiError::plain(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn validation(method: &'static str, path: &str, errors: Vec<FieldError>) -> ApiError {
        ApiError::Validation {
            method,
            path: path.to_string(),
            errors: errors.into_iter().map(ValidationItem::Field).collect(),
        }
    }

    /// A body that could not be read, before any check of credentials.
    pub fn body(method: &'static str, path: &str, error: BodyError) -> ApiError {
        match error {
            BodyError::Decode { msg, pos } => ApiError::Validation {
                method,
                path: path.to_string(),
                errors: vec![ValidationItem::JsonInvalid { pos, msg }],
            },
            BodyError::Unreadable => ApiError::plain(
                StatusCode::BAD_REQUEST,
                "There was an error parsing the body",
            ),
        }
    }

    /// A refused PUT or PATCH of the service `name`.
    pub fn store(method: &'static str, name: &str, error: StoreError) -> ApiError {
        let not_found = |detail: String| ApiError::plain(StatusCode::NOT_FOUND, detail);
        let database = |detail: String, error| ApiError::Database {
            method,
            name: name.to_string(),
            detail,
            error,
        };
        match error {
            StoreError::AddonMissing { addon } => {
                not_found(format!("Addon {addon} does not exist"))
            }
            StoreError::VersionMissing { addon, version } => {
                not_found(format!("Addon {addon} version {version} does not exist"))
            }
            StoreError::ServiceMissing => not_found("This addon does not have this service".into()),
            StoreError::ServiceNotFound => not_found("Service not found".into()),
            StoreError::DuplicateName { name } => database(
                format!("Service with name '{name}' already exists."),
                "unique-violation",
            ),
            StoreError::UnknownHost { hostname } => database(
                format!("hostname '{hostname}' is not present in table \"hosts\"."),
                "foreign-key-violation",
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Plain { status, .. } => *status,
            ApiError::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            // The server's handler reports a constraint violation as 409 in the body
            // but leaves the HTTP status at 500.
            ApiError::Database { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body as the server sends it: compact JSON.
    pub fn body_text(&self) -> String {
        match self {
            ApiError::Plain { status, detail } => to_json(&Plain {
                code: status.as_u16(),
                detail,
            }),
            ApiError::RouteNotFound { path } => to_json(&RouteNotFound {
                code: 404,
                detail: &format!("API endpoint {path} not found"),
                path,
            }),
            ApiError::MethodNotAllowed { .. } => {
                json!({"detail": "Method Not Allowed"}).to_string()
            }
            ApiError::Validation {
                method,
                path,
                errors,
            } => to_json(&Validation {
                code: 400,
                detail: &format!("Request validation error in [{method}] {path}"),
                path,
                traceback: &errors
                    .iter()
                    .map(ValidationItem::traceback_line)
                    .collect::<Vec<_>>()
                    .join("\n"),
                errors: errors.iter().map(ValidationItem::wire).collect(),
            }),
            ApiError::Database {
                method,
                name,
                detail,
                error,
            } => to_json(&Database {
                // The path as the services router sees it: without the /api prefix.
                path: &format!("[{method}] /services/{name}"),
                file: "asyncpg/protocol/protocol.pyx",
                function: "bind_execute",
                line: 197,
                detail,
                error,
                code: 409,
            }),
        }
    }
}

impl ValidationItem {
    fn traceback_line(&self) -> String {
        match self {
            ValidationItem::Field(e) => e.traceback_line(),
            ValidationItem::JsonInvalid { pos, .. } => format!("{pos}: JSON decode error"),
        }
    }

    fn wire(&self) -> ItemWire<'_> {
        match self {
            ValidationItem::Field(e) => ItemWire::Field {
                loc: &e.loc,
                msg: e.msg,
                kind: e.kind,
                ctx: e.ctx.as_ref(),
            },
            ValidationItem::JsonInvalid { pos, msg } => ItemWire::JsonInvalid {
                kind: "json_invalid",
                loc: json!(["body", pos]),
                msg: "JSON decode error",
                input: json!({}),
                ctx: json!({ "error": msg }),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status(), self.body_text());
        if let ApiError::MethodNotAllowed { allow } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// A JSON answer with the server's exact content type.
pub fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn to_json(body: &impl Serialize) -> String {
    serde_json::to_string(body).expect("error bodies serialize")
}

#[derive(Serialize)]
struct Plain<'a> {
    code: u16,
    detail: &'a str,
}

#[derive(Serialize)]
struct RouteNotFound<'a> {
    code: u16,
    detail: &'a str,
    path: &'a str,
}

#[derive(Serialize)]
struct Validation<'a> {
    code: u16,
    detail: &'a str,
    path: &'a str,
    traceback: &'a str,
    errors: Vec<ItemWire<'a>>,
}

/// The two entry shapes, with their different key orders.
#[derive(Serialize)]
#[serde(untagged)]
enum ItemWire<'a> {
    Field {
        loc: &'a [serde_json::Value],
        msg: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ctx: Option<&'a serde_json::Value>,
    },
    JsonInvalid {
        #[serde(rename = "type")]
        kind: &'a str,
        loc: serde_json::Value,
        msg: &'a str,
        input: serde_json::Value,
        ctx: serde_json::Value,
    },
}

#[derive(Serialize)]
struct Database<'a> {
    path: &'a str,
    file: &'a str,
    function: &'a str,
    line: u32,
    detail: &'a str,
    error: &'a str,
    code: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_ayon::body::RequestBody;
    use crate::fake_ayon::pyjson::loads;
    use crate::fake_ayon::validate;

    /// Compact form of a sample file's body, to compare byte for byte.
    fn compact(pretty: &str) -> String {
        // Reparsing with serde_json would sort keys; only strip the indentation.
        let mut out = String::new();
        let mut in_string = false;
        let mut escaped = false;
        for c in pretty.chars() {
            if in_string {
                out.push(c);
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
                out.push(c);
            } else if !c.is_whitespace() {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn validation_body_matches_the_cpu_over_100_sample() {
        let body =
            RequestBody::Json(loads(r#"{"hostname":"h","health":{"cpu":150,"mem":2}}"#).unwrap());
        let errors = validate::heartbeat(&body).unwrap_err();
        let e = ApiError::validation("POST", "/api/hosts/heartbeat", errors);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.body_text(),
            compact(
                r#"{"code": 400, "detail": "Request validation error in [POST] /api/hosts/heartbeat",
                "path": "/api/hosts/heartbeat",
                "traceback": "health.cpu: ensure this value is less than or equal to 100",
                "errors": [{"loc": ["body", "health", "cpu"],
                  "msg": "ensure this value is less than or equal to 100",
                  "type": "value_error.number.not_le", "ctx": {"limit_value": 100}}]}"#
            )
        );
    }

    #[test]
    fn bad_json_body_matches_the_sample() {
        let e = ApiError::body(
            "POST",
            "/api/hosts/heartbeat",
            RequestBody::read(None, br#"{"hostname": "host-a", "#).unwrap_err(),
        );
        assert_eq!(
            e.body_text(),
            compact(
                r#"{"code": 400, "detail": "Request validation error in [POST] /api/hosts/heartbeat",
                "path": "/api/hosts/heartbeat", "traceback": "23: JSON decode error",
                "errors": [{"type": "json_invalid", "loc": ["body", 23], "msg": "JSON decode error",
                  "input": {}, "ctx": {"error": "Expecting property name enclosed in double quotes"}}]}"#
            )
        );
    }

    #[test]
    fn database_conflicts_are_http_500_with_code_409() {
        let e = ApiError::store(
            "PUT",
            "ticker-x",
            StoreError::UnknownHost {
                hostname: "never-beat".into(),
            },
        );
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            e.body_text(),
            compact(
                r#"{"path": "[PUT] /services/ticker-x", "file": "asyncpg/protocol/protocol.pyx",
                "function": "bind_execute", "line": 197,
                "detail": "hostname 'never-beat' is not present in table \"hosts\".",
                "error": "foreign-key-violation", "code": 409}"#
            )
        );
    }

    #[test]
    fn route_and_method_errors() {
        let e = ApiError::RouteNotFound {
            path: "/api/nosuchthing".into(),
        };
        assert_eq!(
            e.body_text(),
            r#"{"code":404,"detail":"API endpoint /api/nosuchthing not found","path":"/api/nosuchthing"}"#
        );
        let response = ApiError::MethodNotAllowed { allow: "POST" }.into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");
        assert_eq!(
            ApiError::MethodNotAllowed { allow: "POST" }.body_text(),
            r#"{"detail":"Method Not Allowed"}"#
        );
    }
}
