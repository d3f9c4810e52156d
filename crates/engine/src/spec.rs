//! `ServiceSpec`: one service as this host will run it, made from the server's
//! [`ServiceModel`] or rejected with a reason that names the field and the value.
//!
//! Validation is pure and per service: a bad spec never reaches the container engine
//! half-configured, and never affects the other services of the same answer.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::ayon::wire::ServiceModel;
use crate::slug::container_name;

/// A validated service, ready to become a container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub addon_name: String,
    pub addon_version: String,
    pub service: String,
    pub image: String,
    /// The spec's own environment, values already converted to text, in server order.
    pub env: Vec<(String, String)>,
    pub volumes: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// The memory limit as the server wrote it (`512m`) and in bytes.
    pub mem_limit: Option<MemLimit>,
    pub user: Option<String>,
    /// The command the container runs instead of its image's. The server's spec has no
    /// such field: only a local services file sets it (`command = [...]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `storagePath`: a path of this host mounted at [`crate::container::STORAGE_TARGET`].
    pub storage_path: Option<String>,
}

/// `memLimit` as written and as bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemLimit {
    pub text: String,
    pub bytes: i64,
}

/// One `ports` entry: `[ip:]hostPort:containerPort[/proto]` or `containerPort[/proto]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    pub host_ip: Option<String>,
    /// `None` publishes the container port on a port the engine picks.
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

impl PortMapping {
    /// Docker's key for the container side, e.g. `80/tcp`.
    pub fn container_key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }
}

/// What the server asked for, once each entry of an answer has been looked at.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
    /// Valid: run it.
    Run(Box<ServiceSpec>),
    /// No image: skipped, as `ash` does.
    NoImage { name: String },
    /// Rejected: never started; whatever already runs for it is left alone.
    Invalid(SpecError),
}

impl Desired {
    pub fn name(&self) -> &str {
        match self {
            Desired::Run(spec) => &spec.name,
            Desired::NoImage { name } => name,
            Desired::Invalid(error) => &error.service,
        }
    }
}

/// Why a service from the server cannot be run. The message names the field and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service {service:?}: {field} {value:?} {problem}")]
pub struct SpecError {
    pub service: String,
    pub field: &'static str,
    pub value: String,
    pub problem: String,
}

/// An answer entry that is not a service object at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server's answer has an entry that is not a service ({problem}): {excerpt}")]
pub struct MalformedEntry {
    pub problem: String,
    pub excerpt: String,
}

impl ServiceSpec {
    /// Validates one service from the server.
    pub fn from_wire(model: &ServiceModel) -> Desired {
        let image = model.data.image.as_deref().unwrap_or("").trim();
        if image.is_empty() {
            return Desired::NoImage {
                name: model.name.clone(),
            };
        }
        match Self::validate(model, image) {
            Ok(spec) => Desired::Run(Box::new(spec)),
            Err(error) => Desired::Invalid(error),
        }
    }

    fn validate(model: &ServiceModel, image: &str) -> Result<ServiceSpec, SpecError> {
        let fail = |field: &'static str, value: &str, problem: &str| SpecError {
            service: model.name.clone(),
            field,
            value: value.to_string(),
            problem: problem.to_string(),
        };
        if container_name(&model.name) == crate::slug::CONTAINER_PREFIX.trim_end_matches('_') {
            return Err(fail(
                "name",
                &model.name,
                "has no letter or digit, so it cannot make a container name",
            ));
        }
        for (field, value) in [
            ("addonName", &model.addon_name),
            ("addonVersion", &model.addon_version),
            ("service", &model.service),
        ] {
            if value.trim().is_empty() || value.contains('\0') {
                return Err(fail(field, value, "must be a non-empty label value"));
            }
        }
        validate_image(image).map_err(|problem| fail("image", image, problem))?;

        let mut env = Vec::new();
        for (key, value) in model.data.env.iter().flatten() {
            validate_env_key(key).map_err(|problem| fail("env", key, problem))?;
            env.push((key.clone(), env_value_text(value)));
        }

        let volumes = model.data.volumes.clone().unwrap_or_default();
        for volume in &volumes {
            validate_volume(volume).map_err(|problem| fail("volumes", volume, problem))?;
        }

