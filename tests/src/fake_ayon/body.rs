//! How FastAPI turns a request's bytes into the body its model sees.
//!
//! This runs before authentication on the real server (a malformed body is a 400
//! even without credentials), and decides between three cases the validation errors
//! depend on: no body at all, a JSON document, or bytes that were not sent as JSON.

use super::pyjson::{self, LoadError, Py};

/// What the body model is validated against.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestBody {
    /// No bytes, or the JSON document `null`: "body: field required".
    Missing,
    Json(Py),
    /// Bytes sent with a content type that is not JSON: FastAPI hands the raw bytes
    /// to the model, which finds none of its fields in them.
    NotJson,
}

/// Why the bytes could not become a body.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyError {
    /// `json.JSONDecodeError`: reported as a `json_invalid` validation error.
    Decode { msg: &'static str, pos: usize },
    /// Anything else Python raises while decoding (bytes that are not UTF-8, nesting
    /// past the recursion limit): FastAPI's generic "error parsing the body".
    Unreadable,
}

impl RequestBody {
    pub fn read(content_type: Option<&str>, bytes: &[u8]) -> Result<RequestBody, BodyError> {
        if bytes.is_empty() {
            return Ok(RequestBody::Missing);
        }
        if content_type.is_some_and(|ct| !is_json_content_type(ct)) {
            return Ok(RequestBody::NotJson);
        }
        // json.loads(bytes) decodes with "utf-8-sig": a leading BOM is dropped and
        // offsets count from after it.
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|_| BodyError::Unreadable)?;
        match pyjson::loads(text) {
            Ok(Py::Null) => Ok(RequestBody::Missing),
            Ok(value) => Ok(RequestBody::Json(value)),
            Err(LoadError::Decode { msg, pos }) => Err(BodyError::Decode { msg, pos }),
            Err(LoadError::TooDeep) => Err(BodyError::Unreadable),
        }
    }
}

/// FastAPI parses JSON when there is no content type, or when it is
/// `application/json` or `application/<anything>+json`, parameters ignored. A value
/// Python's email parser cannot read as `type/subtype` counts as `text/plain`.
fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((main, sub)) = essence.split_once('/') else {
        return false;
    };
    if sub.contains('/') {
        return false;
    }
    main.trim() == "application" && {
        let sub = sub.trim();
        sub == "json" || sub.ends_with("+json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_null_bodies_are_missing() {
        assert_eq!(
            RequestBody::read(Some("application/json"), b""),
            Ok(RequestBody::Missing)
        );
        assert_eq!(RequestBody::read(None, b"null"), Ok(RequestBody::Missing));
    }

    #[test]
    fn json_content_types() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ] {
            assert!(is_json_content_type(ct), "{ct}");
        }
        for ct in ["application/x-www-form-urlencoded", "text/json", "json", ""] {
            assert!(!is_json_content_type(ct), "{ct}");
        }
        assert_eq!(
            RequestBody::read(Some("application/x-www-form-urlencoded"), b"{\"a\":1}"),
            Ok(RequestBody::NotJson)
        );
    }

    #[test]
    fn decode_errors_and_unreadable_bytes() {
        assert_eq!(
            RequestBody::read(None, b"{\"hostname\": \"host-a\", "),
            Err(BodyError::Decode {
                msg: "Expecting property name enclosed in double quotes",
                pos: 23
            })
        );
        assert_eq!(
            RequestBody::read(None, b"\xef\xbb\xbf{}"),
            Ok(RequestBody::Json(Py::Dict(vec![])))
        );
        assert_eq!(
            RequestBody::read(None, b"{\"a\":\"\xff\"}"),
            Err(BodyError::Unreadable)
        );
    }
}
