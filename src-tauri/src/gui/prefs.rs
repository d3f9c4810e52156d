//! The tray app's own settings: everything but the API key, as JSON in ashtray's config
//! directory (`ASHTRAY_CONFIG_DIR` overrides it). The key never comes here: it lives in
//! the OS keyring (see `api_key`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FILE: &str = "settings.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub server_url: Option<String>,
    /// `None`: the machine's host name.
    pub hostname: Option<String>,
    pub poll_interval_secs: Option<f64>,
    /// `None`: Docker's default socket (or DOCKER_HOST).
    pub engine_socket: Option<String>,
    /// The local services file (as `--services`): services to run besides the server's,
    /// or without one.
    pub services_file: Option<String>,
    pub start_at_login: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PrefsError {
    #[error("cannot read the settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the settings file {path} is not valid ({source}): fix or delete it")]
    Malformed {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the settings file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Prefs {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join(FILE)
    }

    /// The saved settings; the defaults when there is no file yet (first run).
    pub fn load(config_dir: &Path) -> Result<Prefs, PrefsError> {
        let path = Prefs::path(config_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|source| PrefsError::Malformed { path, source })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Prefs::default()),
            Err(source) => Err(PrefsError::Read { path, source }),
        }
    }

    /// Written whole to a temporary file, then renamed: a crash never leaves half a file.
    pub fn save(&self, config_dir: &Path) -> Result<(), PrefsError> {
        let path = Prefs::path(config_dir);
        let write = |source| PrefsError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(config_dir).map_err(write)?;
        let temporary = config_dir.join(format!(".{FILE}.{}", std::process::id()));
        let text = serde_json::to_string_pretty(self).expect("settings always serialise");
        std::fs::write(&temporary, text).map_err(write)?;
        std::fs::rename(&temporary, &path).map_err(write)
    }

    /// The local services file, if one is set.
    pub fn services_file(&self) -> Option<&str> {
        self.services_file
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
    }

    /// Checks what a person typed, with a message that says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        let url = self
            .server_url
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        let services = self.services_file().is_some();
        if url.is_empty() && !services {
            return Err("Enter the AYON server's URL, e.g. https://ayon.studio.lan (or a local services file to run without a server)".into());
        }
        if let Some(file) = self.services_file() {
            if !std::path::Path::new(file).is_file() {
                return Err(format!("The local services file {file:?} does not exist: give the full path of a TOML file like examples/services.toml"));
            }
        }
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "The server URL {url:?} must start with http:// or https://"
            ));
        }
        if let Some(seconds) = self.poll_interval_secs {
            if !(0.5..=600.0).contains(&seconds) {
                return Err(format!(
                    "The poll interval must be between 0.5 and 600 seconds, not {seconds}"
                ));
            }
        }
        if let Some(socket) = self.engine_socket.as_deref() {
            if !["unix://", "tcp://", "http://", "https://", "npipe://"]
                .iter()
                .any(|p| socket.starts_with(p))
            {
                return Err(format!("The engine socket {socket:?} must be an address like unix:///var/run/docker.sock"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_a_first_run_and_a_saved_one_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Prefs::load(dir.path()).unwrap(), Prefs::default());
        let prefs = Prefs {
            server_url: Some("https://ayon.lan".into()),
            poll_interval_secs: Some(5.0),
            start_at_login: true,
            ..Prefs::default()
        };
        prefs.save(dir.path()).unwrap();
        assert_eq!(Prefs::load(dir.path()).unwrap(), prefs);
    }

    #[test]
    fn validation_names_what_to_fix() {
        let mut prefs = Prefs::default();
        assert!(prefs.validate().unwrap_err().contains("URL"));
        prefs.server_url = Some("ayon.lan".into());
        assert!(prefs.validate().unwrap_err().contains("http://"));
        prefs.server_url = Some("http://ayon.lan".into());
        prefs.poll_interval_secs = Some(0.0);
        assert!(prefs.validate().unwrap_err().contains("poll interval"));
        prefs.poll_interval_secs = Some(2.0);
        prefs.engine_socket = Some("/var/run/docker.sock".into());
        assert!(prefs.validate().unwrap_err().contains("unix://"));
        prefs.engine_socket = None;
        assert!(prefs.validate().is_ok());
        // A local services file alone is enough, if it exists.
        let file = tempfile::NamedTempFile::new().unwrap();
        let local = Prefs {
            services_file: Some(file.path().display().to_string()),
            ..Prefs::default()
        };
        assert!(local.validate().is_ok());
        let missing = Prefs {
            services_file: Some("/nowhere/services.toml".into()),
            ..Prefs::default()
        };
        assert!(missing.validate().unwrap_err().contains("does not exist"));
    }
}
