//! `ashtray images import FILE` and `ashtray images export -o FILE`: image archives for
//! hosts that reach no registry. Both talk to the container engine ashtray would use
//! (DOCKER_HOST / CONTAINER_HOST, --use-podman); `export` asks the running ashtray which
//! images its services use, so the archive holds exactly what that host needs.

use anyhow::Context;
use ashtray_engine::runtime::{Endpoint, Runtime};

use crate::cli::{ApiArgs, HostArgs, ImagesCommand};

pub fn run(command: ImagesCommand, host: &HostArgs, api: &ApiArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let docker_host = host
            .docker_host
            .clone()
            .or_else(|| std::env::var("CONTAINER_HOST").ok());
        let endpoint = Endpoint::resolve(docker_host.as_deref(), host.use_podman);
        match command {
            ImagesCommand::Import { file } => {
                let engine = Runtime::connect(&endpoint).await?;
                let loaded = engine.import_archive(&file).await?;
                if api.json {
                    println!("{}", serde_json::json!({"file": file, "loaded": loaded}));
                } else if loaded.is_empty() {
                    println!("loaded {} (the engine named no image)", file.display());
                } else {
                    println!("loaded {}: {}", file.display(), loaded.join(", "));
                }
                Ok(())
            }
            ImagesCommand::Export { output } => {
                let (base, images) = crate::client::service_images(api).await.context(
                    "`ashtray images export` asks the running ashtray which images its services use",
                )?;
                if images.is_empty() {
                    anyhow::bail!(
                        "the ashtray at {base} has no service with an image: nothing to export to {}",
                        output.display()
                    );
                }
                let engine = Runtime::connect(&endpoint).await?;
                engine.export_archive(&images, &output).await?;
                if api.json {
                    println!("{}", serde_json::json!({"file": output, "images": images}));
                } else {
                    println!(
                        "wrote {}: {} image(s): {}",
                        output.display(),
                        images.len(),
                        images.join(", ")
                    );
                }
                Ok(())
            }
        }
    })
}
