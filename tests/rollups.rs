//! Rollups written by the ingest writer agree with the raw rows they summarise:
//! counts exactly, and p99 over an hour within HDR precision of the exact value
//! (and equal to the raw HDR percentile), even when a minute spans several flushes.
//! Compaction folds those rows into one per minute and key, changing no answer.
//! `latency_1m`, derived from the rollups, agrees with the raw rows per minute,
//! server and tool.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use toolpulse_ingest::import::import_ndjson;
use toolpulse_ingest::latency_summary::{SummaryReport, summarize};
use toolpulse_ingest::{IngestMetrics, IngestWriter, WriterConfig, WriterHandle};
use toolpulse_query::{QueryConfig, QueryEngine};
use toolpulse_schemas::DecodeLimits;
use toolpulse_storage::compact::{CompactionPolicy, compact_table_with};
use toolpulse_storage::superseded::purge_superseded;
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter, Table};

fn rows(batches: &[RecordBatch]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for b in batches {
        let key = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let key = key.as_string::<i32>();
        let v = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Float64).unwrap();
        let v = v.as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.insert(key.value(i).to_owned(), v.value(i));
        }
    }
    out
}

/// A fresh store and an ingest writer into it that flushes every `flush_rows`
/// rows (small flushes split most minutes over several rollup rows).
fn small_flush_writer(flush_rows: usize) -> (tempfile::TempDir, DataDir, Arc<FileWriter>, WriterHandle, tokio::task::JoinHandle<()>) {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    data.create().unwrap();
    let files = Arc::new(FileWriter::new(data.clone(), WriteOptions::default()));
    let wcfg = WriterConfig { flush_rows, flush_age: Duration::from_millis(100), ..WriterConfig::default() };
    let (writer, task) = IngestWriter::spawn(files.clone(), wcfg, IngestMetrics::default());
    (dir, data, files, writer, task)
}

/// Imports NDJSON `lines` as one submission; returns how many were accepted.
async fn import(writer: &WriterHandle, lines: &[Vec<u8>]) -> usize {
    let mut body = lines.join(&b'\n');
    body.push(b'\n');
    import_ndjson(std::io::Cursor::new(body), "test", writer, DecodeLimits::default()).await.unwrap().accepted as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_match_raw_counts_and_percentiles() {
    let (_dir, data, _, writer, task) = small_flush_writer(7000);
    let (lines, good, _) = common::generated_lines(60_000, 5, 0);
    assert_eq!(import(&writer, &lines).await, good.len());
    drop(writer);
    task.await.unwrap();

    let e = QueryEngine::open(data, QueryConfig::default()).await.unwrap();
    let q = |sql: &'static str| {
        let e = e.clone();
        async move { e.run_user_sql(sql, None).await.unwrap().0 }
    };
    let raw = rows(&q("SELECT concat_ws('/', server, tool, outcome, coalesce(server_version, '-')), count(*) FROM tool_calls GROUP BY 1").await);
    let rolled =
        rows(&q("SELECT concat_ws('/', server, tool, outcome, coalesce(server_version, '-')), sum(calls) FROM rollups_1m GROUP BY 1").await);
    assert_eq!(raw, rolled, "counts per server/tool/outcome/version");
    assert_eq!(raw.values().sum::<f64>() as usize, good.len());
    let raw = rows(&q("SELECT concat_ws('/', server, coalesce(agent_id, '-'), coalesce(tenant, '-'), outcome), count(*) FROM tool_calls GROUP BY 1").await);
    let rolled = rows(
        &q("SELECT concat_ws('/', server, coalesce(agent_id, '-'), coalesce(tenant, '-'), outcome), sum(calls) FROM rollups_agents_1m GROUP BY 1")
            .await,
    );
    assert_eq!(raw, rolled, "counts per server/agent/tenant/outcome");
    // Exact latency buckets: calls at or under each bound, per server and minute.
    let raw = rows(
        &q("SELECT concat_ws('/', server, CAST(date_trunc('minute', timestamp) AS VARCHAR)), \
                   count(*) FILTER (WHERE duration_ms <= 100) * 1000000 + count(*) FILTER (WHERE duration_ms <= 2000) FROM tool_calls GROUP BY 1")
            .await,
    );
    let rolled = rows(
        &q("SELECT concat_ws('/', server, CAST(minute AS VARCHAR)), sum(le_100ms) * 1000000 + sum(le_2s) FROM rollups_1m GROUP BY 1").await,
    );
    assert_eq!(raw, rolled, "le_100ms and le_2s per server and minute");

    let split = q("SELECT count(*) FROM (SELECT minute, server, tool, outcome, server_version FROM rollups_1m \
                   GROUP BY ALL HAVING count(*) > 1)")
    .await;
    assert!(split[0].column(0).as_primitive::<Int64Type>().value(0) > 0, "some minute/dimensions span several flushes");

    let raw_p99 = rows(&q("SELECT server, hdr_percentile(duration_ms, 0.99) FROM tool_calls GROUP BY 1").await);
    let roll_p99 = rows(&q("SELECT server, hdr_quantile(hdr_merge(duration_hist), 0.99) FROM rollups_1m GROUP BY 1").await);
    assert_eq!(raw_p99, roll_p99, "p99 per server, raw HDR vs merged rollups");
    let roll_p99_direct = rows(&q("SELECT server, hdr_percentile(duration_hist, 0.99) FROM rollups_1m GROUP BY 1").await);
    assert_eq!(roll_p99_direct, roll_p99, "hdr_percentile of histograms = hdr_quantile of their merge");
    let exact = q("SELECT server, duration_ms FROM tool_calls").await;
    let mut per_server: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for b in &exact {
        let (s, d) = (b.column(0).as_string::<i32>(), b.column(1).as_primitive::<Float64Type>());
        for i in 0..b.num_rows() {
            per_server.entry(s.value(i).to_owned()).or_default().push(d.value(i));
        }
    }
    for (server, mut ds) in per_server {
        ds.sort_by(f64::total_cmp);
        let rank = ((0.99 * ds.len() as f64).ceil() as usize).clamp(1, ds.len());
        let want = ds[rank - 1];
        let got = roll_p99[&server];
        assert!((got - want).abs() <= want * 0.001 + 0.001, "{server}: rollup p99 {got} vs exact {want}");
    }
}

