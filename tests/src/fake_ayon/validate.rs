//! The request models of the heartbeat and of PUT/PATCH /api/services/{name}, with
//! the coercions and the error list (loc, msg, type, ctx) of ayon-backend 1.16.
//!
//! The server keeps pydantic 1 behaviour and wording, so this mirrors it: numbers
//! are accepted as strings (`5` -> `"5"`), numeric strings as floats, the usual
//! words as booleans; every field is checked and all errors are reported together,
//! in the model's field order. Models also validate "from attributes": given
//! something that is not an object (a string, a list, a form-encoded body) they find
//! none of their fields in it, so `health: "ok"` gives cpu 0 and mem 0 and a
//! form-encoded heartbeat gives "field required" for hostname and health.
//! Fields are looked up by their camelCase alias first, then by their Python name.
//!
//! This module only checks and converts; it never touches the database.

use serde_json::{json, Map, Value};

use super::body::RequestBody;
use super::pyjson::Py;

/// One entry of the `errors` list of a 400 answer.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// Starts with "body"; object keys as strings, list indexes as numbers.
    pub loc: Vec<Value>,
    pub msg: &'static str,
    pub kind: &'static str,
    pub ctx: Option<Value>,
}

impl FieldError {
    /// The error's line in `traceback`: its location without the leading "body"
    /// (unless that is all there is), joined by dots, then the message.
    pub fn traceback_line(&self) -> String {
        let loc = if self.loc.len() > 1 {
            &self.loc[1..]
        } else {
            &self.loc[..]
        };
        let parts: Vec<String> = loc
            .iter()
            .map(|part| match part {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        format!("{}: {}", parts.join("."), self.msg)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub hostname: String,
    pub health: Health,
    /// Names of the services running on the host.
    pub services: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Health {
    pub cpu: f64,
    pub mem: f64,
}

/// The body of PUT /api/services/{name}.
#[derive(Clone, Debug, PartialEq)]
pub struct Spawn {
    pub addon_name: String,
    pub addon_version: String,
    pub service: String,
    pub hostname: String,
    pub config: ServiceConfig,
}

/// The body of PATCH /api/services/{name}.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServicePatch {
    pub should_run: Option<bool>,
    pub hostname: Option<String>,
    /// The deprecated `config: {...}` wrapper; applied before the top-level fields.
    pub legacy_config: Option<ServiceConfig>,
    /// The data fields given at the top level.
    pub config: ServiceConfig,
}

/// Service data fields as given in a request. The outer `Option` says whether the
/// field was given at all (PATCH replaces only those); an explicit `null` clears the
/// fields that may be null.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceConfig {
    pub volumes: Option<Option<Vec<String>>>,
    pub ports: Option<Option<Vec<String>>>,
    pub mem_limit: Option<Option<String>>,
    pub user: Option<Option<String>>,
    pub env: Option<Map<String, Value>>,
    pub storage_path: Option<Option<String>>,
}

pub fn heartbeat(body: &RequestBody) -> Result<Heartbeat, Vec<FieldError>> {
    let fields = body_fields(body)?;
    let mut errs = Errors::default();
    let root = Loc::body();
    let hostname = required(
        &mut errs,
        root.key("hostname"),
        fields.get("hostname", "hostname"),
        string,
    );
    let health = required(
        &mut errs,
        root.key("health"),
        fields.get("health", "health"),
        |errs, loc, value| {
            let health = Fields::of(value);
            let cpu = percent(errs, loc.key("cpu"), health.get("cpu", "cpu"));
            let mem = percent(errs, loc.key("mem"), health.get("mem", "mem"));
            Some(Health {
                cpu: cpu?,
                mem: mem?,
            })
        },
    );
    let services = defaulted(
        &mut errs,
        root.key("services"),
        fields.get("services", "services"),
        Vec::new,
        string_list,
    );
    match (hostname, health, services) {
        (Some(hostname), Some(health), Some(services)) if errs.0.is_empty() => Ok(Heartbeat {
            hostname,
            health,
            services,
        }),
        _ => Err(errs.0),
    }
}

pub fn spawn(body: &RequestBody) -> Result<Spawn, Vec<FieldError>> {
    let fields = body_fields(body)?;
    let mut errs = Errors::default();
    let root = Loc::body();
    // addonName, addonVersion, service and hostname: required strings.
    let text = |errs: &mut Errors, alias: &str, name: &str| {
        required(errs, root.key(alias), fields.get(alias, name), string)
    };
    let addon_name = text(&mut errs, "addonName", "addon_name");
    let addon_version = text(&mut errs, "addonVersion", "addon_version");
    let service = text(&mut errs, "service", "service");
    let hostname = text(&mut errs, "hostname", "hostname");
    let config = defaulted(
        &mut errs,
        root.key("config"),
        fields.get("config", "config"),
        ServiceConfig::default,
        |errs, loc, value| Some(service_config(errs, &loc, &Fields::of(value))),
    );
    match (addon_name, addon_version, service, hostname, config) {
        (Some(addon_name), Some(addon_version), Some(service), Some(hostname), Some(config))
            if errs.0.is_empty() =>
        {
            Ok(Spawn {
                addon_name,
                addon_version,
                service,
                hostname,
                config,
            })
        }
        _ => Err(errs.0),
    }
}

pub fn patch(body: &RequestBody) -> Result<ServicePatch, Vec<FieldError>> {
    let fields = body_fields(body)?;
    let mut errs = Errors::default();
    let root = Loc::body();
    // The patch model extends the config model: its data fields come first.
    let config = service_config(&mut errs, &root, &fields);
    // `null` means "not given" for these three.
    let should_run = nullable(
        &mut errs,
        root.key("shouldRun"),
        fields.get("shouldRun", "should_run"),
        boolean,
    )
    .flatten();
    let hostname = nullable(
        &mut errs,
        root.key("hostname"),
        fields.get("hostname", "hostname"),
        string,
    )
    .flatten();
    let legacy_config = nullable(
        &mut errs,
        root.key("config"),
        fields.get("config", "config"),
        |errs, loc, value| Some(service_config(errs, &loc, &Fields::of(value))),
    )
    .flatten();
    if errs.0.is_empty() {
        Ok(ServicePatch {
            should_run,
            hostname,
            legacy_config,
            config,
        })
    } else {
        Err(errs.0)
    }
}

fn service_config(errs: &mut Errors, loc: &Loc, fields: &Fields) -> ServiceConfig {
    ServiceConfig {
        volumes: nullable(
            errs,
            loc.key("volumes"),
            fields.get("volumes", "volumes"),
            string_list,
        ),
        ports: nullable(
            errs,
            loc.key("ports"),
            fields.get("ports", "ports"),
            string_list,
        ),
        mem_limit: nullable(
            errs,
            loc.key("memLimit"),
            fields.get("memLimit", "mem_limit"),
            string,
        ),
        user: nullable(errs, loc.key("user"), fields.get("user", "user"), string),
        // env has a default and may not be null; given, it replaces the stored one.
        env: match fields.get("env", "env") {
            None => None,
            Some(value) => required(errs, loc.key("env"), Some(value), dict),
        },
        storage_path: nullable(
            errs,
            loc.key("storagePath"),
            fields.get("storagePath", "storage_path"),
            string,
        ),
    }
}

/// The fields a model finds in its input.
struct Fields<'a>(&'a [(String, Py)]);

impl<'a> Fields<'a> {
    /// An object's keys; anything else has no fields (validation "from attributes").
    fn of(value: &'a Py) -> Fields<'a> {
        match value {
            Py::Dict(pairs) => Fields(pairs),
            _ => Fields(&[]),
        }
    }

    fn get(&self, alias: &str, name: &str) -> Option<&'a Py> {
        let find = |key: &str| self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        find(alias).or_else(|| find(name))
    }
}

/// The body itself is a required parameter: no body is an error of its own.
fn body_fields(body: &RequestBody) -> Result<Fields<'_>, Vec<FieldError>> {
    match body {
        RequestBody::Missing => {
            let mut errs = Errors::default();
            errs.missing(Loc::body());
            Err(errs.0)
        }
        RequestBody::Json(value) => Ok(Fields::of(value)),
        RequestBody::NotJson => Ok(Fields(&[])),
    }
}

