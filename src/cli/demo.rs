//! `toolpulse demo`: the server, plus a synthetic fleet that first backfills
//! history and then sends live traffic with scheduled incidents, all over the
//! server's own HTTP ingest endpoint; the shipped example SLOs are evaluated
//! every 10 s and alerts are printed as they fire and resolve.

use std::time::Duration;

use toolpulse_gen::sink::{self, RunOptions, Sink};
use toolpulse_gen::{GenSpec, Generator, Incident};
use toolpulse_serve::{Config, ConfigOverrides, Server};

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    config: ConfigOverrides,
    /// Live events per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// History to backfill before going live.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    backfill: Duration,
    /// Seed of the generated fleet and traffic.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Incidents of the live phase, relative to going live: a latency spike on one
/// server, then climbing auth failures on another.
const INCIDENTS: &[&str] = &[
    "kind=latency,server=jira,factor=12,at=2m,for=6m",
    "kind=auth,server=slack,rate=0.4,at=4m,for=5m",
    "kind=errors,server=postgres,rate=0.3,at=6m,for=4m",
];

/// The example SLOs shipped in `slo/specs/`, written into the data dir for the demo.
const EXAMPLE_SLOS: &[(&str, &str)] = &[
    ("fleet.yaml", include_str!("../../slo/specs/fleet.yaml")),
    ("slack-auth.openslo.yaml", include_str!("../../slo/specs/slack-auth.openslo.yaml")),
];

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.rate > 0.0, "--rate must be positive");
    let mut cfg = Config::load(&a.config)?;
    if cfg.slo.dir.is_none() {
        let dir = cfg.data_dir.join("slos");
        std::fs::create_dir_all(&dir)?;
        for (name, text) in EXAMPLE_SLOS {
            let path = dir.join(name);
            if !path.exists() {
                std::fs::write(&path, text)?;
            }
        }
        eprintln!("demo: evaluating the example SLOs in {}", dir.display());
        cfg.slo.dir = Some(dir);
        cfg.slo.interval = Duration::from_secs(10);
    }
    let settle = cfg.slo.interval + Duration::from_secs(2);
    let server = Server::start(cfg).await?;
    super::announce(&server);
    let (backfilled, history_in) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(print_alerts(server.slo.clone(), history_in, settle));
    let url = format!("http://{}", server.addr);
    let token = server.token.as_str().to_owned();

    let traffic = tokio::spawn(async move {
        let now = toolpulse_schemas::timestamp::now_ns();
        let backfill_events = (a.backfill.as_secs_f64() * a.rate) as u64;
        if backfill_events > 0 {
            eprintln!("demo: backfilling {} of history ({backfill_events} events)", humantime::format_duration(a.backfill));
            let spec = GenSpec { seed: a.seed, start_ns: now - a.backfill.as_nanos() as i64, rate: a.rate, ..GenSpec::default() };
            let opts = RunOptions { count: Some(backfill_events), progress_every: None, ..RunOptions::default() };
            sink::run(&mut Generator::new(spec), &mut Sink::http(&url, &token), &opts).await?;
        }
        let _ = backfilled.send(());
        eprintln!("demo: live traffic at {}/s; incidents: {}", a.rate, INCIDENTS.join(" | "));
        let incidents = INCIDENTS.iter().map(|s| s.parse::<Incident>()).collect::<Result<Vec<_>, _>>()?;
        let spec = GenSpec { seed: a.seed + 1, start_ns: toolpulse_schemas::timestamp::now_ns(), rate: a.rate, incidents, ..GenSpec::default() };
        let opts = RunOptions { realtime: true, progress_every: None, batch: 1000, ..RunOptions::default() };
        sink::run(&mut Generator::new(spec), &mut Sink::http(&url, &token), &opts).await?;
        anyhow::Ok(())
    });
    let result = server.run_until_signal().await;
    traffic.abort();
    watcher.abort();
    result
}

/// Prints each alert as it fires and resolves, once the history is in and the
/// SLOs have been evaluated over it (`settle` later): alerts about the empty
/// store before the backfill (no data) would only confuse.
async fn print_alerts(slo: toolpulse_slo::SloEngine, history_in: tokio::sync::oneshot::Receiver<()>, settle: Duration) {
    use std::collections::HashMap;
    use toolpulse_slo::alerts::AlertState;
    let _ = history_in.await;
    tokio::time::sleep(settle).await;
    // What is already over (the empty store's no-data alerts) is not news; what fires is.
    let mut known: HashMap<String, AlertState> =
        slo.alerts().iter().filter(|a| a.state != AlertState::Firing).map(|a| (a.fingerprint(), a.state)).collect();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for a in slo.alerts() {
            let fp = a.fingerprint();
            if known.get(&fp) != Some(&a.state) {
                if a.state != AlertState::Pending {
                    let what = a.annotations.get("description").cloned().unwrap_or_default();
                    eprintln!("demo: alert {:?} {} [{}] {} — {}", a.state, a.name(), a.labels.get("severity").map_or("", String::as_str), a.slo(), what);
                }
                known.insert(fp, a.state);
            }
        }
    }
}