/// What a user reads from the rollups: counts per key, exact buckets per server
/// and minute, p99 and max per server, agent counts.
async fn rollup_answers(e: &QueryEngine) -> Vec<BTreeMap<String, f64>> {
    let mut out = Vec::new();
    for sql in [
        "SELECT concat_ws('/', server, tool, outcome, coalesce(server_version, '-'), CAST(minute AS VARCHAR)), sum(calls) FROM rollups_1m GROUP BY 1",
        "SELECT concat_ws('/', server, CAST(minute AS VARCHAR)), sum(le_100ms) * 1000000 + sum(le_2s) FROM rollups_1m GROUP BY 1",
        "SELECT server, hdr_percentile(duration_hist, 0.99) FROM rollups_1m GROUP BY 1",
        "SELECT server, max(duration_ms_max) FROM rollups_1m GROUP BY 1",
        "SELECT concat_ws('/', server, coalesce(agent_id, '-'), coalesce(tenant, '-'), outcome, CAST(minute AS VARCHAR)), sum(calls) FROM rollups_agents_1m GROUP BY 1",
    ] {
        out.push(rows(&e.run_user_sql(sql, None).await.unwrap().0));
    }
    out
}

async fn rollup_rows(e: &QueryEngine, table: &str) -> (i64, i64) {
    let key = if table == "rollups_1m" { "server, tool, outcome, server_version" } else { "server, agent_id, tenant, outcome" };
    let sql = format!("SELECT sum(n), count(*) FROM (SELECT minute, {key}, count(*) AS n FROM {table} GROUP BY ALL)");
    let b = &e.run_user_sql(&sql, None).await.unwrap().0[0];
    let n = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64).unwrap();
    (n.as_primitive::<Int64Type>().value(0), b.column(1).as_primitive::<Int64Type>().value(0))
}