#[derive(Clone)]
struct Loc(Vec<Value>);

impl Loc {
    fn body() -> Loc {
        Loc(vec![json!("body")])
    }

    fn key(&self, key: &str) -> Loc {
        let mut loc = self.0.clone();
        loc.push(json!(key));
        Loc(loc)
    }

    fn index(&self, index: usize) -> Loc {
        let mut loc = self.0.clone();
        loc.push(json!(index));
        Loc(loc)
    }
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, loc: Loc, msg: &'static str, kind: &'static str, ctx: Option<Value>) {
        self.0.push(FieldError {
            loc: loc.0,
            msg,
            kind,
            ctx,
        });
    }

    fn missing(&mut self, loc: Loc) {
        self.push(loc, "field required", "value_error.missing", None);
    }

    fn null(&mut self, loc: Loc) {
        self.push(
            loc,
            "none is not an allowed value",
            "type_error.none.not_allowed",
            None,
        );
    }
}

// The helpers below take a check for a present, non-null value, which records its
// errors and returns None when the value fails.

/// A field without a default that may not be null.
fn required<'a, T>(
    errs: &mut Errors,
    loc: Loc,
    value: Option<&'a Py>,
    check: impl FnOnce(&mut Errors, Loc, &'a Py) -> Option<T>,
) -> Option<T> {
    match value {
        None => {
            errs.missing(loc);
            None
        }
        Some(Py::Null) => {
            errs.null(loc);
            None
        }
        Some(value) => check(errs, loc, value),
    }
}

