//! The query engine over a real store written by the storage crate: time
//! predicates open only the matching hour partitions, HDR percentiles agree with
//! exact ones, and the sandbox refuses what it must, each with a clear error.
//! Durations read back exactly whatever form their file stored them in.

use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::physical_plan::displayable;
use rand::SeedableRng;
use rand_distr::Distribution;
use toolpulse_gen::{GenSpec, Generator};
use toolpulse_query::{QueryConfig, QueryEngine, QueryError};
use toolpulse_schemas::EventBatchBuilder;
use toolpulse_storage::layout::{HourPartition, NANOS_PER_HOUR};
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter, Table};

const START_NS: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

/// Writes `per_hour` generated events into each of `hours` hours from START_NS,
/// with durations drawn from `durations` when given.
fn store(dir: &std::path::Path, hours: i64, per_hour: usize, durations: Option<&[f64]>) {
    let files = FileWriter::new(DataDir::new(dir), WriteOptions::default());
    files.data_dir().create().unwrap();
    let rate = per_hour as f64 / 3600.0;
    let mut g = Generator::new(GenSpec { start_ns: START_NS, rate, ..GenSpec::default() });
    let mut i = 0;
    for _ in 0..hours {
        let mut b = EventBatchBuilder::with_capacity(per_hour);
        for _ in 0..per_hour {
            let mut e = g.next_event();
            if let Some(d) = durations {
                e.duration_ms = d[i % d.len()];
            }
            i += 1;
            b.append(&e);
        }
        files.write(Table::ToolCalls, &[b.finish()], &[]).unwrap();
    }
}

async fn engine(dir: &std::path::Path, cfg: QueryConfig) -> QueryEngine {
    QueryEngine::open(DataDir::new(dir), cfg).await.unwrap()
}

fn ts(ns: i64) -> String {
    toolpulse_schemas::timestamp::format_rfc3339(ns)
}

fn single_i64(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn one_hour_of_a_thirty_day_store_opens_only_that_hour() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 30 * 24, 40, None);
    let e = engine(dir.path(), QueryConfig::default()).await;
    let hour = START_NS + 17 * 24 * NANOS_PER_HOUR + 5 * NANOS_PER_HOUR;
    let sql = format!(
        "SELECT count(*) FROM tool_calls WHERE timestamp >= '{}' AND timestamp < '{}'",
        ts(hour),
        ts(hour + NANOS_PER_HOUR)
    );
    let df = e.plan_user_sql(&sql).await.unwrap();
    let plan = df.clone().create_physical_plan().await.unwrap();
    let text = displayable(plan.as_ref()).indent(true).to_string();
    let files: Vec<&str> = text.split(|c: char| c == '[' || c == ']' || c == ',' || c.is_whitespace()).filter(|s| s.ends_with(".parquet")).collect();
    let part = HourPartition::of_ns(hour).dir_name();
    assert!(!files.is_empty(), "the plan reads some file:\n{text}");
    assert!(files.iter().all(|f| f.contains(&part)), "only {part} is opened:\n{text}");
    assert_eq!(single_i64(&df.collect().await.unwrap()), 40);

    // Without a time predicate every partition is read.
    let all = e.run_user_sql("SELECT count(*) FROM tool_calls", None).await.unwrap().0;
    assert_eq!(single_i64(&all), 30 * 24 * 40);
}

#[tokio::test]
async fn files_written_after_a_query_are_seen_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 1, 25, None);
    let e = engine(dir.path(), QueryConfig::default()).await;
    let count = "SELECT count(*) FROM tool_calls";
    assert_eq!(single_i64(&e.run_user_sql(count, None).await.unwrap().0), 25);
    // A flush adds a file to the hour the engine has already listed.
    store(dir.path(), 1, 25, None);
    assert_eq!(single_i64(&e.run_user_sql(count, None).await.unwrap().0), 50);
}

/// Nearest-rank percentile of sorted values.
fn exact(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `n` log-normal durations in ms (µ, σ of the underlying normal), rounded to µs.
fn lognormal_ms(seed: u64, mu: f64, sigma: f64, n: usize) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let lognormal = rand_distr::LogNormal::<f64>::new(mu, sigma).unwrap();
    (0..n).map(|_| (lognormal.sample(&mut rng) * 1000.0).round() / 1000.0).collect()
}