/// Many small flushes write many rows per minute and key; compaction folds them
/// into one each, and every answer read from the rollups stays the same; a
/// crash between a merge's two steps is mended when the server starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_folds_rollup_rows_into_one_per_minute_and_key() {
    let (_dir, data, files, writer, task) = small_flush_writer(3000);
    // Three hours back: every hour is closed, so compaction merges all its files.
    let start = toolpulse_schemas::timestamp::now_ns() - 3 * 3_600_000_000_000;
    let (lines, good, _) = common::generated_lines_from(start, 30_000, 8, 0);
    // One import (one submission, one flush) per 3000 events.
    for part in lines.chunks(3000) {
        assert_eq!(import(&writer, part).await, part.len());
    }
    drop(writer);
    task.await.unwrap();

    let e = QueryEngine::open(data.clone(), QueryConfig::default()).await.unwrap();
    let before = rollup_answers(&e).await;
    let (rows_before, groups) = rollup_rows(&e, "rollups_1m").await;
    let (agent_rows_before, agent_groups) = rollup_rows(&e, "rollups_agents_1m").await;
    assert!(rows_before > groups && agent_rows_before > agent_groups, "flushes split minutes over several rows");

    let policy = CompactionPolicy { settle: Duration::ZERO, closed_hour_grace: Duration::ZERO, ..CompactionPolicy::default() };
    let combine = |t, b| toolpulse_ingest::rollup::combine(t, b).map_err(|e| e.to_string());
    for table in [Table::Rollups1m, Table::RollupsAgents1m] {
        let r = compact_table_with(&files, table, &policy, Some(&combine)).unwrap();
        assert!(r.merges > 0 && r.rows_combined > 0, "{table:?}: {r:?}");
    }

    let e = QueryEngine::open(data.clone(), QueryConfig::default()).await.unwrap();
    assert_eq!(rollup_rows(&e, "rollups_1m").await, (groups, groups), "one row per minute and key");
    assert_eq!(rollup_rows(&e, "rollups_agents_1m").await, (agent_groups, agent_groups), "one agent row per minute and key");
    let after = rollup_answers(&e).await;
    assert_eq!(before, after, "counts, buckets, p99, max and agent counts unchanged");
    assert_eq!(before[0].values().sum::<f64>() as usize, good.len());

    // A crash between a merge's two steps: the merged rollup files are in,
    // their inputs back beside them, and every call counts twice...
    let superseded = data.root().join("_superseded");
    let mut put_back = 0;
    for table in [Table::Rollups1m, Table::RollupsAgents1m] {
        for (moved, _) in DataDir::new(&superseded).list_files(table).unwrap() {
            std::fs::rename(&moved, data.root().join(moved.strip_prefix(&superseded).unwrap())).unwrap();
            put_back += 1;
        }
    }
    assert!(put_back > 2);
    let doubled = rollup_answers(&QueryEngine::open(data.clone(), QueryConfig::default()).await.unwrap()).await;
    assert_eq!(doubled[0].values().sum::<f64>() as usize, 2 * good.len());
    // ...until the server starts again: the merges are finished before it serves.
    let mut cfg = toolpulse_serve::Config { data_dir: data.root().to_owned(), ..Default::default() };
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.pgwire.enabled = false;
    cfg.otlp.grpc_enabled = false;
    toolpulse_serve::server::Server::start(cfg).await.unwrap().shutdown().await.unwrap();
    let restarted = rollup_answers(&QueryEngine::open(data, QueryConfig::default()).await.unwrap()).await;
    assert_eq!(restarted[0].values().sum::<f64>() as usize, good.len(), "each call counted once again");
    assert_eq!(restarted, before);
}

/// Per (minute, server, tool): calls, p99 as `hdr_percentile` reads it, and the maximum.
const RAW_BY_TOOL_MINUTE: &str = "SELECT concat_ws('/', CAST(date_trunc('minute', timestamp) AS VARCHAR), server, tool), \
     count(*) * 1e12 + hdr_percentile(duration_ms, 0.99) * 1e3 FROM tool_calls GROUP BY 1";
const SUMMARY_BY_TOOL_MINUTE: &str = "SELECT concat_ws('/', CAST(minute AS VARCHAR), server, tool), calls * 1e12 + p99_ms * 1e3 FROM latency_1m";