/// A field with a default that may not be null.
fn defaulted<'a, T>(
    errs: &mut Errors,
    loc: Loc,
    value: Option<&'a Py>,
    default: impl FnOnce() -> T,
    check: impl FnOnce(&mut Errors, Loc, &'a Py) -> Option<T>,
) -> Option<T> {
    match value {
        None => Some(default()),
        Some(_) => required(errs, loc, value, check),
    }
}

/// A field that may be null: None when absent (or invalid), Some(None) for null.
fn nullable<'a, T>(
    errs: &mut Errors,
    loc: Loc,
    value: Option<&'a Py>,
    check: impl FnOnce(&mut Errors, Loc, &'a Py) -> Option<T>,
) -> Option<Option<T>> {
    match value {
        None => None,
        Some(Py::Null) => Some(None),
        Some(value) => check(errs, loc, value).map(Some),
    }
}

/// `str`: strings, and numbers as Python prints them.
fn string(errs: &mut Errors, loc: Loc, value: &Py) -> Option<String> {
    match value {
        Py::Str(s) => Some(s.clone()),
        Py::Int(_) | Py::Float(_) => value.number_text(),
        _ => {
            errs.push(loc, "str type expected", "type_error.str", None);
            None
        }
    }
}

/// `list[str]`: every bad item is reported with its index.
fn string_list(errs: &mut Errors, loc: Loc, value: &Py) -> Option<Vec<String>> {
    let Py::List(items) = value else {
        errs.push(loc, "value is not a valid list", "type_error.list", None);
        return None;
    };
    let before = errs.0.len();
    let out: Vec<Option<String>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| required(errs, loc.index(i), Some(item), string))
        .collect();
    if errs.0.len() > before {
        return None;
    }
    out.into_iter().collect()
}

/// `dict[str, Any]`: values keep their JSON types.
fn dict(errs: &mut Errors, loc: Loc, value: &Py) -> Option<Map<String, Value>> {
    let Py::Dict(pairs) = value else {
        errs.push(loc, "value is not a valid dict", "type_error.dict", None);
        return None;
    };
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
    )
}

