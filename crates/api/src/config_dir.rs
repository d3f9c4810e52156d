//! ashtray's config directory: the control API's token, the key that makes the services'
//! tokens, and the control API's URL for the CLI to find. Secrets are 0600 in a 0700
//! directory, created once and then only read: a running service's token must stay valid
//! across restarts of ashtray.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
// Private modes where the OS has them; on Windows the config dir is under the user's
// profile, whose ACL is the user's alone.
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ashtray_engine::Secret;

pub const ENV: &str = "ASHTRAY_CONFIG_DIR";
const TOKEN: &str = "token";
const SERVICE_KEY: &str = "service-token-key";
const CONTROL_URL: &str = "control-url";

#[derive(Debug, thiserror::Error)]
pub enum ConfigDirError {
    #[error("no home directory for ashtray's config: set {ENV}")]
    NoHome,
    #[error("cannot {action} {path}: {source}; check its permissions or set {ENV} elsewhere")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} is empty or not a token: delete it and start ashtray again to make a new one")]
    Malformed { path: PathBuf },
}

#[derive(Debug, Clone)]
pub struct ConfigDir {
    path: PathBuf,
}

impl ConfigDir {
    /// `$ASHTRAY_CONFIG_DIR`, else the platform's config directory for ashtray.
    pub fn locate(given: Option<&Path>) -> Result<ConfigDir, ConfigDirError> {
        if let Some(path) = given {
            return Ok(ConfigDir::at(path));
        }
        if let Some(path) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
            return Ok(ConfigDir::at(Path::new(&path)));
        }
        directories::ProjectDirs::from("", "", "ashtray")
            .map(|dirs| ConfigDir::at(dirs.config_dir()))
            .ok_or(ConfigDirError::NoHome)
    }

    pub fn at(path: &Path) -> ConfigDir {
        ConfigDir {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn token_path(&self) -> PathBuf {
        self.path.join(TOKEN)
    }

    /// The control API's token, made on first use.
    pub fn control_token(&self) -> Result<Secret, ConfigDirError> {
        self.secret(TOKEN)
    }

    /// The control API's token if one was made, for clients: they never make one.
    pub fn existing_control_token(&self) -> Result<Option<Secret>, ConfigDirError> {
        read_secret(&self.token_path())
    }

    /// The key of the services' tokens, made on first use.
    pub fn service_token_key(&self) -> Result<Secret, ConfigDirError> {
        self.secret(SERVICE_KEY)
    }

    /// Where the running ashtray's control API answers, for the CLI.
    pub fn write_control_url(&self, url: &str) -> Result<(), ConfigDirError> {
        self.create_dir()?;
        let path = self.path.join(CONTROL_URL);
        let temporary = self
            .path
            .join(format!(".{CONTROL_URL}.{}", std::process::id()));
        fs::write(&temporary, format!("{url}\n"))
            .and_then(|()| fs::rename(&temporary, &path))
            .map_err(|source| ConfigDirError::Io {
                action: "write",
                path,
                source,
            })
    }

    pub fn read_control_url(&self) -> Option<String> {
        let text = fs::read_to_string(self.path.join(CONTROL_URL)).ok()?;
        Some(text.trim().to_string()).filter(|url| !url.is_empty())
    }

    fn create_dir(&self) -> Result<(), ConfigDirError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder
            .create(&self.path)
            .map_err(|source| ConfigDirError::Io {
                action: "create",
                path: self.path.clone(),
                source,
            })
    }

    /// Reads the secret `name`, or makes it. Made whole in a private file first and then
    /// linked into place, so two processes starting at once agree on one secret and
    /// neither reads half of it.
    fn secret(&self, name: &str) -> Result<Secret, ConfigDirError> {
        let path = self.path.join(name);
        if let Some(secret) = read_secret(&path)? {
            return Ok(secret);
        }
        self.create_dir()?;
        let secret = ashtray_engine::tokens::random_token();
        let temporary = self
            .path
            .join(format!(".{name}.{}.{}", std::process::id(), rand_suffix()));
        let io = |action, source| ConfigDirError::Io {
            action,
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&temporary).map_err(|e| io("create", e))?;
        file.write_all(secret.expose().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io("write", e))?;
        let linked = fs::hard_link(&temporary, &path);
        let _ = fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(secret),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                read_secret(&path)?.ok_or(ConfigDirError::Malformed { path: path.clone() })
            }
            Err(error) => Err(io("create", error)),
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

fn read_secret(path: &Path) -> Result<Option<Secret>, ConfigDirError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim();
            if text.len() < 32 || !text.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigDirError::Malformed {
                    path: path.to_path_buf(),
                });
            }
            // A copy restored from a backup may have lost its mode: a token stays private.
            #[cfg(unix)]
            if let Ok(meta) = fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
                }
            }
            Ok(Some(Secret::new(text)))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigDirError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = ConfigDir::at(&dir.path().join("nested"));
        let token = config.control_token().unwrap();
        assert_eq!(config.control_token().unwrap(), token);
        assert_ne!(config.service_token_key().unwrap(), token);
        let mode = fs::metadata(config.token_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(config.path()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn a_garbled_token_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("token"), "x").unwrap();
        let error = ConfigDir::at(dir.path())
            .control_token()
            .unwrap_err()
            .to_string();
        assert!(error.contains("delete it"), "{error}");
    }
}