#[tokio::test]
async fn hdr_percentiles_match_exact_ones_within_precision() {
    let durations = lognormal_ms(3, 4.0, 1.1, 50_000);
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 2, 25_000, Some(&durations));
    let e = engine(dir.path(), QueryConfig::default()).await;
    let mut sorted = durations.clone();
    sorted.sort_by(f64::total_cmp);
    for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
        let direct = e.run_user_sql(&format!("SELECT hdr_percentile(duration_ms, {q}) FROM tool_calls"), None).await.unwrap().0;
        // Per-minute, per-tool histograms, merged back into one quantile two ways.
        let minutes = "(SELECT date_trunc('minute', timestamp) AS m, tool, hdr_histogram(duration_ms) AS h FROM tool_calls GROUP BY 1, 2)";
        let merged = e.run_user_sql(&format!("SELECT hdr_quantile(hdr_merge(h), {q}) FROM {minutes}"), None).await.unwrap().0;
        let of_histograms = e.run_user_sql(&format!("SELECT hdr_percentile(h, {q}) FROM {minutes}"), None).await.unwrap().0;
        let want = exact(&sorted, q);
        for (how, got) in [("direct", &direct), ("merged minutes", &merged), ("percentile of histograms", &of_histograms)] {
            let v = got[0].column(0).as_primitive::<Float64Type>().value(0);
            let err = (v - want).abs() / want;
            assert!(err <= 0.001 + 0.001 / want, "{how} p{q}: hdr {v} vs exact {want} (rel err {err})");
        }
    }
}

/// Many groups (each minute × tool): every group's percentile equals the exact
/// one within precision, whichever way it is computed.
#[tokio::test]
async fn grouped_hdr_percentiles_match_exact_ones() {
    let durations = lognormal_ms(5, 3.0, 1.3, 30_000);
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 3, 10_000, Some(&durations));
    let e = engine(dir.path(), QueryConfig::default()).await;
    let sql = "SELECT concat_ws('/', CAST(date_trunc('minute', timestamp) AS VARCHAR), tool) AS k, \
               hdr_percentile(duration_ms, 0.9) AS direct, hdr_quantile(hdr_histogram(duration_ms), 0.9) AS via_hist, \
               array_agg(duration_ms) AS all_ms FROM tool_calls GROUP BY 1";
    let batches = e.run_user_sql(sql, None).await.unwrap().0;
    let mut groups = 0;
    for b in &batches {
        let (direct, via) = (b.column(1).as_primitive::<Float64Type>(), b.column(2).as_primitive::<Float64Type>());
        let all = b.column(3).as_list::<i32>();
        for i in 0..b.num_rows() {
            let mut ds: Vec<f64> = all.value(i).as_primitive::<Float64Type>().values().to_vec();
            ds.sort_by(f64::total_cmp);
            let want = exact(&ds, 0.9);
            for (how, got) in [("direct", direct.value(i)), ("via histogram", via.value(i))] {
                assert!((got - want).abs() <= want * 0.001 + 0.001, "group {i} {how}: {got} vs exact {want}");
            }
            groups += 1;
        }
    }
    assert!(groups > 20, "many groups ({groups})");
}

#[tokio::test]
async fn the_sandbox_refuses_writes_and_file_access() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 1, 100, None);
    let e = engine(dir.path(), QueryConfig::default()).await;
    let refused = [
        "INSERT INTO tool_calls SELECT * FROM tool_calls",
        "DELETE FROM tool_calls",
        "CREATE TABLE x AS SELECT 1",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "COPY (SELECT 1) TO '/tmp/toolpulse-escape.csv'",
        "DROP VIEW tool_calls_last_hour",
        "SET datafusion.execution.batch_size = 1",
    ];
    for sql in refused {
        match e.run_user_sql(sql, None).await {
            Err(QueryError::Refused(msg)) => assert!(msg.contains("not allowed"), "{sql}: {msg}"),
            other => panic!("{sql}: expected a refusal, got {:?}", other.map(|r| r.0.len())),
        }
    }
    assert!(!std::path::Path::new("/tmp/toolpulse-escape.csv").exists());
    for sql in ["SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM '/etc/passwd'", "SELECT * FROM read_parquet('/etc/passwd')"] {
        let err = e.run_user_sql(sql, None).await.expect_err(sql);
        assert!(err.is_user_error(), "{sql}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_rows_memory_and_time() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 3, 20_000, None);
    let e = engine(dir.path(), QueryConfig::default()).await;
    let (rows, cut) = e.run_user_sql("SELECT server FROM tool_calls", Some(7)).await.unwrap();
    assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 7);
    assert!(cut);
    let (_, cut) = e.run_user_sql("SELECT 1", Some(7)).await.unwrap();
    assert!(!cut);

    let small = engine(dir.path(), QueryConfig { memory_limit_bytes: 64 << 10, ..QueryConfig::default() }).await;
    let err = small.run_user_sql("SELECT array_agg(user_id) FROM tool_calls GROUP BY server", None).await.unwrap_err();
    assert!(err.to_string().contains("Resources exhausted") || err.to_string().contains("memory"), "{err}");
    assert!(err.is_user_error());

    let slow = engine(dir.path(), QueryConfig { timeout: Duration::from_millis(200), ..QueryConfig::default() }).await;
    // 3.6e9 pairs: far longer than the timeout.
    let query = slow.run_user_sql("SELECT count(*) FROM tool_calls a, tool_calls b WHERE a.duration_ms > b.duration_ms", None);
    let err = tokio::time::timeout(Duration::from_secs(60), query).await.expect("the query timeout fires").unwrap_err();
    assert!(matches!(err, QueryError::Timeout(_)), "{err}");
}

