//! Registry credentials for a pull, as the engine's own client keeps them: the `auths` of
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`) and the credential helpers
//! and store it names. Read through the `docker_credential` crate (maintained, small, the
//! same lookup order as the docker CLI: per-registry helper, identity token, `auth`,
//! username/password, `credsStore`) rather than by hand; it is asked at each pull, so a
//! `docker login` applies without restarting ashtray.
//!
//! The credentials never leave [`RegistryAuth`] but to the engine: its `Debug` shows the
//! registry only, and a helper's failure is reported without its output.

use bollard::auth::DockerCredentials;
use std::path::PathBuf;

use docker_credential::{CredentialRetrievalError, DockerCredential};

/// Docker Hub's key in `config.json`, as `docker login` writes it.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The registry an image reference names: its first path component when that looks like a
/// host (a dot, a port, or `localhost`), else Docker Hub, as the docker CLI reads it.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// The key a registry's credentials are kept under in `config.json`.
fn config_key(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY,
        other => other,
    }
}

/// One registry's credentials, for one pull.
#[derive(Clone)]
pub struct RegistryAuth {
    registry: String,
    credential: Credential,
}

#[derive(Clone)]
enum Credential {
    Password { username: String, password: String },
    IdentityToken(String),
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryAuth({}, <redacted>)", self.registry)
    }
}

impl RegistryAuth {
    pub fn password(registry: &str, username: &str, password: &str) -> RegistryAuth {
        RegistryAuth {
            registry: registry.to_string(),
            credential: Credential::Password {
                username: username.to_string(),
                password: password.to_string(),
            },
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub(super) fn to_bollard(&self) -> DockerCredentials {
        let serveraddress = Some(self.registry.clone());
        match &self.credential {
            Credential::Password { username, password } => DockerCredentials {
                username: Some(username.clone()),
                password: Some(password.clone()),
                serveraddress,
                ..Default::default()
            },
            Credential::IdentityToken(token) => DockerCredentials {
                identitytoken: Some(token.clone()),
                serveraddress,
                ..Default::default()
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read the credentials for registry {registry} from the container engine's client configuration ({config}): {why}. Fix it with `docker login {registry}`, or remove the registry's entry to pull without credentials")]
pub struct RegistryAuthError {
    registry: String,
    config: String,
    why: String,
}

/// The credentials for `image`'s registry, or `None` when none are configured (an
/// anonymous pull). Blocking: it reads a file and may run a credential helper.
pub fn for_image(image: &str) -> Result<Option<RegistryAuth>, RegistryAuthError> {
    let registry = registry_of(image);
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        // No client configuration: no credentials, an anonymous pull.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(RegistryAuthError {
                registry: registry.to_string(),
                config: path.display().to_string(),
                why: error.to_string(),
            })
        }
    };
    let found = docker_credential::get_credential_from_reader(
        std::io::BufReader::new(file),
        config_key(registry),
    );
    let why = match found {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            return Ok(Some(RegistryAuth::password(registry, &username, &password)))
        }
        Ok(DockerCredential::IdentityToken(token)) => {
            return Ok(Some(RegistryAuth {
                registry: registry.to_string(),
                credential: Credential::IdentityToken(token),
            }))
        }
        Err(CredentialRetrievalError::NoCredentialConfigured)
        | Err(CredentialRetrievalError::ConfigNotFound) => return Ok(None),
        // A helper's output may hold a secret: only its name is said.
        Err(CredentialRetrievalError::HelperFailure { helper, .. }) => {
            format!("the credential helper {helper} failed")
        }
        Err(other) => other.to_string(),
    };
    Err(RegistryAuthError {
        registry: registry.to_string(),
        config: path.display().to_string(),
        why,
    })
}

/// [`for_image`] off the async threads (a credential helper is a process to wait for).
pub async fn lookup(image: &str) -> Result<Option<RegistryAuth>, RegistryAuthError> {
    let registry = registry_of(image).to_string();
    let image = image.to_string();
    tokio::task::spawn_blocking(move || for_image(&image))
        .await
        .unwrap_or_else(|_| {
            Err(RegistryAuthError {
                registry,
                config: shown_config_path(),
                why: "the lookup stopped unexpectedly".to_string(),
            })
        })
}

/// Where the docker CLI keeps its configuration: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
fn config_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))?;
    Some(dir.join("config.json"))
}

fn shown_config_path() -> String {
    config_path().map_or_else(
        || "~/.docker/config.json".to_string(),
        |p| p.display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_first_component_when_it_names_a_host() {
        assert_eq!(
            registry_of("127.0.0.1:5000/tools/probe:1"),
            "127.0.0.1:5000"
        );
        assert_eq!(
            registry_of("registry.studio.lan/ayon/ftrack:2"),
            "registry.studio.lan"
        );
        assert_eq!(registry_of("localhost/probe"), "localhost");
        assert_eq!(registry_of("ynput/ayon-ftrack:1.2"), "docker.io");
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let auth = RegistryAuth::password("registry.lan", "pipeline", "hunter2");
        let shown = format!("{auth:?}");
        assert!(
            shown.contains("registry.lan")
                && !shown.contains("hunter2")
                && !shown.contains("pipeline")
        );
        let bollard = auth.to_bollard();
        assert_eq!(bollard.password.as_deref(), Some("hunter2"));
        assert_eq!(bollard.serveraddress.as_deref(), Some("registry.lan"));
    }
}
