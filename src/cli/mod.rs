//! Command-line surface: one subcommand per job, each a thin call into a crate.

mod demo;
mod gen_cmd;
mod import;
mod slo;
mod sql;

use clap::{Parser, Subcommand};
use toolpulse_serve::{Config, ConfigOverrides, Server};

#[derive(Parser)]
#[command(name = "toolpulse", version, about = "Observability and SLO analytics for fleets of MCP servers")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP (and optionally Kafka) ingest into the Parquet store, and the APIs.
    Serve(ConfigOverrides),
    /// Run the server with a generated fleet sending it live traffic (no Kafka needed).
    Demo(demo::DemoArgs),
    /// Generate realistic tool-call events to NDJSON, Kafka or HTTP.
    Gen(gen_cmd::GenArgs),
    /// Run read-only SQL against the data dir or a running server.
    Sql(sql::SqlArgs),
    /// Import an NDJSON file into the store (bad lines go to dead_letters).
    Import(import::ImportArgs),
    /// Work with SLO specs.
    Slo(slo::SloArgs),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(flags) => {
                let cfg = Config::load(&flags)?;
                let server = Server::start(cfg).await?;
                announce(&server);
                server.run_until_signal().await
            }
            Command::Demo(args) => demo::run(args).await,
            Command::Gen(args) => gen_cmd::run(args).await,
            Command::Import(args) => import::run(args).await,
            Command::Sql(args) => sql::run(args).await,
            Command::Slo(args) => slo::run(args),
        }
    }
}

/// Tells the operator where the server is and, once, a newly generated token.
fn announce(server: &toolpulse_serve::RunningServer) {
    use toolpulse_serve::auth::TokenSource;
    eprintln!("toolpulse listening on http://{}", server.addr);
    match server.token_source {
        TokenSource::Generated => eprintln!("generated API token (kept in the data dir, shown once): {}", server.token.as_str()),
        TokenSource::File => eprintln!("API token: read from the data dir's `token` file"),
        TokenSource::Configured => {}
    }
}