#[tokio::test]
async fn views_users_expect_exist() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), 1, 10, None);
    let e = engine(dir.path(), QueryConfig::default()).await;
    let (b, _) = e.run_user_sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1", None).await.unwrap();
    let names: Vec<String> = b.iter().flat_map(|b| b.column(0).as_string::<i32>().iter().flatten().map(str::to_owned).collect::<Vec<_>>()).collect();
    for t in ["dead_letters", "tool_calls", "tool_calls_last_day", "tool_calls_last_hour"] {
        assert!(names.iter().any(|n| n == t), "{t} in {names:?}");
    }
    // The store was written for 2026-01-01: nothing in the last hour.
    let (b, _) = e.run_user_sql("SELECT count(*) FROM tool_calls_last_hour", None).await.unwrap();
    assert_eq!(single_i64(&b), 0);
}

/// One file per entry of `durations` in the first hour of a fresh store: generated
/// events with those durations.
fn files_of_one_hour(durations: &[Vec<f64>]) -> (tempfile::TempDir, FileWriter) {
    let dir = tempfile::tempdir().unwrap();
    let files = FileWriter::new(DataDir::new(dir.path()), WriteOptions::default());
    files.data_dir().create().unwrap();
    let mut g = Generator::new(GenSpec { start_ns: START_NS, rate: 10.0, ..GenSpec::default() });
    for file in durations {
        let mut b = EventBatchBuilder::with_capacity(file.len());
        for d in file {
            let mut e = g.next_event();
            e.duration_ms = *d;
            b.append(&e);
        }
        files.write(Table::ToolCalls, &[b.finish()], &[]).unwrap();
    }
    (dir, files)
}

/// Files of one hour whose durations are stored differently (decimals at two
/// scales, and doubles that no decimal holds) read back as the very same
/// doubles, filter alike, and still do after compaction merges them.
#[tokio::test]
async fn durations_read_back_exactly_whichever_form_their_file_stored() {
    let forms: [Vec<f64>; 3] = [
        (0..500).map(|i| f64::from(i * 1001) / 1e3).collect(), // µs: scale 3
        (0..500).map(|i| f64::from(i * 7) / 1e6).collect(),    // ns: scale 6
        (0..500).map(|i| f64::from(i) / 3.0 + 0.1).collect(),  // no decimal: doubles
    ];
    let (dir, files) = files_of_one_hour(&forms);
    let mut want: Vec<u64> = forms.iter().flatten().map(|d| d.to_bits()).collect();
    want.sort_unstable();
    let above_one = forms.iter().flatten().filter(|d| **d > 1.0).count() as i64;
    let mut stored_as: Vec<String> = files
        .data_dir()
        .list_files(Table::ToolCalls)
        .unwrap()
        .iter()
        .map(|(path, _)| {
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
            reader.schema().field_with_name("duration_ms").unwrap().data_type().to_string()
        })
        .collect();
    stored_as.sort();
    assert_eq!(stored_as, ["Decimal128(18, 3)", "Decimal128(18, 6)", "Float64"]);

    assert_durations(dir.path(), &want, above_one, "three files").await;
    let policy = toolpulse_storage::compact::CompactionPolicy { settle: Duration::ZERO, ..Default::default() };
    let report = toolpulse_storage::compact::compact_table(&files, Table::ToolCalls, &policy).unwrap();
    assert_eq!(report.files_in, 3);
    assert_durations(dir.path(), &want, above_one, "compacted").await;
}

