//! Runs the fake AYON server on its own, for trying ashtray (or ash) by hand or from
//! another process. Prints one line with everything a client needs, then serves
//! until killed:
//!
//! ```text
//! url=http://127.0.0.1:PORT key=KEY admin_token=TOKEN
//! ```

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{anyhow, Context};
use ashtray_tests::fake_ayon::FakeAyon;
use clap::Parser;

#[derive(Parser)]
#[command(about = "A fake AYON server (ayon-backend 1.16.0 wire format) for ashtray's tests")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// API key of the service user: 32 characters of [A-Za-z0-9]. Random by default.
    #[arg(long)]
    key: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeAyon::try_start(args.listen, args.key.as_deref())
        .await
        .map_err(|e| anyhow!("cannot start the fake AYON server: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "url={} key={} admin_token={}",
        fake.url(),
        fake.service_key(),
        fake.admin_token()
    )?;
    // Whoever started us reads this line to know where to connect.
    out.flush()?;
    drop(out);
    // Serve until killed; on Ctrl-C leave cleanly.
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
