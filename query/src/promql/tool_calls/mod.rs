//! The tool-call metrics, virtual series over the store (see the README for
//! their labels):
//!
//! - `toolpulse_tool_calls_total` (counter);
//! - `toolpulse_tool_call_duration_seconds_bucket{le}`, `_sum`, `_count`
//!   (a histogram, with the OpenTelemetry MCP bucket bounds 0.01 … 300 s);
//! - `toolpulse_tool_call_duration_quantile_seconds{server,tool,quantile}` and
//!   `toolpulse_server_call_duration_quantile_seconds{server,quantile}`: precise
//!   quantiles (0.5, 0.9, 0.95, 0.99, 0.999) of each minute's calls, from the
//!   merged HDR histograms of the rollups;
//! - `toolpulse_tool_chain_duration_quantile_seconds{depth,quantile}`: the same
//!   quantiles of the end-to-end duration of the chains of MCP calls (traces)
//!   started each minute, by chain depth (from the raw table).
//!
//! Counters are sampled at every minute boundary, as if scraped once a minute:
//! the sample at `T` counts the calls that started before `T`. A series is
//! sampled from the start of the minute of its first call (at 0) until an hour
//! after its last, however far back a query reads; its value counts the calls
//! since an hour before the range read (read it through `rate`, `increase` and
//! the like). Queries read `rollups_1m` when they need only server, tool,
//! outcome and server_version; `rollups_agents_1m` for server, agent,
//! tenant and outcome; the raw `tool_calls` table otherwise.

mod series;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;

use super::PromError;
use super::source::{Family, MetricMeta, MetricSource, Selection};
use super::value::Series;

pub const CALLS: &str = "toolpulse_tool_calls_total";
/// The duration histogram, whose series are [`BUCKET`], [`SUM`] and [`COUNT`].
pub const DURATION: Family = Family { name: "toolpulse_tool_call_duration_seconds", help: "Duration of MCP tool calls, in seconds." };
pub const BUCKET: &str = "toolpulse_tool_call_duration_seconds_bucket";
pub const SUM: &str = "toolpulse_tool_call_duration_seconds_sum";
pub const COUNT: &str = "toolpulse_tool_call_duration_seconds_count";
pub const TOOL_QUANTILE: &str = "toolpulse_tool_call_duration_quantile_seconds";
pub const SERVER_QUANTILE: &str = "toolpulse_server_call_duration_quantile_seconds";
pub const CHAIN_QUANTILE: &str = "toolpulse_tool_chain_duration_quantile_seconds";

/// The quantiles the precise series offer.
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// Labels of the counters, as series carry them; `agent` is the `agent_id` column.
pub const LABELS: [&str; 6] = ["server", "tool", "outcome", "agent", "tenant", "server_version"];

/// Serves the tool-call metrics from a DataFusion session over the store.
pub struct ToolCallMetrics {
    ctx: SessionContext,
    /// Ms since the epoch, now: only completed minutes are sampled.
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl ToolCallMetrics {
    pub fn new(ctx: SessionContext, clock: Arc<dyn Fn() -> i64 + Send + Sync>) -> Self {
        ToolCallMetrics { ctx, clock }
    }
}

#[async_trait]
impl MetricSource for ToolCallMetrics {
    fn metrics(&self) -> Vec<MetricMeta> {
        let with_le: Vec<&'static str> = LABELS.iter().copied().chain(["le"]).collect();
        let m = |name: &str, kind, help: &str, unit, labels: Vec<&'static str>| MetricMeta { name: name.into(), kind, help: help.into(), unit, labels, family: None };
        let of_duration = |meta: MetricMeta| MetricMeta { family: Some(DURATION), ..meta };
        vec![
            m(CALLS, "counter", "MCP tool calls, by server, tool, outcome, agent, tenant and server version.", "", LABELS.to_vec()),
            of_duration(m(BUCKET, "counter", "Tool calls that took at most `le` seconds (histogram buckets).", "seconds", with_le)),
            of_duration(m(SUM, "counter", "Total duration of tool calls, in seconds.", "seconds", LABELS.to_vec())),
            of_duration(m(COUNT, "counter", "Tool calls counted by the duration histogram.", "", LABELS.to_vec())),
            m(TOOL_QUANTILE, "gauge", "Precise quantile of the duration of each minute's calls of a tool (HDR histograms).", "seconds", vec!["server", "tool", "quantile"]),
            m(SERVER_QUANTILE, "gauge", "Precise quantile of the duration of each minute's calls of a server (HDR histograms).", "seconds", vec!["server", "quantile"]),
            m(CHAIN_QUANTILE, "gauge", "Precise quantile of the end-to-end duration of the chains of MCP calls started each minute, by chain depth.", "seconds", vec!["depth", "quantile"]),
        ]
    }

    async fn label_sets(&self, sel: &Selection) -> Result<Vec<super::value::Labels>, PromError> {
        if sel.name == CHAIN_QUANTILE {
            return Ok(series::chain_quantiles(&self.ctx, sel, (self.clock)()).await?.into_iter().map(|s| s.labels).collect());
        }
        series::label_sets(&self.ctx, sel).await
    }

    async fn select(&self, sel: &Selection) -> Result<Vec<Series>, PromError> {
        let now = (self.clock)();
        match sel.name.as_str() {
            TOOL_QUANTILE | SERVER_QUANTILE => series::quantiles(&self.ctx, sel, now).await,
            CHAIN_QUANTILE => series::chain_quantiles(&self.ctx, sel, now).await,
            CALLS | BUCKET | SUM | COUNT => series::counters(&self.ctx, sel, now).await,
            other => Err(PromError::internal(format!("tool-call metrics do not serve {other}"))),
        }
    }
}
