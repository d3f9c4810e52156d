//! The tray host's log: on stderr for whoever started it, and in a file a day in the log
//! directory (`applog::dir`), the last few days kept, through `tracing-appender`. Service
//! output is not logged here: the window's log pane shows it.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::cli::LogArgs;

/// Days of log kept.
const KEEP_FILES: usize = 5;
/// Lines waiting for the log file's writer thread, at most.
const LOG_QUEUE_LINES: usize = 1024;
/// The file names: `ashtray-host.YYYY-MM-DD.log`.
pub const FILE_PREFIX: &str = "ashtray-host";

/// Installs the log; keep the guard for the life of the process (it flushes the file).
pub fn init(args: &LogArgs) -> anyhow::Result<WorkerGuard> {
    let dir = super::applog::dir()?;
    let filter = |level: &Option<String>| -> anyhow::Result<EnvFilter> {
        let filter = match level {
            Some(level) => EnvFilter::try_new(level).map_err(|e| {
                anyhow::anyhow!("--log-level {level:?} is not a level or filter: {e}")
            })?,
            None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        };
        // The D-Bus and HTTP stacks' chatter is not the artist's business.
        Ok(["zbus=warn", "hyper=warn", "bollard=warn", "reqwest=warn"]
            .iter()
            .fold(filter, |f, d| {
                f.add_directive(d.parse().expect("valid directives"))
            }))
    };
    let file = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(&dir)
        .map_err(|e| anyhow::anyhow!("cannot write the log in {}: {e}", dir.display()))?;
    // tracing-appender's default queue preallocates 128 000 lines, 5 MB resident in a
    // process meant to cost what the daemon costs (measured: 5.6 MB of the tray host's
    // anonymous memory against 0.7 MB for the daemon). A tray host logs a few lines a
    // minute; past this many waiting, lines are dropped rather than the host held up.
    let (file, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(file);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_filter(filter(&args.log_level)?),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(file)
                .with_ansi(false)
                .with_target(false)
                .with_filter(filter(&args.log_level)?),
        )
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the log: {e}"))?;
    Ok(guard)
}
