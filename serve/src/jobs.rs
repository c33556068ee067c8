//! Background jobs of the server: periodic compaction of the store's tables
//! (rollup rows combined per minute and key as their files merge).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use toolpulse_storage::compact::{CompactionPolicy, compact_table_with};
use toolpulse_storage::{FileWriter, Table};

/// Tables the compaction job keeps tidy (every table: frequent flushes make small files).
const COMPACTED: [Table; 6] = [Table::ToolCalls, Table::DeadLetters, Table::Rollups1m, Table::RollupsAgents1m, Table::Spans, Table::SloStatus];

/// Runs one compaction pass over every table every `interval` until `stop` turns true.
pub fn spawn_compaction(files: Arc<FileWriter>, interval: Duration, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let files = files.clone();
            let pass = tokio::task::spawn_blocking(move || {
                let policy = CompactionPolicy::default();
                // Rollup rows of one minute and key, written by many flushes, become one.
                let combine = |t, batches| toolpulse_ingest::rollup::combine(t, batches).map_err(|e| e.to_string());
                COMPACTED.map(|t| (t, compact_table_with(&files, t, &policy, Some(&combine))))
            });
            match pass.await {
                Ok(results) => {
                    for (table, r) in results {
                        match r {
                            Ok(rep) if rep.merges > 0 => tracing::info!(table = table.name(), ?rep, "compacted"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(table = table.name(), error = %e, "compaction failed; will retry"),
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "compaction task panicked"),
            }
        }
    })
}
