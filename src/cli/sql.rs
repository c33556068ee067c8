//! `toolpulse sql`: ad-hoc SQL against a data dir, or against a running server.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use toolpulse_query::output::{Format, decode_ipc, encode};
use toolpulse_query::QueryEngine;
use toolpulse_serve::{Config, ConfigOverrides};
use toolpulse_storage::DataDir;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The query (read-only: SELECT, EXPLAIN, SHOW).
    query: String,
    /// table, csv, json, parquet or arrow.
    #[arg(long, short = 'f', default_value = "table")]
    format: Format,
    /// Ask a running server instead of reading the data dir, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    server: Option<String>,
    /// Bearer token for `--server`.
    #[arg(long, env = "TOOLPULSE_TOKEN")]
    token: Option<String>,
    #[command(flatten)]
    config: ConfigOverrides,
}

pub async fn run(a: SqlArgs) -> anyhow::Result<()> {
    let (schema, batches) = match &a.server {
        Some(url) => remote(url, a.token.as_deref(), &a.query).await?,
        None => {
            let cfg = Config::load(&a.config)?;
            let engine = QueryEngine::open(DataDir::new(&cfg.data_dir), toolpulse_serve::server::query_config(&cfg)).await?;
            let df = engine.plan_user_sql(&a.query).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            (schema, engine.run_user_sql(&a.query, None).await?.0)
        }
    };
    let bytes = encode(&batches, &schema, a.format)?;
    std::io::stdout().lock().write_all(&bytes)?;
    Ok(())
}

async fn remote(url: &str, token: Option<&str>, sql: &str) -> anyhow::Result<(arrow::datatypes::SchemaRef, Vec<arrow::array::RecordBatch>)> {
    let token = token.context("--server needs --token (or TOOLPULSE_TOKEN)")?;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/sql", url.trim_end_matches('/')))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .header("accept", Format::ArrowIpc.content_type())
        .body(sql.to_owned())
        .send()
        .await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    anyhow::ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
    Ok(decode_ipc(&body)?)
}
