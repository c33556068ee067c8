//! `toolpulse import`: bulk-load an NDJSON file into the store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use toolpulse_ingest::import::import_ndjson;
use toolpulse_ingest::latency_summary::summarize;
use toolpulse_ingest::{IngestMetrics, IngestWriter};
use toolpulse_schemas::DecodeLimits;
use toolpulse_serve::{Config, ConfigOverrides};
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::sharing::StoreLead;
use toolpulse_storage::superseded::{SUPERSEDED_GRACE, purge_superseded};
use toolpulse_storage::{DataDir, FileWriter};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// NDJSON file, plain or gzip- or zstd-compressed (`-` for stdin).
    file: PathBuf,
    #[command(flatten)]
    config: ConfigOverrides,
}

pub async fn run(a: ImportArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&a.config)?;
    let dir = DataDir::new(&cfg.data_dir);
    dir.create()?;
    let files = Arc::new(FileWriter::new(dir, WriteOptions { zstd_level: cfg.ingest.zstd_level, ..WriteOptions::default() }));
    let wcfg = toolpulse_serve::server::writer_config(&cfg);
    let (writer, task) = IngestWriter::spawn(files.clone(), wcfg, IngestMetrics::default());
    let limits = DecodeLimits { max_future_skew_secs: cfg.ingest.max_future_skew_secs, ..DecodeLimits::default() };
    let started = Instant::now();
    let name = a.file.display().to_string();
    let report = if name == "-" {
        import_ndjson(std::io::stdin(), &name, &writer, limits).await?
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("opening {name}"))?;
        import_ndjson(f, &name, &writer, limits).await?
    };
    drop(writer);
    task.await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "import: {} lines, {} accepted, {} rejected (see dead_letters) in {:.2}s ({:.0} events/s)",
        report.lines,
        report.accepted,
        report.rejected,
        secs,
        report.lines as f64 / secs
    );
    // Summaries of hours this import added to replace older ones; what earlier
    // runs superseded goes once its grace has passed, as the server does. A
    // server leading the directory does both itself.
    let lead = StoreLead::new(files.data_dir());
    if !lead.try_hold()? {
        eprintln!("latency_1m: left to the server leading {}", cfg.data_dir.display());
        return Ok(());
    }
    let summary = tokio::task::spawn_blocking(move || {
        let summary = summarize(&files)?;
        purge_superseded(files.data_dir(), SUPERSEDED_GRACE)?;
        Ok::<_, toolpulse_storage::StoreError>(summary)
    })
    .await?
    .context("updating latency_1m")?;
    eprintln!("latency_1m: {} hours summarized ({} rows)", summary.hours_built, summary.rows);
    Ok(())
}
