//! Registry credentials for a pull, as the engine's own client keeps them. With Docker:
//! the `auths` of `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`) and the
//! credential helpers and store it names. With Podman: its auth files first, in the order
//! of containers-auth.json(5) (`REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/
//! auth.json` as `podman login` writes it, then `~/.config/containers/auth.json`), then
//! the docker CLI's file, as Podman itself falls back to it. Each file is read through the
//! `docker_credential` crate (maintained, small, the same lookup order as the docker CLI:
//! per-registry helper, identity token, `auth`, username/password, `credsStore`; an
//! auth.json has the same format) rather than by hand; it is asked at each pull, so a
//! `docker login` or `podman login` applies without restarting ashtray.
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
#[error("cannot read the credentials for registry {registry} from the container engine's client configuration ({config}): {why}. Fix it with `{login} {registry}`, or remove the registry's entry to pull without credentials")]
pub struct RegistryAuthError {
    registry: String,
    config: String,
    why: String,
    login: &'static str,
}

/// Whose client configuration holds the pull credentials: the engine's own CLI's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientConfig {
    Docker,
    Podman,
}

impl ClientConfig {
    fn login(self) -> &'static str {
        match self {
            ClientConfig::Docker => "docker login",
            ClientConfig::Podman => "podman login",
        }
    }
}

/// What the lookup reads of the process's environment, as plain values so the order of
/// the files is a pure function of them.
#[derive(Clone, Debug, Default)]
struct Environment {
    docker_config: Option<PathBuf>,
    home: Option<PathBuf>,
    registry_auth_file: Option<PathBuf>,
    xdg_runtime_dir: Option<PathBuf>,
    xdg_config_home: Option<PathBuf>,
    uid: u32,
}

impl Environment {
    fn of_process() -> Environment {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Environment {
            docker_config: var("DOCKER_CONFIG"),
            home: var("HOME"),
            registry_auth_file: var("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            #[cfg(unix)]
            uid: nix::unistd::geteuid().as_raw(),
            #[cfg(not(unix))]
            uid: 0,
        }
    }
}

/// The docker CLI's file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_file(env: &Environment) -> Option<PathBuf> {
    let dir = env
        .docker_config
        .clone()
        .or_else(|| env.home.as_ref().map(|home| home.join(".docker")))?;
    Some(dir.join("config.json"))
}

/// The files to read, in order, until one has credentials for the registry.
fn credential_files(client: ClientConfig, env: &Environment) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if client == ClientConfig::Podman {
        // The explicit override replaces the primary file, which `podman login` writes:
        // under the runtime directory on Linux (root's without one: /run/containers/0).
        let primary = env.registry_auth_file.clone().or_else(|| {
            if cfg!(target_os = "linux") {
                Some(match &env.xdg_runtime_dir {
                    Some(dir) => dir.join("containers/auth.json"),
                    None => PathBuf::from(format!("/run/containers/{}/auth.json", env.uid)),
                })
            } else {
                env.home
                    .as_ref()
                    .map(|h| h.join(".config/containers/auth.json"))
            }
        });
        files.extend(primary);
        let config_home = env
            .xdg_config_home
            .clone()
            .or_else(|| env.home.as_ref().map(|home| home.join(".config")));
        files.extend(config_home.map(|dir| dir.join("containers/auth.json")));
    }
    files.extend(docker_config_file(env));
    files.dedup();
    files
}

/// The keys an image's credentials may be kept under, most specific first: an auth.json
/// may hold a namespace (`registry.lan/team/tool`) as well as a registry; config.json
/// keys are registries only, so there the longer keys simply match nothing.
fn keys_for(image: &str) -> Vec<String> {
    let registry = registry_of(image);
    let mut keys = Vec::new();
    if registry != "docker.io" {
        let repository = image.split(['@']).next().unwrap_or(image);
        let repository = match repository.rsplit_once(':') {
            // A tag, not the registry's port.
            Some((name, tag)) if !tag.contains('/') => name,
            _ => repository,
        };
        let mut path: Vec<&str> = repository.split('/').collect();
        while path.len() > 1 {
            keys.push(path.join("/"));
            path.pop();
        }
    }
    // `podman login docker.io` keeps Docker Hub as `docker.io`; `docker login` as its URL.
    keys.push(registry.to_string());
    keys.push(config_key(registry).to_string());
    keys.dedup();
    keys
}

