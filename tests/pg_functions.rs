//! PostgreSQL's ordered-set aggregates (`percentile_disc`, `mode`), as psycopg,
//! psql and the HTTP SQL endpoint send them, against DuckDB's answers over the
//! same Parquet files: the exact latency percentiles of each server, the most
//! frequent tool, and the direction of the ordering.

mod common;

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
