//! The query engine: a DataFusion session over the store's tables, with the HDR
//! functions and convenience views, and a sandbox for user SQL: read-only (no
//! DDL, DML, COPY or SET; no function or table that reads files), a memory
//! limit (operators that can spill do), a timeout, and an optional row limit.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use toolpulse_schemas::arrow_schema::tool_calls_schema;
use toolpulse_schemas::dead_letter::dead_letters_schema;
use toolpulse_schemas::rollup_schema::{latency_1m_schema, rollups_1m_schema, rollups_agents_1m_schema};
use toolpulse_storage::{DataDir, Table};

use crate::deadline::Deadline;
use crate::error::QueryError;
use crate::id_literals::IdLiterals;
use crate::postgres::PostgresSemantics;
use crate::store_files::StoreFiles;
use crate::table::StoreTable;
use crate::vanished;

/// Limits of user queries.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Memory for one session's operators; beyond it, sorts and aggregations spill.
    pub memory_limit_bytes: usize,
    pub timeout: Duration,
    pub target_partitions: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            memory_limit_bytes: 1 << 30,
            timeout: Duration::from_secs(30),
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Views created for users at start.
const VIEWS: &[(&str, &str)] = &[
    ("tool_calls_last_hour", "SELECT * FROM tool_calls WHERE timestamp >= now() - INTERVAL '1 hour'"),
    ("tool_calls_last_day", "SELECT * FROM tool_calls WHERE timestamp >= now() - INTERVAL '1 day'"),
    // One row per trace that holds MCP tool calls: its chain of calls, from the
    // first call's start to the last call's end.
    (
        "tool_chains",
        "SELECT trace_id, min(timestamp) AS started_at, \
         max(CAST(timestamp AS BIGINT) / 1000000.0 + duration_ms) - min(CAST(timestamp AS BIGINT) / 1000000.0) AS duration_ms, \
         max(coalesce(chain_depth, 1)) AS depth, count(*) AS calls, count(DISTINCT server) AS servers, \
         array_agg(concat(server, '/', tool) ORDER BY timestamp) AS path, \
         bool_or(outcome <> 'success') AS failed \
         FROM tool_calls WHERE trace_id IS NOT NULL GROUP BY trace_id",
    ),
];

/// A query engine over one data directory.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    /// The same tables and functions, for SQL from users: casts as PostgreSQL casts.
    user: SessionContext,
    cfg: QueryConfig,
}

impl QueryEngine {
    pub async fn open(dir: DataDir, cfg: QueryConfig) -> Result<Self, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(cfg.memory_limit_bytes)))
            // The store gains files every flush: DataFusion's default listing
            // cache (no TTL) would hide them from partitions already listed.
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(cfg.target_partitions.max(1))
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        // Local files are read read-only, and from where compaction keeps the
        // files it merged away while queries that listed them still run.
        ctx.register_object_store(ObjectStoreUrl::local_filesystem().as_ref(), Arc::new(StoreFiles::new()));
        ctx.register_table("tool_calls", Arc::new(StoreTable::new(dir.clone(), Table::ToolCalls, tool_calls_schema())))?;
        ctx.register_table("dead_letters", Arc::new(StoreTable::new(dir.clone(), Table::DeadLetters, dead_letters_schema())))?;
        ctx.register_table("rollups_1m", Arc::new(StoreTable::new(dir.clone(), Table::Rollups1m, rollups_1m_schema())))?;
        ctx.register_table("rollups_agents_1m", Arc::new(StoreTable::new(dir.clone(), Table::RollupsAgents1m, rollups_agents_1m_schema())))?;
        ctx.register_table("latency_1m", Arc::new(StoreTable::new(dir.clone(), Table::Latency1m, latency_1m_schema())))?;
        ctx.register_table("spans", Arc::new(StoreTable::new(dir.clone(), Table::Spans, toolpulse_schemas::span_schema::spans_schema())))?;
        ctx.register_table(
            "slo_status",
            Arc::new(StoreTable::new(dir, Table::SloStatus, toolpulse_schemas::slo_status_schema::slo_status_schema())),
        )?;
        crate::hdr::register(&ctx);
        crate::postgres::register(&ctx);
        for (name, body) in VIEWS {
            ctx.sql(&format!("CREATE VIEW {name} AS {body}")).await?;
        }
        let mut user = SessionStateBuilder::new_from_existing(ctx.state()).with_analyzer_rule(Arc::new(PostgresSemantics));
        // Id literals become bytes before type coercion, which would refuse them.
        if let Some(analyzer) = user.analyzer() {
            analyzer.rules.insert(0, Arc::new(IdLiterals));
        }
        let user = user.build();
        Ok(Self { ctx, user: SessionContext::new_with_state(user), cfg })
    }

    /// The session, for trusted callers (the SLO engine, PromQL) that build plans themselves.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// A session over the same tables and functions whose every query ends with
    /// an error once it has computed for the configured timeout: for front ends
    /// that run plans and stream their results themselves (the PostgreSQL
    /// endpoint), out of reach of [`Self::run_user_sql`]'s timeout.
    pub fn session_with_deadline(&self) -> SessionContext {
        let state = SessionStateBuilder::new_from_existing(self.user.state())
            .with_physical_optimizer_rule(Arc::new(Deadline::new(self.cfg.timeout)))
            .build();
        SessionContext::new_with_state(state)
    }

    /// Plans user SQL inside the sandbox.
    pub async fn plan_user_sql(&self, sql: &str) -> Result<DataFrame, QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        self.user.sql_with_options(sql, options).await.map_err(|e| refusal(e, sql))
    }

    /// Runs user SQL inside the sandbox; with `max_rows`, at most that many rows
    /// come back and the flag says whether more were cut.
    #[tracing::instrument(name = "sql.query", skip(self, sql), fields(sql.len = sql.len()))]
    pub async fn run_user_sql(&self, sql: &str, max_rows: Option<usize>) -> Result<(Vec<RecordBatch>, bool), QueryError> {
        let mut df = self.plan_user_sql(sql).await?;
        // An `EXPLAIN` must stay the root of its plan; its few rows are cut below.
        let explain = matches!(df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
        if let Some(n) = max_rows.filter(|_| !explain) {
            df = df.limit(0, Some(n + 1))?;
        }
        let batches = tokio::time::timeout(self.cfg.timeout, vanished::collect(&df))
            .await
            .map_err(|_| QueryError::Timeout(self.cfg.timeout))??;
        Ok(match max_rows {
            Some(n) => truncate(batches, n),
            None => (batches, false),
        })
    }
}

/// Turns DataFusion's sandbox errors into refusals that say what was refused.
fn refusal(e: datafusion::error::DataFusionError, sql: &str) -> QueryError {
    let msg = e.to_string();
    if msg.contains("not supported") && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement")) {
        let verb = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        QueryError::Refused(format!("{verb} is not allowed: queries are read-only ({msg})"))
    } else {
        QueryError::DataFusion(e)
    }
}

fn truncate(batches: Vec<RecordBatch>, max: usize) -> (Vec<RecordBatch>, bool) {
    let mut out = Vec::new();
    let mut left = max;
    let mut cut = false;
    for b in batches {
        if left == 0 {
            cut |= b.num_rows() > 0;
            continue;
        }
        if b.num_rows() > left {
            out.push(b.slice(0, left));
            cut = true;
            left = 0;
        } else {
            left -= b.num_rows();
            out.push(b);
        }
    }
    (out, cut)
}
