//! Background jobs of the server: periodic compaction of the store's tables
//! (rollup rows combined per minute and key as their files merge), keeping
//! `latency_1m` up to date with `rollups_1m`, removing the files both
//! superseded once their grace has passed, and clearing what dead writers left
//! in staging. They run in one task, one after the other, so a summary never
//! reads files a merge is removing, and only in the process that leads the
//! data directory, so two never merge the same files.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};
use toolpulse_ingest::latency_summary::{SummaryReport, summarize};
use toolpulse_storage::compact::{CompactionPolicy, CompactionReport, compact_table_with, finish_interrupted_merges};
use toolpulse_storage::sharing::sweep_staging;
use toolpulse_storage::superseded::{SUPERSEDED_GRACE, purge_superseded};
use toolpulse_storage::{DataDir, FileWriter, StoreError, Table};

use crate::config::CompactionConfig;
use crate::lead::Lead;

/// Tables the compaction job keeps tidy (every table that flushes write:
/// frequent flushes make small files; `latency_1m` keeps one file per hour itself).
const COMPACTED: [Table; 6] = [Table::ToolCalls, Table::DeadLetters, Table::Rollups1m, Table::RollupsAgents1m, Table::Spans, Table::SloStatus];

/// Runs a summary pass every `cfg.summary_interval`, and (when enabled) a
/// compaction pass over every table every `cfg.interval`, until `stop` turns
/// true; each pass only while this process leads (trying to take the lead at
/// every tick). The first pass after taking the lead first finishes the merges
/// a crashed leader interrupted.
pub fn spawn_maintenance(files: Arc<FileWriter>, cfg: CompactionConfig, lead: Arc<Lead>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut compaction_tick = ticker(cfg.interval);
        let mut summary_tick = ticker(cfg.summary_interval);
        compaction_tick.tick().await;
        // A server that took the lead at its start finished interrupted merges then.
        let mut leading = lead.is_held();
        loop {
            let compact = tokio::select! {
                _ = compaction_tick.tick(), if cfg.enabled => true,
                _ = summary_tick.tick() => false,
                _ = stop.changed() => return,
            };
            let took_lead = !leading;
            leading = lead.try_hold();
            if !leading {
                continue;
            }
            let files = files.clone();
            let pass = tokio::task::spawn_blocking(move || {
                if took_lead && let Err(e) = finish_interrupted(files.data_dir()) {
                    tracing::warn!(error = %e, "finishing interrupted merges failed; compaction will retry them");
                }
                // What the writers of processes that died since left in staging.
                match sweep_staging(files.data_dir()) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(entries = n, "removed what dead writers left in staging"),
                    Err(e) => tracing::warn!(error = %e, "clearing staging failed; will retry"),
                }
                let compacted = compact.then(|| compact_all(&files));
                let summary = summarize(&files);
                (compacted, summary, purge_superseded(files.data_dir(), SUPERSEDED_GRACE))
            });
            match pass.await {
                Ok((compacted, summary, purged)) => {
                    for (table, r) in compacted.into_iter().flatten() {
                        match r {
                            Ok(rep) if rep.merges > 0 => tracing::info!(table = table.name(), ?rep, "compacted"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(table = table.name(), error = %e, "compaction failed; will retry"),
                        }
                    }
                    match summary {
                        Ok(rep) if rep != SummaryReport::default() => tracing::debug!(?rep, "latency_1m updated"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "latency_1m update failed; will retry"),
                    }
                    match purged {
                        Ok(0) => {}
                        Ok(files) => tracing::debug!(files, "superseded files removed"),
                        Err(e) => tracing::warn!(error = %e, "removing superseded files failed; will retry"),
                    }
                }
                Err(e) => tracing::error!(error = %e, "maintenance task panicked"),
            }
        }
    })
}

/// Finishes the merges of every compacted table that a crash interrupted
/// (before anything reads the store); returns how many inputs were left over.
pub fn finish_interrupted(dir: &DataDir) -> Result<usize, StoreError> {
    COMPACTED.iter().map(|t| finish_interrupted_merges(dir, *t)).sum()
}

fn ticker(period: std::time::Duration) -> Interval {
    let mut tick = tokio::time::interval(period.max(std::time::Duration::from_millis(100)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

/// One compaction pass over every table.
fn compact_all(files: &FileWriter) -> [(Table, Result<CompactionReport, StoreError>); 6] {
    let policy = CompactionPolicy::default();
    // Rollup rows of one minute and key, written by many flushes, become one.
    let combine = |t, batches| toolpulse_ingest::rollup::combine(t, batches).map_err(|e| e.to_string());
    COMPACTED.map(|t| (t, compact_table_with(files, t, &policy, Some(&combine))))
}
