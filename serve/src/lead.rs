//! Whether this server leads its data directory: the one process, of those
//! sharing the directory, that runs compaction, the `latency_1m` summaries and
//! SLO alerting (see `toolpulse_storage::sharing`). Shown on `/metrics` as
//! `toolpulse_store_lead`.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use toolpulse_storage::DataDir;
use toolpulse_storage::sharing::StoreLead;

pub struct Lead {
    lock: StoreLead,
    gauge: Gauge,
}

impl Lead {
    pub fn new(dir: &DataDir, registry: &mut Registry) -> Arc<Self> {
        let gauge = Gauge::default();
        registry.register(
            "toolpulse_store_lead",
            "1 while this process leads the data directory (runs compaction, summaries and SLO alerting)",
            gauge.clone(),
        );
        Arc::new(Self { lock: StoreLead::new(dir), gauge })
    }

    /// Whether this process leads, taking the lead if no other process holds it.
    pub fn try_hold(&self) -> bool {
        let held = self.lock.try_hold().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot take the data directory's lead; will retry");
            false
        });
        if held && self.gauge.set(1) == 0 {
            tracing::info!("leading the data directory: compaction, summaries and SLO alerting run here");
        }
        held
    }

    /// Whether this process leads now (without trying to take the lead).
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }
}