        let mut ports = Vec::new();
        for port in model.data.ports.iter().flatten() {
            ports.push(parse_port(port).map_err(|problem| fail("ports", port, problem))?);
        }

        let mem_limit = match model.data.mem_limit.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(MemLimit {
                text: text.to_string(),
                bytes: parse_mem_limit(text).map_err(|problem| fail("memLimit", text, problem))?,
            }),
        };

        let user = match model.data.user.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(user) => {
                validate_user(user).map_err(|problem| fail("user", user, problem))?;
                Some(user.to_string())
            }
        };

        let storage_path = match model.data.storage_path.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(path) => {
                validate_storage_path(path)
                    .map_err(|problem| fail("storagePath", path, problem))?;
                Some(path.to_string())
            }
        };

        Ok(ServiceSpec {
            name: model.name.clone(),
            addon_name: model.addon_name.clone(),
            addon_version: model.addon_version.clone(),
            service: model.service.clone(),
            image: image.to_string(),
            env,
            volumes,
            ports,
            mem_limit,
            user,
            command: None,
            storage_path,
        })
    }

    pub fn container_name(&self) -> String {
        container_name(&self.name)
    }
}

/// Reads every entry of a heartbeat answer. Entries that are not service objects are
/// returned apart; each service is validated on its own. Two services whose names make
/// the same container name cannot both run: the second (by name) is rejected.
pub fn read_answer(entries: &[Value]) -> (Vec<Desired>, Vec<MalformedEntry>) {
    let mut desired: Vec<Desired> = Vec::new();
    let mut malformed = Vec::new();
    for entry in entries {
        match serde_json::from_value::<ServiceModel>(entry.clone()) {
            Ok(model) => desired.push(ServiceSpec::from_wire(&model)),
            Err(error) => malformed.push(MalformedEntry {
                problem: error.to_string(),
                excerpt: excerpt(entry),
            }),
        }
    }
    refuse_name_clashes(&mut desired, "the server's answer");
    (desired, malformed)
}

/// Sorts `desired` by name and rejects the second of two services with the same name, or
/// whose names make the same container name: they cannot both run. `origin` says where
/// they were declared ("the server's answer").
pub fn refuse_name_clashes(desired: &mut [Desired], origin: &str) {
    desired.sort_by(|a, b| a.name().cmp(b.name()));
    let mut seen_names: std::collections::HashSet<String> = Default::default();
    let mut seen_containers: std::collections::HashMap<String, String> = Default::default();
    for item in desired.iter_mut() {
        let name = item.name().to_string();
        if !seen_names.insert(name.clone()) {
            *item = Desired::Invalid(SpecError {
                service: name.clone(),
                field: "name",
                value: name,
                problem: format!("appears twice in {origin}"),
            });
            continue;
        }
        let container = container_name(&name);
        if let Some(first) = seen_containers.get(&container) {
            *item = Desired::Invalid(SpecError {
                service: name.clone(),
                field: "name",
                value: name,
                problem: format!(
                    "makes the container name {container}, already used by service {first:?}"
                ),
            });
        } else {
            seen_containers.insert(container, name);
        }
    }
}

fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// An env value as the container sees it: strings as they are, anything else as its
/// JSON text (`2` gives `2`, `true` gives `true`, `{"a":1}` gives `{"a":1}`).
pub fn env_value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn validate_env_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("is an empty variable name");
    }
    if key.contains('=') || key.contains('\0') {
        return Err("contains '=' or a NUL byte, which cannot be in a variable name");
    }
    Ok(())
}

/// Docker's image reference grammar, enough to refuse what the engine would refuse:
/// `[host[:port]/]path[:tag][@algo:hex]`, path components in lower case.
fn validate_image(image: &str) -> Result<(), &'static str> {
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace");
    }
    let (name_tag, digest) = match image.split_once('@') {
        Some((name_tag, digest)) => (name_tag, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let (algo, hex) = digest
            .split_once(':')
            .ok_or("has a digest without an algorithm")?;
        if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("has a malformed digest");
        }
    }
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(tag) = tag {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            return Err("has an invalid tag");
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            components.remove(0); // a registry host: its own rules, checked loosely
            if first.starts_with(['.', '-', ':']) || first.ends_with(['.', '-', ':']) {
                return Err("has an invalid registry host");
            }
        }
    }
    for component in components {
        let valid = !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !valid {
            return Err("is not a valid image reference (repository names are lower case letters, digits and . _ -)");
        }
    }
    Ok(())
}

