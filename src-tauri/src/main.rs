//! ashtray: the tray app (default: the tray host; `ashtray window` its window) or
//! `--daemon`, and the CLI.

mod cli;
mod client;
mod daemon;
#[cfg(feature = "tray")]
mod gui;
mod host;
mod images;
mod logging;
mod run_service;
mod settings;
mod signals;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // `.env` first, without overriding the environment: flags > env > .env.
    let _ = dotenvy::dotenv();
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ashtray: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    if let Some(cli::Command::RunService {
        target,
        from_server,
    }) = cli.command
    {
        let what = match (target, from_server) {
            (_, Some(name)) => run_service::Target::Server(name),
            (Some(target), None) => run_service::Target::Local(target),
            (None, None) => anyhow::bail!("name a service, or a services file, to run"),
        };
        return run_service::run(what, &cli.host, &cli.api);
    }
    if let Some(cli::Command::Window { settings }) = cli.command {
        #[cfg(feature = "gui")]
        return gui::run_window(cli.host, cli.api, cli.logging, settings);
        // The tray host's build without GTK: the window is the GUI build's.
        #[cfg(all(feature = "tray", not(feature = "gui")))]
        {
            use std::os::unix::process::CommandExt as _;
            let _ = settings;
            let window = gui::window_binary()?;
            let error = std::process::Command::new(&window)
                .args(std::env::args_os().skip(1))
                .exec();
            anyhow::bail!("cannot start the window ({}): {error}", window.display());
        }
        #[cfg(not(feature = "tray"))]
        {
            let _ = settings;
            anyhow::bail!("this build has no window (built without the `gui` feature)");
        }
    }
    if let Some(cli::Command::Images { action }) = cli.command {
        return images::run(action, &cli.host, &cli.api);
    }
    if let Some(command) = cli.command {
        return client::run(command, &cli.api);
    }
    if !cli.daemon {
        #[cfg(feature = "tray")]
        return gui::run_tray_host(
            cli.host,
            cli.api,
            cli.logging,
            gui::Launch {
                hidden: cli.hidden,
                for_window: cli.for_window,
            },
        );
        #[cfg(not(feature = "tray"))]
        {
            let _ = (cli.hidden, cli.for_window);
            anyhow::bail!(
                "this is the headless build (without the `gui` feature), which has no tray window: run `ashtray --daemon`"
            );
        }
    }
    logging::init(&cli.logging)?;
    let config = settings::engine_config(&cli.host)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let api = host::ApiOptions::from_args(&cli.api)?;
    runtime.block_on(daemon::run(config, api))
}
