//! SQL written for PostgreSQL, against the answers of engines that are not
//! ours: PostgreSQL's ordered-set aggregates (`percentile_disc`, `mode`) as
//! psycopg, psql and the HTTP SQL endpoint send them, against DuckDB over the
//! same Parquet files (the exact latency percentiles of each server, the most
//! frequent tool, the direction of the ordering); and a set of PostgreSQL
//! queries (those aggregates, `to_char` templates, `format`, `width_bucket`,
//! `mod`, `div`, `pg_typeof`, `SIMILAR TO`, casts to integers, SLI ratios)
//! against a real PostgreSQL server holding the same rows, copied out with
//! `COPY … TO STDOUT`.

mod common;

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use toolpulse_serve::{RunningServer, Server};

const TOKEN: &str = "pg-functions-token";

async fn seeded(dir: &std::path::Path) -> RunningServer {
    let s = Server::start(common::server_config(dir, TOKEN)).await.unwrap();
    let (lines, _, _) = common::generated_lines(20_000, 41, 0);
    for chunk in lines.chunks(5000) {
        let r = reqwest::Client::new().post(format!("http://{}/v1/events", s.addr)).bearer_auth(TOKEN).body(chunk.join(&b'\n')).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }
    s
}

/// Rows of `sql` through psycopg 3 (the extended protocol), as JSON arrays.
fn psycopg(s: &RunningServer, sql: &str) -> Vec<Vec<Value>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pg_query.py");
    let port = s.pg_addr.expect("the PostgreSQL endpoint is enabled").port().to_string();
    let out = Command::new("python3").args([script, &port, TOKEN, sql]).output().unwrap();
    assert!(out.status.success(), "psycopg: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Rows of `sql` through psql (the simple protocol), `|`-separated.
fn psql(s: &RunningServer, sql: &str) -> Vec<String> {
    let out = common::psql_command(s, TOKEN).args(["-t", "-c", sql]).output().expect("psql is installed by scripts/setup.sh");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

async fn http_sql(s: &RunningServer, sql: &str) -> Vec<Value> {
    let r = reqwest::Client::new().post(format!("http://{}/api/v1/sql", s.addr)).bearer_auth(TOKEN).body(sql.to_owned()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Vec<Value>>().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentile_disc_and_mode_match_duckdb_over_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    let quantiles = [0.5, 0.9, 0.99, 0.999];
    let columns = |f: &dyn Fn(f64) -> String| quantiles.iter().map(|&q| f(q)).collect::<Vec<_>>().join(", ");

    // Exact latency percentiles per server, through psycopg.
    let ours = psycopg(
        &s,
        &format!(
            "SELECT server, count(*), {} FROM tool_calls GROUP BY server ORDER BY server",
            columns(&|q| format!("percentile_disc({q}) WITHIN GROUP (ORDER BY duration_ms)"))
        ),
    );
    let queries = [
        format!("SELECT server, count(*), {} FROM tool_calls GROUP BY server ORDER BY server", columns(&|q| format!("quantile_disc(duration_ms, {q})"))),
        // The most frequent tool of each server, the first by name among ties:
        // PostgreSQL's `mode`, spelled out with counts.
        "SELECT server, tool FROM (SELECT server, tool, row_number() OVER (PARTITION BY server ORDER BY count(*) DESC, tool) AS r \
         FROM tool_calls GROUP BY server, tool) WHERE r = 1 ORDER BY server"
            .to_owned(),
        "SELECT outcome, percentile_disc(0.25) WITHIN GROUP (ORDER BY duration_ms DESC) FROM tool_calls GROUP BY outcome ORDER BY outcome".to_owned(),
    ];
    let [theirs, their_modes, their_desc] = <[_; 3]>::try_from(common::duckdb(dir.path(), &queries)).unwrap();
    assert_eq!(ours.len(), theirs.len(), "servers: {ours:?} against {theirs:?}");
    assert!(ours.len() >= 5, "the fleet has several servers: {ours:?}");
    for (row, expected) in ours.iter().zip(&theirs) {
        assert_eq!(row[..2], expected[..2], "server and count");
        for (got, want) in row[2..].iter().zip(&expected[2..]) {
            assert_eq!(got.as_f64(), want.as_f64(), "{}: {row:?} against DuckDB's {expected:?}", row[0]);
        }
    }

    // The most frequent tool, through psql.
    let modes = psql(&s, "SELECT server, mode() WITHIN GROUP (ORDER BY tool) FROM tool_calls GROUP BY server ORDER BY server");
    let expected: Vec<String> = their_modes.iter().map(|r| format!("{}|{}", r[0].as_str().unwrap(), r[1].as_str().unwrap())).collect();
    assert_eq!(modes, expected);

    // A descending ordering counts from the top, over HTTP.
    let rows = http_sql(&s, "SELECT outcome, percentile_disc(0.25) WITHIN GROUP (ORDER BY duration_ms DESC) AS p FROM tool_calls GROUP BY outcome ORDER BY outcome").await;
    assert_eq!(rows.len(), their_desc.len());
    for (row, expected) in rows.iter().zip(&their_desc) {
        assert_eq!((&row["outcome"], row["p"].as_f64()), (&expected[0], expected[1].as_f64()), "{row} against DuckDB's {expected:?}");
    }
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_similar_to_pattern_bound_as_a_parameter_matches_as_sql_says() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    // The extended protocol binds the pattern after planning.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pg_query.py");
    let port = s.pg_addr.unwrap().port().to_string();
    let sql = "SELECT count(*) FROM tool_calls WHERE tool SIMILAR TO %s";
    let out = Command::new("python3").args([script, &port, TOKEN, sql, "get\\_%"]).output().unwrap();
    assert!(out.status.success(), "psycopg: {}", String::from_utf8_lossy(&out.stderr));
    let ours: Vec<Vec<Value>> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let theirs = common::duckdb(dir.path(), &["SELECT count(*) FROM tool_calls WHERE tool LIKE 'get\\_%' ESCAPE '\\'".to_owned()]);
    assert_eq!(ours, theirs[0]);
    assert!(ours[0][0].as_i64().unwrap() > 0, "some tools start with get_: {ours:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_fraction_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    let sql = "SELECT percentile_disc(1.5) WITHIN GROUP (ORDER BY duration_ms) FROM tool_calls";
    let out = common::psql_command(&s, TOKEN).args(["-c", sql]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("percentile value 1.5 is not between 0 and 1"), "psql: {err}");
    s.shutdown().await.unwrap();
}

/// PostgreSQL queries whose answers must be the same from toolpulse and from
/// PostgreSQL, row by row: the same text, or the same number (see
/// [`same_values`]). Ordered by numbers or by times, or by text in the `C`
/// collation that PostgreSQL's table is given.
const SAME_AS_POSTGRES: &[&str] = &[
    "SELECT server, count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms), \
     percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ms), percentile_disc(0.999) WITHIN GROUP (ORDER BY duration_ms DESC) \
     FROM tool_calls GROUP BY server ORDER BY count(*), server",
    "SELECT server, percentile_disc(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP (ORDER BY duration_ms) FROM tool_calls GROUP BY server ORDER BY count(*), server",
    "SELECT server, mode() WITHIN GROUP (ORDER BY tool), mode() WITHIN GROUP (ORDER BY outcome DESC) FROM tool_calls GROUP BY server ORDER BY count(*), server",
    // The success-rate SLI (server faults only) and the auth-failure rate of each server.
    "SELECT server, count(*) FILTER (WHERE outcome = 'success')::float8 \
     / count(*) FILTER (WHERE outcome IN ('success', 'tool_error', 'protocol_error', 'timeout')), \
     count(*) FILTER (WHERE outcome = 'auth_failure')::float8 / count(*) FROM tool_calls GROUP BY server ORDER BY count(*), server",
    "SELECT to_char(timestamp, 'YYYY-MM-DD HH24:MI:SS.US TZ OF'), to_char(timestamp, 'FMDay, FMDDth FMMonth Y,YYY HH12:MI:SS a.m. (IW/ID/IDDD Q J)') \
     FROM tool_calls ORDER BY timestamp LIMIT 200",
    "SELECT to_char(timestamp, 'Dy DD Mon HH24\"h\" W WW D DDD CC SSSS MS FF3 RM'), count(*) FROM tool_calls GROUP BY 1 ORDER BY min(timestamp)",
    "SELECT to_char(percentile_disc(0.5) WITHIN GROUP (ORDER BY timestamp), 'YYYY-MM-DD HH24:MI:SS.US'), \
     to_char(min(timestamp), 'yyyy-mm-dd hh24:mi') FROM tool_calls",
    "SELECT format('%-10s|%s|%L|%s|%s|%I|%2$s', server, tool, outcome, duration_ms, timestamp, server || '-x') FROM tool_calls ORDER BY timestamp LIMIT 100",
    "SELECT count(*) FILTER (WHERE tool SIMILAR TO '(get|list)\\_%'), count(*) FILTER (WHERE tool SIMILAR TO '%#_[0-4]' ESCAPE '#'), \
     count(*) FILTER (WHERE server NOT SIMILAR TO '[a-g]%'), count(*) FILTER (WHERE tool SIMILAR TO 'get'), count(*) FROM tool_calls",
    "SELECT tool, mod(length(tool), 3), div(length(tool), 2), mod(-length(tool), 4), div(duration_ms::numeric, 10), mod(duration_ms::int, 7) \
     FROM tool_calls ORDER BY timestamp LIMIT 50",
    "SELECT pg_typeof(count(*)), pg_typeof(avg(duration_ms)), pg_typeof(server), pg_typeof(min(timestamp)), pg_typeof(min(duration_ms)::int), \
     pg_typeof(percentile_disc(ARRAY[0.5]) WITHIN GROUP (ORDER BY duration_ms)) FROM tool_calls GROUP BY server ORDER BY count(*), server",
    "SELECT width_bucket(duration_ms, 0, 1000, 10), width_bucket(duration_ms, 5000, 10, 4), count(*) FROM tool_calls GROUP BY 1, 2 ORDER BY 1, 2",
    // Floats cast to integers round (ties to even), where a plain Arrow cast truncates.
    "SELECT server, avg(duration_ms)::int, sum((duration_ms / 10)::int), sum((duration_ms / 4)::bigint), variance(duration_ms)::bigint, \
     every(duration_ms >= 0) FROM tool_calls GROUP BY server ORDER BY count(*), server",
];

/// The answers of `queries` in a throwaway PostgreSQL cluster (Debian's
/// `pg_virtualenv`) holding `tool_calls` as read from `csv`: one block of
/// output lines per query.
fn postgres(dir: &Path, csv: &Path, queries: &[&str]) -> Vec<Vec<String>> {
    let script = dir.join("postgres.sql");
    let setup = format!(
        "SET TimeZone = 'UTC';\n\
         CREATE TABLE tool_calls (server text COLLATE \"C\", tool text COLLATE \"C\", outcome text COLLATE \"C\", duration_ms float8, timestamp timestamptz);\n\
         \\copy tool_calls FROM '{}' WITH (FORMAT csv)\n\\echo ===\n",
        csv.display()
    );
    std::fs::write(&script, setup + &separated(queries)).unwrap();
    let out = Command::new("pg_virtualenv")
        .args(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&script)
        .output()
        .expect("pg_virtualenv (postgresql-common) is installed by scripts/setup.sh");
    assert!(out.status.success(), "postgresql: {}", String::from_utf8_lossy(&out.stderr));
    // pg_virtualenv says what it does on standard output too, before the answers.
    let out = String::from_utf8(out.stdout).unwrap();
    answers(out.split_once("===\n").map_or("", |(_, answers)| answers))
}

/// The queries, each followed by a line `---`.
fn separated(queries: &[&str]) -> String {
    queries.iter().map(|q| format!("{q};\n\\echo ---\n")).collect()
}

fn answers(output: &str) -> Vec<Vec<String>> {
    let mut blocks = vec![Vec::new()];
    for line in output.lines() {
        if line == "---" {
            blocks.push(Vec::new());
        } else if let Some(block) = blocks.last_mut() {
            block.push(line.to_owned());
        }
    }
    blocks.pop();
    blocks
}

/// Whether two `|`-separated rows hold the same values: the same text, or
/// the same number (the PostgreSQL endpoint writes a whole float8 as `1.0`,
/// where PostgreSQL writes `1`).
fn same_values(row: &str, expected: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (row.split('|').collect(), expected.split('|').collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| x == y || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(x), Ok(y)) if x == y))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_sql_answers_as_postgresql_does_on_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    // PostgreSQL keeps microseconds: the rows go over cut to them, and the queries
    // below never show what lies beyond.
    let export = "COPY (SELECT server, tool, outcome, duration_ms, date_trunc('microsecond', timestamp) FROM tool_calls) TO STDOUT WITH (FORMAT csv)";
    let out = common::psql_command(&s, TOKEN).args(["-c", export]).output().unwrap();
    assert!(out.status.success(), "COPY: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 20_000);
    let csv = dir.path().join("tool_calls.csv");
    std::fs::write(&csv, &out.stdout).unwrap();

    let theirs = postgres(dir.path(), &csv, SAME_AS_POSTGRES);
    let script = dir.path().join("ours.sql");
    std::fs::write(&script, separated(SAME_AS_POSTGRES)).unwrap();
    let out = common::psql_command(&s, TOKEN).args(["-t", "-q", "-f"]).arg(&script).output().unwrap();
    assert!(out.status.success(), "toolpulse: {}", String::from_utf8_lossy(&out.stderr));
    let ours = answers(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(ours.len(), SAME_AS_POSTGRES.len());
    for ((query, ours), theirs) in SAME_AS_POSTGRES.iter().zip(&ours).zip(&theirs) {
        assert!(!ours.is_empty(), "{query}: no rows to compare");
        assert_eq!(ours.len(), theirs.len(), "{query}: rows {ours:?} against PostgreSQL's {theirs:?}");
        for (row, expected) in ours.iter().zip(theirs) {
            assert!(same_values(row, expected), "{query}: {row:?} against PostgreSQL's {expected:?}");
        }
    }
    s.shutdown().await.unwrap();
}
