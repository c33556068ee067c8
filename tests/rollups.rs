//! Rollups written by the ingest writer agree with the raw rows they summarise:
//! counts exactly, and p99 over an hour within HDR precision of the exact value
//! (and equal to the raw HDR percentile), even when a minute spans several flushes.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use toolpulse_ingest::import::import_ndjson;
use toolpulse_ingest::{IngestMetrics, IngestWriter, WriterConfig};
use toolpulse_query::{QueryConfig, QueryEngine};
use toolpulse_schemas::DecodeLimits;
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_match_raw_counts_and_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    data.create().unwrap();
    let files = Arc::new(FileWriter::new(data.clone(), WriteOptions::default()));
    // Small flushes, so most minutes are split over several rollup rows.
    let wcfg = WriterConfig { flush_rows: 7000, flush_age: Duration::from_millis(100), ..WriterConfig::default() };
    let (writer, task) = IngestWriter::spawn(files, wcfg, IngestMetrics::default());
    let (lines, good, _) = common::generated_lines(60_000, 5, 0);
    let mut body = lines.join(&b'\n');
    body.push(b'\n');
    let report = import_ndjson(std::io::Cursor::new(body), "test", &writer, DecodeLimits::default()).await.unwrap();
    assert_eq!(report.accepted as usize, good.len());
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