/// `bool`: true/false, 0/1, and the words pydantic knows, in any case.
fn boolean(errs: &mut Errors, loc: Loc, value: &Py) -> Option<bool> {
    let parsed = match value {
        Py::Bool(b) => Some(*b),
        Py::Int(text) => match text.as_str() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        },
        Py::Float(f) if *f == 0.0 => Some(false),
        Py::Float(f) if *f == 1.0 => Some(true),
        Py::Str(s) => match s.to_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    };
    if parsed.is_none() {
        errs.push(
            loc,
            "value could not be parsed to a boolean",
            "type_error.bool",
            None,
        );
    }
    parsed
}

/// `float = Field(0, ge=0, le=100)`.
fn percent(errs: &mut Errors, loc: Loc, value: Option<&Py>) -> Option<f64> {
    let f = defaulted(errs, loc.clone(), value, || 0.0, float)?;
    // NaN meets no bound; Python reports the first one it checks.
    if f.is_nan() || f < 0.0 {
        errs.push(
            loc,
            "ensure this value is greater than or equal to 0",
            "value_error.number.not_ge",
            Some(json!({"limit_value": 0})),
        );
        None
    } else if f > 100.0 {
        errs.push(
            loc,
            "ensure this value is less than or equal to 100",
            "value_error.number.not_le",
            Some(json!({"limit_value": 100})),
        );
        None
    } else {
        Some(f)
    }
}

/// `float`: numbers, booleans, and strings Python's float() reads.
fn float(errs: &mut Errors, loc: Loc, value: &Py) -> Option<f64> {
    let parsed = match value {
        Py::Float(f) => Some(*f),
        Py::Int(text) => text.parse().ok(),
        Py::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Py::Str(s) => python_float(s),
        _ => None,
    };
    if parsed.is_none() {
        errs.push(loc, "value is not a valid float", "type_error.float", None);
    }
    parsed
}