const VOLUME_MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "shared",
    "slave",
    "private",
    "rshared",
    "rslave",
    "rprivate",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
];

/// `source:target[:mode,mode]`, source an absolute path or a volume name, target absolute.
fn validate_volume(volume: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = volume.split(':').collect();
    let (source, target, modes) = match parts.as_slice() {
        [source, target] => (*source, *target, None),
        [source, target, modes] => (*source, *target, Some(*modes)),
        _ => return Err("is not source:target[:mode]"),
    };
    if source.is_empty() {
        return Err("has an empty source");
    }
    let named_volume = source
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !source.starts_with('/') && !named_volume {
        return Err("has a source that is neither an absolute path nor a volume name");
    }
    if !target.starts_with('/') {
        return Err("has a target that is not an absolute path");
    }
    if let Some(modes) = modes {
        if !modes.split(',').all(|mode| VOLUME_MODES.contains(&mode)) {
            return Err("has an unknown mode (expected ro, rw, z, Z, ...)");
        }
    }
    Ok(())
}

/// A host directory, as the source of a bind mount takes it.
fn validate_storage_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("is not an absolute path on this host");
    }
    if path.contains(':') || path.contains('\0') {
        return Err("holds a ':' or a NUL, which a bind mount's source cannot");
    }
    Ok(())
}

fn parse_port(port: &str) -> Result<PortMapping, &'static str> {
    let (mapping, protocol) = match port.split_once('/') {
        Some((mapping, protocol)) => (mapping, protocol),
        None => (port, "tcp"),
    };
    if !["tcp", "udp", "sctp"].contains(&protocol) {
        return Err("has an unknown protocol (expected tcp, udp or sctp)");
    }
    let number = |text: &str| -> Result<u16, &'static str> {
        match text.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ if text.contains('-') => Err("uses a port range, which is not supported"),
            _ => Err("has a port that is not a number between 1 and 65535"),
        }
    };
    let parts: Vec<&str> = mapping.rsplitn(3, ':').collect();
    let (host_ip, host_port, container_port) = match parts.as_slice() {
        [container] => (None, None, number(container)?),
        [container, host] => (None, Some(number(host)?), number(container)?),
        [container, host, ip] => {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err("has a host address that is not an IP address");
            }
            let host_port = if host.is_empty() {
                None
            } else {
                Some(number(host)?)
            };
            (Some(ip.to_string()), host_port, number(container)?)
        }
        _ => unreachable!("rsplitn(3) yields one to three parts"),
    };
    Ok(PortMapping {
        host_ip,
        host_port,
        container_port,
        protocol: protocol.to_string(),
    })
}

/// The smallest memory limit Docker accepts.
const MIN_MEMORY_BYTES: i64 = 6 * 1024 * 1024;

/// `memLimit` as Docker reads it: a number with an optional unit b, k, m, g (and an
/// optional trailing b: `512mb`), binary multiples.
pub fn parse_mem_limit(text: &str) -> Result<i64, &'static str> {
    let lower = text.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| "is not a size such as 512m or 1g")?;
    let multiplier: f64 = match unit {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err("has an unknown unit (expected b, k, m or g)"),
    };
    let bytes = number * multiplier;
    if bytes > i64::MAX as f64 {
        return Err("is too large");
    }
    let bytes = bytes as i64;
    if bytes < MIN_MEMORY_BYTES {
        return Err("is below the 6m minimum that Docker accepts");
    }
    Ok(bytes)
}