/// Checks `latency_1m` against the raw rows: one row per minute, server and
/// tool, the same calls and p99 (HDR), the same p50 as the rollups give;
/// returns the number of rows.
async fn check_latency_summary(data: &DataDir) -> usize {
    let e = QueryEngine::open(data.clone(), QueryConfig::default()).await.unwrap();
    let q = |sql: &'static str| {
        let e = e.clone();
        async move { rows(&e.run_user_sql(sql, None).await.unwrap().0) }
    };
    let raw = q(RAW_BY_TOOL_MINUTE).await;
    let summary = q(SUMMARY_BY_TOOL_MINUTE).await;
    let rows_read = e.run_user_sql("SELECT count(*) FROM latency_1m", None).await.unwrap().0[0].column(0).as_primitive::<Int64Type>().value(0);
    assert_eq!(rows_read as usize, summary.len(), "one row per minute, server and tool");
    assert_eq!(raw, summary, "calls and p99 per minute, server and tool");
    let p50_rollups = q("SELECT concat_ws('/', CAST(minute AS VARCHAR), server, tool), hdr_percentile(duration_hist, 0.5) FROM rollups_1m GROUP BY 1").await;
    let p50_summary = q("SELECT concat_ws('/', CAST(minute AS VARCHAR), server, tool), p50_ms FROM latency_1m").await;
    assert_eq!(p50_rollups, p50_summary, "p50 = hdr_percentile(duration_hist, 0.5) of the rollups");
    summary.len()
}

/// The summary files of each hour that has rollups.
fn summary_files(data: &DataDir) -> Vec<Vec<std::path::PathBuf>> {
    data.partitions(Table::Rollups1m).unwrap().into_iter().map(|(p, _)| data.partition_files(Table::Latency1m, p).unwrap()).collect()
}

/// `latency_1m` agrees with the raw rows, stays so when late events reach a
/// summarized hour and when compaction rewrites the rollups, and a pass with
/// nothing new writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_summary_matches_raw_rows_through_late_events_and_compaction() {
    let (_dir, data, files, writer, task) = small_flush_writer(3000);
    // Three closed hours, each with events of several flushes.
    let start = toolpulse_schemas::timestamp::now_ns() - 4 * 3_600_000_000_000;
    for h in 0..3 {
        let (lines, _, _) = common::generated_lines_from(start + h * 3_600_000_000_000, 8_000, 11 + h as u64, 0);
        for part in lines.chunks(3000) {
            import(&writer, part).await;
        }
    }
    writer.flush().await.unwrap();
    let hours = data.partitions(Table::Rollups1m).unwrap().len();
    assert!(hours >= 3, "{hours} hours");
    let first = summarize(&files).unwrap();
    assert_eq!((first.hours_built, first.hours_removed), (hours, 0));
    let cells = check_latency_summary(&data).await;
    assert_eq!(first.rows, cells);
    assert!(summary_files(&data).iter().all(|f| f.len() == 1), "one summary file per hour");
    assert_eq!(summarize(&files).unwrap(), SummaryReport::default(), "nothing changed, nothing rebuilt");

    // Late events for the first hour (another seed: new ids, same minutes).
    let (late, _, _) = common::generated_lines_from(start, 2_000, 21, 0);
    import(&writer, &late).await;
    writer.flush().await.unwrap();
    let again = summarize(&files).unwrap();
    assert!(again.hours_built >= 1 && again.hours_built < hours, "only the hours with late events: {again:?}");
    // The rebuilt hours' old summaries are superseded: moved aside (for queries
    // that listed them), until their grace has passed.
    assert_eq!(again.superseded, again.hours_built);
    assert!(summary_files(&data).iter().all(|f| f.len() == 1), "one summary file per hour");
    check_latency_summary(&data).await;
    assert_eq!(summarize(&files).unwrap(), SummaryReport::default(), "nothing changed, nothing rebuilt");
    assert_eq!(purge_superseded(&data, Duration::from_secs(3600)).unwrap(), 0, "kept within the grace period");
    assert_eq!(purge_superseded(&data, Duration::ZERO).unwrap(), again.hours_built, "removed after it");

    let policy = CompactionPolicy { settle: Duration::ZERO, closed_hour_grace: Duration::ZERO, ..CompactionPolicy::default() };
    let combine = |t, b| toolpulse_ingest::rollup::combine(t, b).map_err(|e| e.to_string());
    assert!(compact_table_with(&files, Table::Rollups1m, &policy, Some(&combine)).unwrap().merges > 0);
    assert_eq!(summarize(&files).unwrap().hours_built, hours, "compaction renamed every hour's rollup files");
    check_latency_summary(&data).await;
    drop(writer);
    task.await.unwrap();
}
