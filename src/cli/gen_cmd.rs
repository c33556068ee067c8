//! `toolpulse gen`: the load generator's command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use toolpulse_gen::sink::{self, RunOptions, Sink};
use toolpulse_gen::{FleetSpec, GenSpec, Generator, Incident};

#[derive(clap::Args)]
pub struct GenArgs {
    /// Number of events (default: 100000; 0 = until interrupted).
    #[arg(long, short = 'n', default_value_t = 100_000)]
    count: u64,
    /// Seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Events per second of simulated time.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// First timestamp (RFC 3339); default: `now - count/rate`, so the events end about now.
    #[arg(long)]
    start: Option<String>,
    /// Send each event when its timestamp comes (live traffic) instead of as fast as possible.
    #[arg(long)]
    realtime: bool,
    /// MCP servers in the fleet.
    #[arg(long, default_value_t = 12)]
    servers: usize,
    /// Tools each server offers.
    #[arg(long, default_value_t = 8)]
    tools_per_server: usize,
    /// Calling agents.
    #[arg(long, default_value_t = 40)]
    agents: usize,
    /// An incident, e.g. `kind=latency,server=github,factor=8,at=10m,for=15m`
    /// (repeatable). Kinds: `latency` (`factor`, default 10), `errors`, `auth`
    /// and `timeouts` (`rate`, the share of the server's calls); `at` counts
    /// from the first event, `for` defaults to 10m, no `server` means all.
    #[arg(long = "incident")]
    incidents: Vec<Incident>,
    /// Share of events replaced by malformed ones (dead-letter testing).
    #[arg(long, default_value_t = 0.0)]
    bad_fraction: f64,
    /// Write NDJSON to this file (`-` for stdout). The default sink.
    #[arg(long, short = 'o', conflicts_with_all = ["kafka", "http"])]
    out: Option<PathBuf>,
    /// Produce to Kafka at these brokers.
    #[arg(long, requires = "topic")]
    kafka: Option<String>,
    /// Kafka topic to produce to.
    #[arg(long)]
    topic: Option<String>,
    /// POST to a toolpulse server, e.g. http://127.0.0.1:8080.
    #[arg(long, requires = "token")]
    http: Option<String>,
    /// Bearer token for `--http`.
    #[arg(long, env = "TOOLPULSE_TOKEN")]
    token: Option<String>,
    /// Hide progress.
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub async fn run(a: GenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.rate > 0.0, "--rate must be positive");
    anyhow::ensure!((0.0..=1.0).contains(&a.bad_fraction), "--bad-fraction must be within 0..=1");
    let start_ns = match &a.start {
        Some(s) => toolpulse_schemas::timestamp::parse_rfc3339_ns(s).with_context(|| format!("--start `{s}` is not RFC 3339"))?,
        None if a.realtime || a.count == 0 => toolpulse_schemas::timestamp::now_ns(),
        None => toolpulse_schemas::timestamp::now_ns() - (a.count as f64 / a.rate * 1e9) as i64,
    };
    let spec = GenSpec {
        seed: a.seed,
        fleet: FleetSpec { servers: a.servers, tools_per_server: a.tools_per_server, agents: a.agents, ..FleetSpec::default() },
        start_ns,
        rate: a.rate,
        incidents: a.incidents,
        ..GenSpec::default()
    };
    let mut sink = if let Some(brokers) = &a.kafka {
        Sink::kafka(brokers, a.topic.as_deref().unwrap_or_default())?
    } else if let Some(url) = &a.http {
        Sink::http(url, a.token.as_deref().unwrap_or_default())
    } else {
        match a.out.as_deref() {
            None => Sink::ndjson(Box::new(std::io::stdout())),
            Some(p) if p.as_os_str() == "-" => Sink::ndjson(Box::new(std::io::stdout())),
            Some(p) => Sink::ndjson(Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)),
        }
    };
    let opts = RunOptions {
        count: (a.count > 0).then_some(a.count),
        bad_fraction: a.bad_fraction,
        realtime: a.realtime,
        progress_every: (!a.quiet).then_some(Duration::from_secs(2)),
        ..RunOptions::default()
    };
    let mut generator = Generator::new(spec);
    let report = sink::run(&mut generator, &mut sink, &opts).await?;
    if !a.quiet {
        eprintln!("gen: done, {} events ({} malformed)", report.events, report.malformed);
    }
    Ok(())
}