/// The keys of [`keys_for`] to ask a file, given the keys its `auths` lists: the
/// registry's own key always (the docker CLI's lookup), any other (a namespace, Docker
/// Hub's `docker.io`) only where the file lists it. Asked of a credential store, a key it
/// does not keep is a miss the store reports as a failure, which would end the lookup
/// before the registry's own key was asked.
fn keys_to_ask(image: &str, listed: &[String]) -> Vec<String> {
    let own = config_key(registry_of(image));
    keys_for(image)
        .into_iter()
        .filter(|key| key == own || listed.contains(key))
        .collect()
}

/// The credentials for `image`'s registry, or `None` when none are configured (an
/// anonymous pull). Blocking: it reads files and may run a credential helper.
pub fn for_image(
    image: &str,
    client: ClientConfig,
) -> Result<Option<RegistryAuth>, RegistryAuthError> {
    for_image_in(image, client, &Environment::of_process())
}

fn for_image_in(
    image: &str,
    client: ClientConfig,
    env: &Environment,
) -> Result<Option<RegistryAuth>, RegistryAuthError> {
    let registry = registry_of(image);
    let failed = |path: &std::path::Path, why: String| RegistryAuthError {
        registry: registry.to_string(),
        config: path.display().to_string(),
        why,
        login: client.login(),
    };
    for path in credential_files(client, env) {
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            // No such file: the next one, and none at all is an anonymous pull.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(failed(&path, error.to_string())),
        };
        let listed: Vec<String> = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|config| {
                config["auths"]
                    .as_object()
                    .map(|auths| auths.keys().cloned().collect())
            })
            .unwrap_or_default();
        for key in keys_to_ask(image, &listed) {
            let found = docker_credential::get_credential_from_reader(&text[..], &key);
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
                | Err(CredentialRetrievalError::ConfigNotFound) => continue,
                // A helper's output may hold a secret: only its name is said.
                Err(CredentialRetrievalError::HelperFailure { helper, .. }) => {
                    format!("the credential helper {helper} failed")
                }
                Err(other) => other.to_string(),
            };
            return Err(failed(&path, why));
        }
    }
    Ok(None)
}

