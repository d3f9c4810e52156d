//! This host's CPU limits and GPU requests, per service by name pattern: settings of
//! the host, since the server's spec has no field for either. Pure parsing and
//! matching; what they do to a container is `container.rs`'s business.
//!
//! One setting is a list of entries: a value alone is the default, `PATTERN=VALUE` gives
//! the services whose name matches the glob `PATTERN` (`*`, `?`, `[..]`, the `glob`
//! crate's syntax) their own. The first pattern that matches wins, else the default.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("{setting}: {entry:?} is not a valid pattern: {reason}")]
    Pattern {
        setting: &'static str,
        entry: String,
        reason: String,
    },
    #[error("{setting}: {entry:?}: {reason}")]
    Value {
        setting: &'static str,
        entry: String,
        reason: String,
    },
}

/// A value for every service, or per service by name pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct ByService<T> {
    default: Option<T>,
    rules: Vec<(glob::Pattern, T)>,
}

impl<T> Default for ByService<T> {
    fn default() -> Self {
        ByService {
            default: None,
            rules: Vec::new(),
        }
    }
}

impl<T: FromStr<Err = String> + Clone> ByService<T> {
    /// Reads the entries of `setting` (its name, for the error). An entry that reads as a
    /// value alone is the default (so `device=0,1` is a GPU value, not a pattern).
    pub fn parse(setting: &'static str, entries: &[String]) -> Result<Self, LimitError> {
        let mut by_service = ByService::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if let Ok(value) = entry.parse::<T>() {
                by_service.default = Some(value);
                continue;
            }
            let Some((pattern, value)) = entry.split_once('=') else {
                let reason = entry.parse::<T>().err().unwrap_or_default();
                return Err(LimitError::Value {
                    setting,
                    entry: entry.to_string(),
                    reason,
                });
            };
            let pattern = glob::Pattern::new(pattern.trim()).map_err(|e| LimitError::Pattern {
                setting,
                entry: entry.to_string(),
                reason: e.to_string(),
            })?;
            let value = value
                .trim()
                .parse::<T>()
                .map_err(|reason| LimitError::Value {
                    setting,
                    entry: entry.to_string(),
                    reason,
                })?;
            by_service.rules.push((pattern, value));
        }
        Ok(by_service)
    }

    /// The value for `service`: the first matching pattern's, else the default.
    pub fn for_service(&self, service: &str) -> Option<T> {
        self.rules
            .iter()
            .find(|(pattern, _)| pattern.matches(service))
            .map(|(_, value)| value.clone())
            .or_else(|| self.default.clone())
    }
}

/// A CPU limit in CPUs (`0.5`, `2`); `0` means none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cpus(pub f64);

impl Cpus {
    /// As Docker's `NanoCpus`; `None` for no limit.
    pub fn nano_cpus(self) -> Option<i64> {
        (self.0 > 0.0).then(|| (self.0 * 1e9).round() as i64)
    }
}

impl FromStr for Cpus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().parse::<f64>() {
            Ok(cpus) if cpus.is_finite() && cpus >= 0.0 => Ok(Cpus(cpus)),
            _ => Err(format!(
                "{text:?} is not a number of CPUs like 2 or 0.5 (0 for no limit)"
            )),
        }
    }
}

/// GPUs a service's container asks the engine for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gpus {
    All,
    /// This many; `0` asks for none.
    Count(u32),
    /// These device ids or UUIDs (`device=0,2`).
    Devices(Vec<String>),
}

impl Gpus {
    /// Whether it asks for any GPU at all.
    pub fn any(&self) -> bool {
        !matches!(self, Gpus::Count(0))
    }
}

impl FromStr for Gpus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "all" {
            return Ok(Gpus::All);
        }
        if let Ok(count) = text.parse::<u32>() {
            return Ok(Gpus::Count(count));
        }
        if let Some(ids) = text.strip_prefix("device=") {
            let ids: Vec<String> = ids
                .split(',')
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty())
                .collect();
            if !ids.is_empty() {
                return Ok(Gpus::Devices(ids));
            }
        }
        Err(format!(
            "{text:?} is not `all`, a count like 2, or device ids like device=0,2"
        ))
    }
}

impl fmt::Display for Gpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gpus::All => f.write_str("all"),
            Gpus::Count(count) => write!(f, "{count}"),
            Gpus::Devices(ids) => write!(f, "device={}", ids.join(",")),
        }
    }
}

/// This host's CPU and GPU settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostLimits {
    pub cpus: ByService<Cpus>,
    pub gpus: ByService<Gpus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Vec<String> {
        list.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_pattern_wins_over_the_default_and_the_first_pattern_wins() {
        let cpus = ByService::<Cpus>::parse(
            "--cpus",
            &entries(&["2", "ftrack-*=0.5", "ftrack-big=4", "light-?=0"]),
        )
        .unwrap();
        let nano = |name| cpus.for_service(name).and_then(Cpus::nano_cpus);
        assert_eq!(nano("kitsu"), Some(2_000_000_000));
        assert_eq!(nano("ftrack-big"), Some(500_000_000));
        assert_eq!(nano("light-1"), None, "0 is no limit");
        assert_eq!(
            ByService::<Cpus>::parse("--cpus", &[])
                .unwrap()
                .for_service("a"),
            None
        );
    }

    #[test]
    fn gpus_are_all_a_count_or_device_ids() {
        let gpus = ByService::<Gpus>::parse(
            "--gpus",
            &entries(&["device=0,2", "transcode-*=all", "ml-*=2", "cpu-only=0"]),
        )
        .unwrap();
        assert_eq!(
            gpus.for_service("other"),
            Some(Gpus::Devices(vec!["0".into(), "2".into()]))
        );
        assert_eq!(gpus.for_service("transcode-a"), Some(Gpus::All));
        assert_eq!(gpus.for_service("ml-x"), Some(Gpus::Count(2)));
        assert!(!gpus.for_service("cpu-only").unwrap().any());
    }

    #[test]
    fn a_bad_entry_is_named_with_what_was_expected() {
        let error = ByService::<Cpus>::parse("--cpus", &entries(&["ftrack-*=lots"])).unwrap_err();
        assert!(error.to_string().contains("ftrack-*=lots"), "{error}");
        assert!(error.to_string().contains("number of CPUs"), "{error}");
        let error = ByService::<Gpus>::parse("--gpus", &entries(&["some"])).unwrap_err();
        assert!(error.to_string().contains("device ids"), "{error}");
        let error = ByService::<Cpus>::parse("--cpus", &entries(&["[=1"])).unwrap_err();
        assert!(matches!(error, LimitError::Pattern { .. }), "{error}");
    }
}
