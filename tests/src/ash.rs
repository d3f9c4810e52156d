//! Containers started exactly as ynput's ash 0.4.0 starts them (`services.py`): named and
//! hostnamed by the slug of `aysvc_<service>`, auto-removed, ash's four labels and no
//! host label, ash's environment then the spec's. For the tests of a host that shares
//! its engine with ash, or takes over from it.

use crate::fake_ayon::FakeAyon;
use crate::images::docker_cli;
use crate::world::slug;

/// What ash knows of a service when it starts it.
pub struct AshService<'a> {
    pub name: &'a str,
    pub addon_name: &'a str,
    pub addon_version: &'a str,
    pub service: &'a str,
    pub image: &'a str,
    pub env: &'a [(&'a str, &'a str)],
}

/// Starts the container (`docker run -d --rm ...`) and gives its id.
pub fn run_like_ash(fake: &FakeAyon, service: &AshService<'_>) -> String {
    let slug = slug(service.name);
    let mut command = docker_cli();
    command
        .args(["run", "-d", "--rm", "--name", &slug, "--hostname", &slug])
        .args([
            "--label",
            &format!("io.ayon.service.service_name={}", service.name),
        ])
        .args([
            "--label",
            &format!("io.ayon.service.service={}", service.service),
        ])
        .args([
            "--label",
            &format!("io.ayon.service.addon_name={}", service.addon_name),
        ])
        .args([
            "--label",
            &format!("io.ayon.service.addon_version={}", service.addon_version),
        ])
        .args(["-e", &format!("AYON_SERVER_URL={}", fake.url())])
        .args(["-e", &format!("AYON_API_KEY={}", fake.service_key())])
        .args(["-e", &format!("AYON_ADDON_NAME={}", service.addon_name)])
        .args([
            "-e",
            &format!("AYON_ADDON_VERSION={}", service.addon_version),
        ])
        .args(["-e", &format!("AYON_SERVICE_NAME={}", service.name)]);
    for (key, value) in service.env {
        command.args(["-e", &format!("{key}={value}")]);
    }
    let output = command
        .arg(service.image)
        .output()
        .expect("running docker run");
    assert!(
        output.status.success(),
        "docker run of {} as ash would: {}",
        service.name,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("docker run prints the id")
        .trim()
        .to_string()
}
