//! The local services file (`--services FILE`): services declared on this machine, with
//! the server's own fields, for a host without an AYON server, a first run, or an addon
//! developer. Reading it is pure: text in, the services' [`Desired`] out (through the same
//! validation as the server's answer, [`ServiceSpec::from_wire`]), or an error that names
//! the line and the field. Watching the file is the host loop's (`host_loop/local_source.rs`).
//!
//! The format (TOML, keys as the server's wire names, camelCase):
//!
//! ```toml
//! [[services]]
//! name = "hello"            # required
//! image = "busybox:stable"  # required to run; without one it is skipped, as on the server
//! addonName = "demo"        # default "local"
//! addonVersion = "1.0.0"    # default "0.0.0"
//! service = "hello"         # default: the name
//! env = { GREETING = "hi" }
//! volumes = ["/data:/data"]
//! ports = ["8080:80"]
//! memLimit = "256m"
//! user = "1000"
//! storagePath = "/data"     # accepted, unused (as on the server)
//! shouldRun = true          # default true; false declares it without running it
//! command = ["sh", "-c", "echo hi; sleep 1d"]  # local only: the server has no such field
//! ```

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ayon::wire::{ServiceData, ServiceModel};
use crate::spec::{refuse_name_clashes, Desired, ServiceSpec, SpecError};

/// Where the services file comes from when `--services` is not given.
pub const ENV: &str = "ASHTRAY_SERVICES";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    services: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    name: String,
    addon_name: Option<String>,
    addon_version: Option<String>,
    service: Option<String>,
    image: Option<String>,
    env: Option<Map<String, Value>>,
    volumes: Option<Vec<String>>,
    ports: Option<Vec<String>>,
    mem_limit: Option<String>,
    user: Option<String>,
    storage_path: Option<String>,
    should_run: Option<bool>,
    command: Option<Vec<String>>,
}

/// Why the file cannot be used; the message names the file, the line and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the local services file {path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct LocalFileError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Reads the file's text into the services it declares with `shouldRun` true, each
/// validated on its own (a bad one is `Desired::Invalid`, the others run).
pub fn parse(text: &str, path: &Path, hostname: &str) -> Result<Vec<Desired>, LocalFileError> {
    let file: File = toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        // toml names an unknown or missing field itself; a wrong value it does not, so
        // the key of the line the error points at is added.
        let key = line
            .and_then(|l| text.lines().nth(l - 1))
            .and_then(|l| l.split_once('='))
            .map(|(key, _)| key.trim().trim_matches('"'))
            .filter(|key| !key.is_empty() && !key.starts_with('['));
        let message = error.message().trim().to_string();
        LocalFileError {
            path: path.display().to_string(),
            line,
            message: match key {
                Some(key) if !message.contains(key) => format!("{key}: {message}"),
                _ => message,
            },
        }
    })?;
    let mut desired: Vec<Desired> = file
        .services
        .into_iter()
        .filter(|entry| entry.should_run.unwrap_or(true))
        .map(|entry| read_entry(entry, hostname))
        .collect();
    refuse_name_clashes(
        &mut desired,
        &format!("the local services file {}", path.display()),
    );
    Ok(desired)
}

fn read_entry(entry: Entry, hostname: &str) -> Desired {
    let model = ServiceModel {
        service: entry.service.unwrap_or_else(|| entry.name.clone()),
        name: entry.name,
        hostname: hostname.to_string(),
        addon_name: entry.addon_name.unwrap_or_else(|| "local".into()),
        addon_version: entry.addon_version.unwrap_or_else(|| "0.0.0".into()),
        should_run: true,
        is_running: false,
        last_seen: None,
        last_seen_delta: None,
        data: ServiceData {
            image: entry.image,
            volumes: entry.volumes,
            ports: entry.ports,
            mem_limit: entry.mem_limit,
            user: entry.user,
            env: entry.env,
            storage_path: entry.storage_path,
        },
    };
    let mut desired = ServiceSpec::from_wire(&model);
    if let (Desired::Run(spec), Some(command)) = (&mut desired, entry.command) {
        if let Err(problem) = validate_command(&command) {
            return Desired::Invalid(SpecError {
                service: model.name,
                field: "command",
                value: format!("{command:?}"),
                problem: problem.into(),
            });
        }
        spec.command = Some(command);
    }
    desired
}

