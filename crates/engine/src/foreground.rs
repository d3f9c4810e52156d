//! One service in the foreground, for an addon developer (`ashtray run-service`): the
//! container a host would make for it ([`ContainerConfig::for_service`], so exactly the
//! environment, ports, volumes and limits a host gives it), its output on the terminal,
//! stopped and removed when asked to or when it exits.
//!
//! Only its name and labels differ from a host's container: it carries none of the
//! labels hosts find their containers by (ash's service labels, `io.ashtray.host`), so
//! no running ashtray or ash adopts, restarts or removes it, and it never collides with
//! a host's container of the same service.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;

use crate::container::{ContainerConfig, HostSettings};
use crate::runtime::{Runtime, RuntimeError};
use crate::spec::ServiceSpec;

/// The label a foreground container carries instead of a host's: the service's name.
pub const LABEL_RUN_SERVICE: &str = "io.ashtray.run_service";

/// The container for `spec` as a host would make it, renamed and relabelled so that no
/// host takes it for one of its own.
pub fn container(spec: &ServiceSpec, host: &HostSettings) -> ContainerConfig {
    let mut config = ContainerConfig::for_service(spec, host);
    config.name = format!("{}_run", config.name);
    config.labels = BTreeMap::from([(LABEL_RUN_SERVICE.to_string(), spec.name.clone())]);
    config
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Stopped on request (Ctrl-C): the container was stopped and removed.
    Stopped,
    /// The service exited by itself with this code; its container was removed.
    Exited(Option<i64>),
}

/// Runs `config` until `stop` resolves or the container exits, printing its output
/// (stdout to stdout, stderr to stderr), then stops and removes it.
pub async fn run(
    runtime: &Runtime,
    config: &ContainerConfig,
    grace: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Ended, RuntimeError> {
    let id = runtime.create_and_start(config).await?;
    // Every line: the container was just started.
    let mut output = runtime
        .follow_output(&id, crate::runtime::OutputFrom::Start)
        .boxed();
    tokio::pin!(stop);
    let ended = loop {
        tokio::select! {
            _ = &mut stop => break Ended::Stopped,
            line = output.next() => match line {
                Some(line) if line.stderr => {
                    let _ = writeln!(std::io::stderr(), "{}", line.text);
                }
                Some(line) => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{}", line.text);
                    let _ = out.flush();
                }
                None => break Ended::Exited(runtime.exit_info(&id).await.ok().map(|e| e.exit_code)),
            },
        }
    };
    runtime.stop_and_remove(&id, grace).await?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::LABEL_HOST;
    use crate::spec::Desired;
    use crate::testing::{desired, host};

    #[test]
    fn a_foreground_container_has_the_hosts_environment_and_none_of_its_labels() {
        let Desired::Run(spec) = desired("ticker-a", "img:1") else {
            panic!()
        };
        let hosted = ContainerConfig::for_service(&spec, &host());
        let mine = container(&spec, &host());
        assert_eq!(mine.env, hosted.env);
        assert_eq!(
            (&mine.image, &mine.binds, &mine.ports),
            (&hosted.image, &hosted.binds, &hosted.ports)
        );
        assert_eq!(mine.hostname, hosted.hostname);
        assert_eq!(mine.name, "aysvc_ticker_a_run");
        assert!(!mine.labels.contains_key(LABEL_HOST));
        assert!(!mine
            .labels
            .contains_key(crate::container::LABEL_SERVICE_NAME));
        assert_eq!(
            mine.labels.get(LABEL_RUN_SERVICE).map(String::as_str),
            Some("ticker-a")
        );
    }
}