/// `user[:group]`, each a name or a numeric id.
fn validate_user(user: &str) -> Result<(), &'static str> {
    let part_ok = |part: &str| {
        !part.is_empty()
            && (part.chars().all(|c| c.is_ascii_digit())
                || (part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))))
    };
    let mut parts = user.split(':');
    let valid = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => part_ok(name),
        (Some(name), Some(group), None) => part_ok(name) && part_ok(group),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err("is not user[:group] (names or numeric ids)")
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = &self.host_ip {
            write!(f, "{ip}:")?;
        }
        if let Some(port) = self.host_port {
            write!(f, "{port}:")?;
        }
        write!(f, "{}", self.container_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(data: Value) -> ServiceModel {
        serde_json::from_value(json!({
            "name": "ticker-a", "hostname": "h", "addonName": "ticker", "addonVersion": "1.0.0",
            "service": "ticker", "shouldRun": true, "isRunning": false, "lastSeen": null,
            "lastSeenDelta": null, "data": data
        }))
        .unwrap()
    }

    fn invalid_field(data: Value) -> (&'static str, String) {
        match ServiceSpec::from_wire(&model(data)) {
            Desired::Invalid(error) => (error.field, error.value),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn sample_service_is_valid_and_converts_env_to_text() {
        let desired = ServiceSpec::from_wire(&model(json!({
            "image": "ashtest/ticker:1", "volumes": ["/tmp:/data"], "ports": ["8080:80"],
            "memLimit": "256m", "user": "1000", "env": {"A": "1", "N": 2, "B": true, "O": {"x": 1}}
        })));
        let Desired::Run(spec) = desired else {
            panic!("{desired:?}")
        };
        assert_eq!(
            spec.env,
            vec![
                ("A".into(), "1".into()),
                ("N".into(), "2".into()),
                ("B".into(), "true".into()),
                ("O".into(), "{\"x\":1}".into())
            ]
        );
        assert_eq!(spec.mem_limit.unwrap().bytes, 256 * 1024 * 1024);
        assert_eq!(spec.ports[0].host_port, Some(8080));
        assert_eq!(spec.ports[0].container_key(), "80/tcp");
    }

    #[test]
    fn service_without_image_is_skipped_not_failed() {
        assert_eq!(
            ServiceSpec::from_wire(&model(json!({"image": ""}))),
            Desired::NoImage {
                name: "ticker-a".into()
            }
        );
        assert!(matches!(
            ServiceSpec::from_wire(&model(json!({}))),
            Desired::NoImage { .. }
        ));
    }

    #[test]
    fn each_bad_field_is_named_with_its_value() {
        let base = |extra: Value| {
            let mut data = json!({"image": "ashtest/ticker:1"});
            data.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            data
        };
        assert_eq!(invalid_field(base(json!({"image": "Ash Test"}))).0, "image");
        assert_eq!(
            invalid_field(base(json!({"image": "ashtest/Ticker:1"}))).0,
            "image"
        );
        assert_eq!(
            invalid_field(base(json!({"volumes": ["data"]}))),
            ("volumes", "data".into())
        );
        assert_eq!(
            invalid_field(base(json!({"volumes": ["/a:rel"]}))).0,
            "volumes"
        );
        assert_eq!(
            invalid_field(base(json!({"volumes": ["/a:/b:xx"]}))).0,
            "volumes"
        );
        assert_eq!(
            invalid_field(base(json!({"ports": ["80:99999"]}))),
            ("ports", "80:99999".into())
        );
        assert_eq!(
            invalid_field(base(json!({"ports": ["80/icmp"]}))).0,
            "ports"
        );
        assert_eq!(
            invalid_field(base(json!({"memLimit": "lots"}))),
            ("memLimit", "lots".into())
        );
        assert_eq!(invalid_field(base(json!({"memLimit": "1k"}))).0, "memLimit");
        assert_eq!(invalid_field(base(json!({"user": "a b"}))).0, "user");
        assert_eq!(
            invalid_field(base(json!({"env": {"A=B": "1"}}))),
            ("env", "A=B".into())
        );
        assert_eq!(invalid_field(base(json!({"env": {"": "1"}}))).0, "env");
        assert_eq!(
            invalid_field(base(json!({"storagePath": "mnt/storage"}))),
            ("storagePath", "mnt/storage".into())
        );
        assert_eq!(
            invalid_field(base(json!({"storagePath": "/mnt/a:/storage"}))).0,
            "storagePath"
        );
    }

    #[test]
    fn storage_path_is_kept_trimmed_and_an_empty_one_is_none() {
        let storage = |value: Value| match ServiceSpec::from_wire(&model(
            json!({"image": "ashtest/ticker:1", "storagePath": value}),
        )) {
            Desired::Run(spec) => spec.storage_path,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            storage(json!(" /mnt/storage ")).as_deref(),
            Some("/mnt/storage")
        );
        assert_eq!(storage(json!("")), None);
        assert_eq!(storage(json!(null)), None);
    }

    #[test]
    fn error_message_names_service_field_and_value() {
        let desired = ServiceSpec::from_wire(&model(json!({"image": "x", "memLimit": "lots"})));
        let Desired::Invalid(error) = desired else {
            panic!()
        };
        let text = error.to_string();
        assert!(
            text.contains("ticker-a") && text.contains("memLimit") && text.contains("lots"),
            "{text}"
        );
    }

    #[test]
    fn accepted_shapes() {
        for image in [
            "busybox",
            "ashtest/ticker:1",
            "registry.example.com:5000/a/b-c_d:v1.2",
            "localhost/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(validate_image(image), Ok(()), "{image}");
        }
        for volume in ["/a:/b", "/a:/b:ro", "named:/b:rw,z"] {
            assert_eq!(validate_volume(volume), Ok(()), "{volume}");
        }
        assert_eq!(
            parse_port("127.0.0.1:8080:80/udp").unwrap().to_string(),
            "127.0.0.1:8080:80/udp"
        );
        assert_eq!(parse_port("80").unwrap().host_port, None);
        assert_eq!(parse_mem_limit("1g"), Ok(1 << 30));
        assert_eq!(parse_mem_limit("512MB"), Ok(512 << 20));
        assert_eq!(parse_mem_limit("1.5g"), Ok(3 << 29));
        for user in ["1000", "1000:1000", "ayon", "ayon:staff"] {
            assert_eq!(validate_user(user), Ok(()), "{user}");
        }
    }

    #[test]
    fn answer_with_a_non_object_and_a_colliding_name() {
        let service = |name: &str| {
            json!({"name": name, "hostname": "h", "addonName": "a", "addonVersion": "1", "service": "s",
                   "shouldRun": true, "isRunning": false, "lastSeen": null, "lastSeenDelta": null,
                   "data": {"image": "busybox"}})
        };
        let (desired, malformed) = read_answer(&[
            service("foo.bar"),
            json!(42),
            service("foo-bar"),
            service("ok"),
        ]);
        assert_eq!(malformed.len(), 1);
        assert!(malformed[0].excerpt.contains("42"));
        let names: Vec<_> = desired.iter().map(|d| d.name()).collect();
        assert_eq!(names, ["foo-bar", "foo.bar", "ok"]);
        assert!(matches!(desired[0], Desired::Run(_)));
        assert!(matches!(&desired[1], Desired::Invalid(e) if e.problem.contains("aysvc_foo_bar")));
        assert!(matches!(desired[2], Desired::Run(_)));
    }

    proptest::proptest! {
        /// Whatever the server sends, validation answers (never panics), and a rejection
        /// names the field and quotes the value.
        #[test]
        fn any_spec_is_accepted_or_rejected_with_its_value(
            image in "\\PC{0,30}",
            volume in "\\PC{0,20}",
            port in "[0-9:./a-z-]{0,16}",
            mem in "[0-9.a-zA-Z]{0,8}",
            user in "\\PC{0,12}",
            key in "\\PC{0,8}",
        ) {
            let data = json!({"image": image, "volumes": [volume], "ports": [port], "memLimit": mem, "user": user, "env": {key: 1}});
            match ServiceSpec::from_wire(&model(data)) {
                Desired::Invalid(error) => {
                    let text = error.to_string();
                    proptest::prop_assert!(text.contains(error.field), "{}", text);
                    proptest::prop_assert!(text.contains(&format!("{:?}", error.value)), "{}", text);
                }
                Desired::Run(spec) => {
                    proptest::prop_assert!(spec.mem_limit.as_ref().is_none_or(|m| m.bytes >= MIN_MEMORY_BYTES));
                    proptest::prop_assert!(spec.ports.iter().all(|p| p.container_port > 0));
                }
                Desired::NoImage { .. } => proptest::prop_assert!(image.trim().is_empty()),
            }
        }
    }
}