fn validate_command(command: &[String]) -> Result<(), &'static str> {
    if command.is_empty() {
        return Err("is empty: leave it out to run the image's own command");
    }
    if command.iter().any(|part| part.contains('\0')) {
        return Err("contains a NUL byte");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Desired>, LocalFileError> {
        parse(text, Path::new("/etc/s.toml"), "h")
    }

    #[test]
    fn a_service_gets_the_servers_fields_and_the_defaults() {
        let items = read(
            r#"
[[services]]
name = "hello"
image = "busybox:stable"
env = { GREETING = "hi", N = 2 }
ports = ["8080:80"]
memLimit = "64m"
command = ["sh", "-c", "echo hi"]

[[services]]
name = "off"
image = "busybox:stable"
shouldRun = false
"#,
        )
        .unwrap();
        assert_eq!(items.len(), 1, "shouldRun false is not wanted: {items:?}");
        let Desired::Run(spec) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(spec.name, "hello");
        assert_eq!(
            (
                spec.addon_name.as_str(),
                spec.addon_version.as_str(),
                spec.service.as_str()
            ),
            ("local", "0.0.0", "hello")
        );
        assert_eq!(
            spec.env,
            [("GREETING".into(), "hi".into()), ("N".into(), "2".into())]
        );
        assert_eq!(spec.mem_limit.as_ref().map(|m| m.bytes), Some(64 << 20));
        assert_eq!(
            spec.command.as_deref(),
            Some(&["sh".to_string(), "-c".into(), "echo hi".into()][..])
        );
    }

    #[test]
    fn a_file_that_does_not_parse_names_the_line_and_the_field() {
        let typo = read("[[services]]\nname = \"a\"\nimgae = \"x\"\n").unwrap_err();
        assert_eq!(typo.line, Some(3), "{typo}");
        assert!(typo.to_string().contains("imgae"), "{typo}");
        assert!(typo.to_string().contains("/etc/s.toml, line 3"), "{typo}");

        let wrong_type = read("[[services]]\nname = \"a\"\nmemLimit = 5\n").unwrap_err();
        assert_eq!(wrong_type.line, Some(3), "{wrong_type}");
        assert!(wrong_type.message.contains("memLimit"), "{wrong_type}");

        let missing = read("[[services]]\nimage = \"x\"\n").unwrap_err();
        assert!(missing.message.contains("name"), "{missing}");

        let syntax = read("[[services]]\nname = \"a\n").unwrap_err();
        assert_eq!(syntax.line, Some(2), "{syntax}");
    }

    #[test]
    fn a_bad_service_is_refused_alone_with_the_servers_messages() {
        let items = read(
            "[[services]]\nname = \"a\"\nimage = \"busybox\"\nmemLimit = \"lots\"\n\
             [[services]]\nname = \"b\"\nimage = \"busybox\"\n\
             [[services]]\nname = \"b\"\nimage = \"busybox\"\n\
             [[services]]\nname = \"c\"\nimage = \"busybox\"\ncommand = []\n",
        )
        .unwrap();
        let invalid: Vec<String> = items
            .iter()
            .filter_map(|d| match d {
                Desired::Invalid(e) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(invalid.len(), 3, "{items:?}");
        assert!(invalid[0].contains("memLimit \"lots\""), "{invalid:?}");
        assert!(
            invalid[1].contains("appears twice in the local services file /etc/s.toml"),
            "{invalid:?}"
        );
        assert!(invalid[2].contains("command"), "{invalid:?}");
        assert!(matches!(&items[1], Desired::Run(spec) if spec.name == "b"));
    }

    #[test]
    fn the_example_file_declares_one_valid_demo_service() {
        let text = include_str!("../../../examples/services.toml");
        let items = read(text).unwrap();
        assert!(
            matches!(&items[..], [Desired::Run(spec)] if spec.image == "busybox:stable" && spec.command.is_some()),
            "{items:?}"
        );
    }

    #[test]
    fn an_empty_file_declares_nothing() {
        assert!(read("").unwrap().is_empty());
    }
}