/// Python's `float(str)`: surrounding whitespace, `inf`/`nan` spellings, and
/// underscores between digits are allowed.
fn python_float(text: &str) -> Option<f64> {
    let text = text.trim();
    let chars: Vec<char> = text.chars().collect();
    let underscores_ok = chars.iter().enumerate().all(|(i, c)| {
        *c != '_'
            || (i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit))
    });
    if !underscores_ok {
        return None;
    }
    text.replace('_', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_ayon::pyjson::loads;

    fn body(text: &str) -> RequestBody {
        RequestBody::Json(loads(text).unwrap())
    }

    fn errors(result: Result<impl std::fmt::Debug, Vec<FieldError>>) -> Vec<String> {
        result
            .unwrap_err()
            .iter()
            .map(FieldError::traceback_line)
            .collect()
    }

    #[test]
    fn heartbeat_coerces_like_the_server() {
        let hb = heartbeat(&body(
            r#"{"hostname": 5, "health": {"cpu": "12.5"}, "services": [1, "a"]}"#,
        ))
        .unwrap();
        assert_eq!(hb.hostname, "5");
        assert_eq!(
            hb.health,
            Health {
                cpu: 12.5,
                mem: 0.0
            }
        );
        assert_eq!(hb.services, ["1", "a"]);
        let hb = heartbeat(&body(r#"{"hostname": "", "health": "ok"}"#)).unwrap();
        assert_eq!(hb.health, Health::default());
        assert!(hb.services.is_empty());
        assert_eq!(
            heartbeat(&body(r#"{"hostname": 1.5e16, "health": 5}"#))
                .unwrap()
                .hostname,
            "1.5e+16"
        );
    }

    #[test]
    fn heartbeat_errors_match_the_samples() {
        let cases: &[(&str, &[&str])] = &[
            (
                r#"{"health":{"cpu":1,"mem":2},"services":[]}"#,
                &["hostname: field required"],
            ),
            (r#"{"hostname":"host-a"}"#, &["health: field required"]),
            (
                r#"{"hostname":null,"health":{"cpu":1,"mem":2}}"#,
                &["hostname: none is not an allowed value"],
            ),
            (
                r#"{"hostname":["x"],"health":{"cpu":1,"mem":2}}"#,
                &["hostname: str type expected"],
            ),
            (
                r#"{"hostname":"h","health":{"cpu":150,"mem":2}}"#,
                &["health.cpu: ensure this value is less than or equal to 100"],
            ),
            (
                r#"{"hostname":"h","health":{"cpu":-1,"mem":2}}"#,
                &["health.cpu: ensure this value is greater than or equal to 0"],
            ),
            (
                r#"{"hostname":"h","health":{"cpu":"high","mem":2}}"#,
                &["health.cpu: value is not a valid float"],
            ),
            (
                r#"{"hostname":"h","health":null}"#,
                &["health: none is not an allowed value"],
            ),
            (
                r#"{"hostname":"h","health":{},"services":"ticker-a"}"#,
                &["services: value is not a valid list"],
            ),
            (
                r#"{"hostname":"h","health":{},"services":null}"#,
                &["services: none is not an allowed value"],
            ),
            (
                r#"{"hostname":"h","health":{},"services":[1,{"a":1}]}"#,
                &["services.1: str type expected"],
            ),
            (
                r#"{"hostname":"h","health":{"cpu":NaN}}"#,
                &["health.cpu: ensure this value is greater than or equal to 0"],
            ),
            (
                r#"[1]"#,
                &["hostname: field required", "health: field required"],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(errors(heartbeat(&body(text))), *want, "{text}");
        }
        assert_eq!(
            errors(heartbeat(&RequestBody::Missing)),
            ["body: field required"]
        );
        assert_eq!(
            errors(heartbeat(&RequestBody::NotJson)),
            ["hostname: field required", "health: field required"]
        );
    }

    #[test]
    fn limit_errors_carry_ctx() {
        let errs = heartbeat(&body(r#"{"hostname":"h","health":{"cpu":150}}"#)).unwrap_err();
        assert_eq!(errs[0].loc, [json!("body"), json!("health"), json!("cpu")]);
        assert_eq!(errs[0].kind, "value_error.number.not_le");
        assert_eq!(errs[0].ctx, Some(json!({"limit_value": 100})));
    }

    #[test]
    fn spawn_requires_its_fields_in_order() {
        assert_eq!(
            errors(spawn(&body(r#"{"addonName":"ticker"}"#))),
            [
                "addonVersion: field required",
                "service: field required",
                "hostname: field required"
            ]
        );
        assert_eq!(
            errors(spawn(&body(
                r#"{"addonName":"t","addonVersion":"1","service":"s","hostname":"h","config":{"env":"x"}}"#
            ))),
            ["config.env: value is not a valid dict"]
        );
        let ok = spawn(&body(r#"{"addon_name":"t","addonVersion":"1","service":"s","hostname":"h","config":{"env":{"N":2},"memLimit":"1g"}}"#)).unwrap();
        assert_eq!(ok.addon_name, "t");
        assert_eq!(
            ok.config.env,
            Some(json!({"N": 2}).as_object().unwrap().clone())
        );
        assert_eq!(ok.config.mem_limit, Some(Some("1g".into())));
        assert_eq!(ok.config.volumes, None);
    }

    #[test]
    fn patch_keeps_given_and_null_apart() {
        let p = patch(&body(
            r#"{"shouldRun":"no","volumes":null,"config":{"memLimit":"512m"},"hostname":null}"#,
        ))
        .unwrap();
        assert_eq!(p.should_run, Some(false));
        assert_eq!(p.hostname, None);
        assert_eq!(p.config.volumes, Some(None));
        assert_eq!(p.config.ports, None);
        assert_eq!(
            p.legacy_config.unwrap().mem_limit,
            Some(Some("512m".into()))
        );
        assert_eq!(
            errors(patch(&body(r#"{"shouldRun":"maybe","env":null}"#))),
            [
                "env: none is not an allowed value",
                "shouldRun: value could not be parsed to a boolean"
            ]
        );
        // A body that is not an object patches nothing.
        assert_eq!(patch(&body("[]")).unwrap(), ServicePatch::default());
    }

    #[test]
    fn python_float_strings() {
        assert_eq!(python_float(" 1_000.5\n"), Some(1000.5));
        assert_eq!(python_float("1__0"), None);
        assert_eq!(python_float("_1"), None);
        assert_eq!(python_float("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(python_float(""), None);
    }
}