/// The stored durations, as sorted bit patterns, are `want`, and `above_one` of them exceed 1 ms.
async fn assert_durations(dir: &std::path::Path, want: &[u64], above_one: i64, when: &str) {
    let e = engine(dir, QueryConfig::default()).await;
    let rows = e.run_user_sql("SELECT duration_ms FROM tool_calls", None).await.unwrap().0;
    let mut got: Vec<u64> = rows.iter().flat_map(|b| b.column(0).as_primitive::<Float64Type>().values().iter().map(|d| d.to_bits()).collect::<Vec<_>>()).collect();
    got.sort_unstable();
    assert_eq!(got, want, "{when}: durations read back bit for bit");
    let n = e.run_user_sql("SELECT count(*) FROM tool_calls WHERE duration_ms > 1.0", None).await.unwrap().0;
    assert_eq!(single_i64(&n), above_one, "{when}: a filter on duration_ms");
}

/// A scan planned before compaction merged its files away still reads them
/// (compaction keeps them under `_superseded/` for a while) and gives the same
/// answer. Once they are purged, such a scan fails with an error the engine
/// recognises as a vanished file; planned again, the query reads the merged file.
#[tokio::test]
async fn a_query_planned_before_compaction_reads_the_merged_away_files_and_after_their_purge_runs_again() {
    let (dir, files) = files_of_one_hour(&[vec![1.5; 100], vec![2.5; 100], vec![3.5; 100]]);
    let e = engine(dir.path(), QueryConfig::default()).await;
    // Reads every row (a bare count would come from the files' statistics).
    let sql = "SELECT count(*), sum(CAST(duration_ms * 1000 AS BIGINT)) FROM tool_calls WHERE duration_ms >= 0";
    let answer = |b: &[RecordBatch]| (single_i64(b), b[0].column(1).as_primitive::<Int64Type>().value(0));
    let before = answer(&e.run_user_sql(sql, None).await.unwrap().0);
    assert_eq!(before, (300, 750_000));
    let df = e.context().sql(sql).await.unwrap();
    let listed = df.clone().create_physical_plan().await.unwrap();
    let listed_too = df.clone().create_physical_plan().await.unwrap();

    let policy = toolpulse_storage::compact::CompactionPolicy { settle: Duration::ZERO, ..Default::default() };
    assert_eq!(toolpulse_storage::compact::compact_table(&files, Table::ToolCalls, &policy).unwrap().files_in, 3);

    let during_grace = datafusion::physical_plan::collect(listed, e.context().task_ctx()).await.unwrap();
    assert_eq!(answer(&during_grace), before);

    assert_eq!(toolpulse_storage::superseded::purge_superseded(files.data_dir(), Duration::ZERO).unwrap(), 3);
    let stale = datafusion::physical_plan::collect(listed_too, e.context().task_ctx()).await.unwrap_err();
    assert!(toolpulse_query::vanished::is_vanished_file(&stale), "not recognised: {stale}");
    let fresh = toolpulse_query::vanished::collect(&df).await.unwrap();
    assert_eq!(answer(&fresh), before);
}

/// Compaction renames its merged file in, then its inputs out. A scan planned
/// while both are in the partition waits for that swap to end, and reads the
/// merged file alone: no row is counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_during_a_swap_of_files_waits_for_it_and_counts_each_row_once() {
    let (dir, files) = files_of_one_hour(&[vec![1.5; 100], vec![2.5; 100], vec![3.5; 100]]);
    let e = engine(dir.path(), QueryConfig::default()).await;
    let sql = "SELECT count(*) FROM tool_calls WHERE duration_ms >= 0";
    assert_eq!(single_i64(&e.run_user_sql(sql, None).await.unwrap().0), 300);
    let inputs: Vec<_> = files.data_dir().list_files(Table::ToolCalls).unwrap().into_iter().map(|(path, _)| path).collect();
    let rows: Vec<RecordBatch> =
        inputs.iter().flat_map(|p| toolpulse_storage::stored_form::read_file(Table::ToolCalls, p).unwrap()).collect();

    // Half way through a swap: the merged file is in, its inputs still there.
    let swap = toolpulse_storage::swap::SwapSequence::of(files.data_dir()).begin();
    files.write(Table::ToolCalls, &rows, &[]).unwrap();
    let query = tokio::spawn(async move { single_i64(&e.run_user_sql(sql, None).await.unwrap().0) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!query.is_finished(), "the scan waits for the swap to end");
    toolpulse_storage::superseded::supersede(files.data_dir(), &inputs).unwrap();
    drop(swap);
    assert_eq!(query.await.unwrap(), 300, "each row once");
}