/// [`for_image`] off the async threads (a credential helper is a process to wait for).
pub async fn lookup(
    image: &str,
    client: ClientConfig,
) -> Result<Option<RegistryAuth>, RegistryAuthError> {
    let registry = registry_of(image).to_string();
    let image = image.to_string();
    tokio::task::spawn_blocking(move || for_image(&image, client))
        .await
        .unwrap_or_else(|_| {
            Err(RegistryAuthError {
                registry,
                config: credential_files(client, &Environment::of_process())
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                why: "the lookup stopped unexpectedly".to_string(),
                login: client.login(),
            })
        })
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

    fn home(dir: &std::path::Path) -> Environment {
        Environment {
            home: Some(dir.join("home")),
            xdg_runtime_dir: Some(dir.join("run")),
            uid: 1000,
            ..Environment::default()
        }
    }

    fn write_auths(path: &std::path::Path, entries: &[(&str, &str, &str)]) {
        let auths: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(key, user, password)| {
                (
                    key.to_string(),
                    serde_json::json!({"auth": base64_of(&format!("{user}:{password}"))}),
                )
            })
            .collect();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::json!({ "auths": auths }).to_string()).unwrap();
    }

    /// Standard base64, as `docker login` and `podman login` write `auth`.
    fn base64_of(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn user_of(found: Option<RegistryAuth>) -> Option<String> {
        found.and_then(|auth| auth.to_bollard().username)
    }

    #[test]
    fn podman_reads_its_auth_files_in_their_order_then_the_docker_clis() {
        let env = home(std::path::Path::new("/t"));
        assert_eq!(
            credential_files(ClientConfig::Podman, &env),
            [
                PathBuf::from("/t/run/containers/auth.json"),
                PathBuf::from("/t/home/.config/containers/auth.json"),
                PathBuf::from("/t/home/.docker/config.json"),
            ]
        );
        assert_eq!(
            credential_files(ClientConfig::Docker, &env),
            [PathBuf::from("/t/home/.docker/config.json")]
        );
        // REGISTRY_AUTH_FILE replaces the primary file; root without a runtime dir has
        // /run/containers/0; DOCKER_CONFIG moves the docker CLI's file.
        let overridden = Environment {
            registry_auth_file: Some("/etc/studio/auth.json".into()),
            docker_config: Some("/etc/docker-client".into()),
            ..env.clone()
        };
        assert_eq!(
            credential_files(ClientConfig::Podman, &overridden)[0],
            PathBuf::from("/etc/studio/auth.json")
        );
        assert_eq!(
            credential_files(ClientConfig::Podman, &overridden)[2],
            PathBuf::from("/etc/docker-client/config.json")
        );
        if cfg!(target_os = "linux") {
            let root = Environment {
                xdg_runtime_dir: None,
                uid: 0,
                ..env
            };
            assert_eq!(
                credential_files(ClientConfig::Podman, &root)[0],
                PathBuf::from("/run/containers/0/auth.json")
            );
        }
    }

    #[test]
    fn an_image_is_looked_up_by_its_namespaces_then_its_registry() {
        assert_eq!(
            keys_for("registry.lan:5000/team/tool:2"),
            [
                "registry.lan:5000/team/tool",
                "registry.lan:5000/team",
                "registry.lan:5000"
            ]
        );
        assert_eq!(
            keys_for("registry.lan:5000/tool"),
            ["registry.lan:5000/tool", "registry.lan:5000"]
        );
        assert_eq!(
            keys_for("ynput/ayon-ftrack:1.2"),
            ["docker.io", DOCKER_HUB_KEY]
        );
    }

    #[test]
    fn only_the_registrys_own_key_is_asked_unless_the_file_lists_another() {
        let listed = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        // A credential store keeps Docker Hub under its URL: "docker.io" is not asked of
        // it first (its miss would be a failure).
        assert_eq!(keys_to_ask("ynput/ayon-ftrack:1", &[]), [DOCKER_HUB_KEY]);
        assert_eq!(
            keys_to_ask("ynput/ayon-ftrack:1", &listed(&["docker.io"])),
            ["docker.io", DOCKER_HUB_KEY]
        );
        assert_eq!(
            keys_to_ask("registry.lan/team/tool:1", &listed(&["registry.lan/team"])),
            ["registry.lan/team", "registry.lan"]
        );
        assert_eq!(
            keys_to_ask("registry.lan/team/tool:1", &[]),
            ["registry.lan"]
        );
    }

    #[test]
    fn podman_login_wins_over_docker_login_and_a_namespace_over_its_registry() {
        let dir = tempfile::tempdir().unwrap();
        let env = home(dir.path());
        let image = "registry.lan/team/tool:1";
        let user = |image: &str, client| user_of(for_image_in(image, client, &env).unwrap());
        assert!(
            for_image_in(image, ClientConfig::Podman, &env)
                .unwrap()
                .is_none(),
            "no file: anonymous"
        );

        write_auths(
            &dir.path().join("home/.docker/config.json"),
            &[("registry.lan", "docker-user", "a")],
        );
        assert_eq!(
            user(image, ClientConfig::Podman).as_deref(),
            Some("docker-user")
        );

        write_auths(
            &dir.path().join("run/containers/auth.json"),
            &[("registry.lan", "podman-user", "b")],
        );
        assert_eq!(
            user(image, ClientConfig::Podman).as_deref(),
            Some("podman-user")
        );
        assert_eq!(
            user(image, ClientConfig::Docker).as_deref(),
            Some("docker-user"),
            "Docker never reads Podman's files"
        );

        write_auths(
            &dir.path().join("run/containers/auth.json"),
            &[
                ("registry.lan", "podman-user", "b"),
                ("registry.lan/team", "team-user", "c"),
            ],
        );
        assert_eq!(
            user(image, ClientConfig::Podman).as_deref(),
            Some("team-user")
        );
        assert_eq!(
            user("registry.lan/other:1", ClientConfig::Podman).as_deref(),
            Some("podman-user")
        );
    }

    #[test]
    fn a_broken_file_is_named_with_the_login_that_fixes_it() {
        let dir = tempfile::tempdir().unwrap();
        let env = home(dir.path());
        let file = dir.path().join("run/containers/auth.json");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "{ not json").unwrap();
        let error = for_image_in("registry.lan/tool:1", ClientConfig::Podman, &env)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&file.display().to_string()), "{error}");
        assert!(error.contains("podman login registry.lan"), "{error}");
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
