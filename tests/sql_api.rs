//! Ad-hoc SQL over HTTP and from the CLI against a running server: the same
//! query gives the same rows both ways (and from the CLI reading the data dir);
//! writes are refused; answers are capped at the row limit; `latency_1m`
//! follows the events the server receives.

mod common;

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use toolpulse_serve::{RunningServer, Server};

const TOKEN: &str = "sql-token";
const QUERY: &str = "SELECT server, outcome, count(*) AS calls, round(hdr_percentile(duration_ms, 0.99), 3) AS p99_ms \
                     FROM tool_calls GROUP BY server, outcome ORDER BY server, outcome";

async fn post_events(s: &RunningServer, n: usize, seed: u64) {
    let (lines, _, _) = common::generated_lines(n, seed, 0);
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/events", s.addr))
        .bearer_auth(TOKEN)
        .body(lines.join(&b'\n'))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn start_with_events(dir: &std::path::Path) -> RunningServer {
    let mut cfg = common::server_config(dir, TOKEN);
    cfg.query.max_rows = 5;
    cfg.compaction.summary_interval = std::time::Duration::from_millis(200);
    let s = Server::start(cfg).await.unwrap();
    post_events(&s, 5000, 77).await;
    s
}

fn sql_request(s: &RunningServer, body: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().post(format!("http://{}/api/v1/sql", s.addr)).bearer_auth(TOKEN).body(body.to_owned())
}

fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_toolpulse")).args(args).output().unwrap();
    assert!(out.status.success(), "toolpulse {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_cli_answer_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_events(dir.path()).await;
    let limited = format!("{QUERY} LIMIT 5");

    let r = sql_request(&s, &limited).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let http_rows: Value = r.json().await.unwrap();
    assert_eq!(http_rows.as_array().unwrap().len(), 5);
    assert!(http_rows[0]["calls"].as_u64().unwrap() > 0);

    let url = format!("http://{}", s.addr);
    let remote: Value = serde_json::from_str(&cli(&["sql", &limited, "--format", "json", "--server", &url, "--token", TOKEN])).unwrap();
    let local: Value =
        serde_json::from_str(&cli(&["sql", &limited, "--format", "json", "--data-dir", dir.path().to_str().unwrap()])).unwrap();
    assert_eq!(http_rows, remote, "HTTP and CLI (via the server)");
    assert_eq!(http_rows, local, "HTTP and CLI (reading the data dir)");

    // The whole answer has more rows than the server's limit of 5.
    let r = sql_request(&s, QUERY).header("accept", "text/csv").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("x-toolpulse-truncated").map(|v| v.to_str().unwrap()), Some("true"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().next(), Some("server,outcome,calls,p99_ms"));
    assert_eq!(csv.lines().count(), 6, "header and five rows:\n{csv}");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_and_the_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_events(dir.path()).await;
    let r = reqwest::Client::new().post(format!("http://{}/api/v1/sql", s.addr)).body("SELECT 1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for sql in ["INSERT INTO tool_calls SELECT * FROM tool_calls", "COPY (SELECT 1) TO '/tmp/x.csv'", "CREATE VIEW v AS SELECT 1"] {
        let r = sql_request(&s, sql).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{sql}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errorType"], "refused");
        assert!(v["error"].as_str().unwrap().contains("read-only"), "{v}");
    }
    // EXPLAIN (ANALYZE) reads: it answers its plan, whatever the row limit.
    for sql in ["EXPLAIN SELECT count(*) FROM tool_calls", "EXPLAIN ANALYZE SELECT count(*) FROM tool_calls"] {
        let r = sql_request(&s, sql).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{sql}");
        let rows: Value = r.json().await.unwrap();
        assert!(rows.as_array().unwrap().iter().any(|r| r["plan"].as_str().is_some_and(|p| p.contains("Exec"))), "{sql}: {rows}");
    }
    let r = sql_request(&s, "SELEC nonsense").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/sql", s.addr))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"query": "SELECT count(*) AS n FROM tool_calls"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["n"], 5000);
    s.shutdown().await.unwrap();
}

/// Users look calls up by the ids they hold, as text: an event id as it was
/// sent (a UUID, or any other id such as a ULID), trace and span ids in hex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_found_by_their_ids_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_events(dir.path()).await;
    let at = chrono::Utc::now().to_rfc3339();
    let uuid = "3f635fd3-ae03-4b08-898b-c27541fc61c7";
    let (trace, span) = ("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7");
    let body = format!(
        "{{\"event_id\":\"{uuid}\",\"timestamp\":\"{at}\",\"duration_ms\":1,\"server\":\"ids\",\"tool\":\"by-uuid\",\"outcome\":\"success\",\"trace_id\":\"{}\",\"span_id\":\"{span}\"}}\n\
         {{\"event_id\":\"01J9Z8Q4X0A1B2C3D4E5F6G7H8\",\"timestamp\":\"{at}\",\"duration_ms\":1,\"server\":\"ids\",\"tool\":\"by-ulid\",\"outcome\":\"success\"}}",
        trace.to_lowercase()
    );
    let r = reqwest::Client::new().post(format!("http://{}/v1/events", s.addr)).bearer_auth(TOKEN).body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tools = |sql: String| {
        let s = &s;
        async move {
            let r = sql_request(s, &sql).send().await.unwrap();
            let v: Value = r.json().await.unwrap();
            let rows = v.as_array().unwrap_or_else(|| panic!("{sql}: {v}"));
            rows.iter().map(|r| r["tool"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(tools(format!("SELECT tool FROM tool_calls WHERE event_id = '{uuid}'")).await, ["by-uuid"]);
    assert_eq!(tools("SELECT tool FROM tool_calls WHERE event_id = '01J9Z8Q4X0A1B2C3D4E5F6G7H8'".into()).await, ["by-ulid"]);
    let both = format!("SELECT tool FROM tool_calls WHERE event_id IN ('{uuid}', '01J9Z8Q4X0A1B2C3D4E5F6G7H8', 'nope') ORDER BY tool");
    assert_eq!(tools(both).await, ["by-ulid", "by-uuid"]);
    assert_eq!(tools(format!("SELECT tool FROM tool_calls WHERE trace_id = '{trace}' AND '{span}' = span_id")).await, ["by-uuid"]);
    assert_eq!(tools(format!("SELECT tool FROM tool_calls WHERE server = 'ids' AND trace_id <> '{trace}'")).await, Vec::<String>::new());
    // Text that is no id of that width is an error naming the column.
    let r = sql_request(&s, "SELECT tool FROM tool_calls WHERE span_id = 'abc'").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("span_id holds 8-byte ids: compare it with 16 hex digits, not \"abc\""), "{v}");
    s.shutdown().await.unwrap();
}

/// The README's command: `curl --data-binary` sends the raw query labelled as a
/// form (`application/x-www-form-urlencoded`); `--data-urlencode query=…`
/// sends a real form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_posts_the_query_as_raw_text_or_as_a_form() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_events(dir.path()).await;
    let url = format!("http://{}/api/v1/sql", s.addr);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let sql = "SELECT count(*) AS n FROM tool_calls WHERE duration_ms >= 0";
    let form_field = format!("query={sql}");
    for data in [["--data-binary", sql], ["--data-urlencode", form_field.as_str()]] {
        let out = Command::new("curl").args(["-sS", "--fail-with-body", "-H", &auth]).args(data).arg(&url).output().expect("curl is installed by scripts/setup.sh");
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "curl {data:?}: {body} {}", String::from_utf8_lossy(&out.stderr));
        let rows: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(rows[0]["n"], 5000, "curl {data:?}: {body}");
    }
    s.shutdown().await.unwrap();
}

/// The schema test of Grafana's PostgreSQL data source (postgresMetaQuery.ts).
const GRAFANA_IN_SEARCH_PATH: &str = "quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END \
     FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), \
     array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s)";
/// Grafana's table list.
const GRAFANA_TABLES: &str = "SELECT CASE WHEN {in_search_path} THEN quote_ident(table_name) \
     ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" FROM information_schema.tables \
     WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog', \
     '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') \
     ORDER BY CASE WHEN {in_search_path} THEN 0 ELSE 1 END, 1";
/// Grafana's column list of one table.
const GRAFANA_COLUMNS: &str = "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\" FROM information_schema.columns \
     WHERE CASE WHEN array_length(parse_ident('{table}'),1) = 2 \
     THEN quote_ident(table_schema) = (parse_ident('{table}'))[1] AND quote_ident(table_name) = (parse_ident('{table}'))[2] \
     ELSE quote_ident(table_name) = '{table}' AND {in_search_path} END";

/// Runs `psql` (Debian's postgresql-client) against the server's PostgreSQL port.
fn psql(s: &RunningServer, password: &str, sql: &str) -> std::process::Output {
    psql_session(s, password, &[sql])
}

/// Runs each of `commands` in turn (`-c` each) in one `psql` session, printing rows only.
fn psql_session(s: &RunningServer, password: &str, commands: &[&str]) -> std::process::Output {
    common::psql_command(s, password).arg("-t").args(commands.iter().flat_map(|c| ["-c", c])).output().expect("psql is installed by scripts/setup.sh")
}

/// The column names psql prints for `sql`.
fn psql_header(s: &RunningServer, sql: &str) -> String {
    let out = common::psql_command(s, TOKEN).args(["-c", sql]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reads_rows_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_events(dir.path()).await;
    // At most five rows, the HTTP answer limit of this server.
    let query = "SELECT outcome, count(*) FROM tool_calls WHERE outcome IN ('success', 'tool_error', 'denied') GROUP BY outcome ORDER BY outcome";
    let out = psql(&s, TOKEN, query);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<(String, u64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('|').map(|(o, n)| (o.to_owned(), n.trim().parse().unwrap())))
        .collect();
    let r = sql_request(&s, query).send().await.unwrap();
    let http: Value = r.json().await.unwrap();
    let want: Vec<(String, u64)> =
        http.as_array().unwrap().iter().map(|r| (r["outcome"].as_str().unwrap().to_owned(), r["count(*)"].as_u64().unwrap())).collect();
    assert_eq!(rows, want, "psql and HTTP agree");
    assert_eq!(rows.len(), 3);
    let out = psql(&s, TOKEN, "SELECT count(*) FROM tool_calls");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5000");
    // psql's catalog queries: \dt lists the store's tables.
    let out = psql(&s, TOKEN, "\\dt");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && listing.contains("tool_calls") && listing.contains("rollups_1m"), "{listing}{}", String::from_utf8_lossy(&out.stderr));

    // Grafana's PostgreSQL query builder (its postgresMetaQuery.ts): the table
    // list, then a table's columns, whose PostgreSQL type names pick the time
    // column and the numeric aggregations.
    let out = psql(&s, TOKEN, &GRAFANA_TABLES.replace("{in_search_path}", GRAFANA_IN_SEARCH_PATH));
    let tables = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && tables.lines().any(|t| t.ends_with("tool_calls")), "{tables}{}", String::from_utf8_lossy(&out.stderr));
    let table = tables.lines().find(|t| t.ends_with("tool_calls")).unwrap();
    let out = psql(&s, TOKEN, &GRAFANA_COLUMNS.replace("{table}", table).replace("{in_search_path}", GRAFANA_IN_SEARCH_PATH));
    let columns: std::collections::BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('|').map(|(c, t)| (c.to_owned(), t.to_owned())))
        .collect();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (column, pg_type) in [("timestamp", "timestamp with time zone"), ("duration_ms", "double precision"), ("server", "text"), ("trace_id", "bytea"), ("jsonrpc_error_code", "integer")] {
        assert_eq!(columns.get(column).map(String::as_str), Some(pg_type), "{columns:?}");
    }

    // Columns are named as PostgreSQL names them, not by their expressions' text.
    let header = psql_header(&s, "SELECT server, count(*), max(duration_ms) + 1, CAST(chain_depth AS INT), 2 AS two FROM tool_calls GROUP BY server, chain_depth LIMIT 1");
    assert_eq!(header, "server|count|?column?|chain_depth|two");
    assert_eq!(psql_header(&s, "SELECT trace_id, attributes, count(*) OVER () FROM tool_calls LIMIT 1"), "trace_id|attributes|count");
    // Grafana's version probe, through `current_setting`.
    let out = psql(&s, TOKEN, "SELECT current_setting('server_version_num')::int/100 as version");
    let version: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(version >= 1000, "a PostgreSQL 10+ version number: {version}");

    // Every column can be sent: ids as bytea, `attributes` (unknown fields) as JSON.
    let event = serde_json::json!({
        "event_id": "0b7c0d5e-8a0e-4c1e-9d4f-2f6c1a7b3e90", "timestamp": chrono::Utc::now().to_rfc3339(), "duration_ms": 12.5,
        "server": "pg-types", "tool": "lookup", "outcome": "success",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "region": "eu-west",
    });
    let r = reqwest::Client::new().post(format!("http://{}/v1/events", s.addr)).bearer_auth(TOKEN).json(&event).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let out = psql(&s, TOKEN, "SELECT event_id, trace_id, attributes FROM tool_calls WHERE server = 'pg-types'");
    let row = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(row.trim(), r#"\x0b7c0d5e8a0e4c1e9d4f2f6c1a7b3e90|\x4bf92f3577b34da6a3ce929d0e0e4736|{"region":"eu-west"}"#);
    let declare = "DECLARE c CURSOR FOR SELECT trace_id, attributes FROM tool_calls WHERE server = 'pg-types'";
    let out = psql_session(&s, TOKEN, &["BEGIN", declare, "FETCH 1 FROM c", "COMMIT"]);
    let lines = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(lines.lines().any(|l| l == r#"\x4bf92f3577b34da6a3ce929d0e0e4736|{"region":"eu-west"}"#), "a cursor over them too: {lines}");
    let out = psql(&s, TOKEN, "SELECT * FROM tool_calls LIMIT 3");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).lines().count() == 3, "{}", String::from_utf8_lossy(&out.stderr));
    // The same through the extended protocol (psycopg 3: Parse, Bind, Describe, Execute), with a parameter.
    let addr = s.pg_addr.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pg_query.py");
    let sql = "SELECT trace_id, attributes, count(*) OVER () AS n FROM tool_calls WHERE server = %s";
    let out = Command::new("python3").args([script, &addr.port().to_string(), TOKEN, sql, "pg-types"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"["4bf92f3577b34da6a3ce929d0e0e4736", "{\"region\":\"eu-west\"}", 1]"#);
    // Its columns are named as PostgreSQL names them too.
    let sql = "SELECT server, count(*), avg(duration_ms) FROM tool_calls WHERE server = %s GROUP BY server";
    let out = Command::new("python3").args([script, &addr.port().to_string(), TOKEN, sql, "pg-types"]).env("PG_QUERY_NAMES", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().next(), Some(r#"["server", "count", "avg"]"#));

    for write in ["CREATE TABLE t (a int)", "INSERT INTO tool_calls (server) VALUES ('x')", "DROP TABLE tool_calls", "SELECT 1 INTO t"] {
        let out = psql(&s, TOKEN, write);
        assert!(!out.status.success(), "{write} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("read-only"), "{write}: {err}");
    }
    // psql's `\copy … TO 'file'` exports a result (COPY … TO STDOUT), with a CSV header;
    // COPY to or from a file on the server stays refused.
    let exports = tempfile::tempdir().unwrap();
    let file = exports.path().join("by-outcome.csv");
    let copy = format!("\\copy (SELECT outcome, count(*) FROM tool_calls GROUP BY outcome ORDER BY outcome) TO '{}' WITH (FORMAT csv, HEADER)", file.display());
    let out = psql(&s, TOKEN, &copy);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(&file).unwrap();
    let expected = psql(&s, TOKEN, "SELECT outcome, count(*) FROM tool_calls GROUP BY outcome ORDER BY outcome");
    let rows: Vec<String> = String::from_utf8_lossy(&expected.stdout).lines().filter(|l| !l.is_empty()).map(|l| l.replace('|', ",")).collect();
    assert_eq!(csv.lines().collect::<Vec<_>>(), std::iter::once("outcome,count").chain(rows.iter().map(String::as_str)).collect::<Vec<_>>());
    let out = psql(&s, TOKEN, "COPY tool_calls TO '/tmp/toolpulse-copy-test'");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("read-only"));
    // A connection may set its own settings, but not the engine's, which every connection shares.
    let out = psql_session(&s, TOKEN, &["SET statement_timeout = '10s'", "SET datestyle TO 'ISO'", "SELECT 1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = psql(&s, TOKEN, "SET datafusion.execution.batch_size = 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("every connection shares them"), "{err}");
    let out = psql(&s, "wrong-token", "SELECT 1");
    assert!(!out.status.success(), "a wrong password is refused");
    let out = psql(&s, "", "SELECT 1");
    assert!(!out.status.success(), "no password is refused");
    s.shutdown().await.unwrap();
}

/// A query over the PostgreSQL protocol ends at `query.timeout`, by either
/// protocol, and the server goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queries_end_at_the_query_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::server_config(dir.path(), TOKEN);
    cfg.query.timeout = std::time::Duration::from_secs(1);
    let s = Server::start(cfg).await.unwrap();
    // 10^12 rows: hours of work without a limit.
    let endless = "SELECT count(*) FROM generate_series(1, 1000000) a, generate_series(1, 1000000) b";
    let out = tokio::task::spawn_blocking({
        let s_pg = s.pg_addr;
        move || {
            let addr = s_pg.unwrap();
            // `timeout`: without the server's limit the test fails instead of hanging.
            Command::new("timeout")
                .args(["60", "psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", &addr.port().to_string(), "-U", "sre", "-d", "toolpulse", "-c", endless])
                .env("PGPASSWORD", TOKEN)
                .env("PGSSLMODE", "disable")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("longer than the limit of 1s"), "psql: {err}");
    // The extended protocol (psycopg 3), with a parameter.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pg_query.py");
    let port = s.pg_addr.unwrap().port().to_string();
    let sql = "SELECT count(*) FROM generate_series(1, 1000000) a, generate_series(1, 1000000) b WHERE a.value > %s";
    let out = Command::new("timeout").args(["60", "python3", script, &port, TOKEN, sql, "0"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("longer than the limit of 1s"), "psycopg: {err}");
    // Short queries still answer.
    let out = psql(&s, TOKEN, "SELECT count(*) FROM generate_series(1, 1000)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000", "{}", String::from_utf8_lossy(&out.stderr));
    s.shutdown().await.unwrap();
}

/// The calls `latency_1m` counts, once it agrees with `tool_calls` (polled: the
/// server updates it every 200 ms here); panics after 20 s.
async fn latency_1m_calls_once_caught_up(s: &RunningServer) -> u64 {
    let sql = "SELECT (SELECT count(*) FROM tool_calls) AS raw, (SELECT CAST(sum(calls) AS BIGINT) FROM latency_1m) AS summarized";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows: Value = sql_request(s, sql).send().await.unwrap().json().await.unwrap();
        let (raw, summarized) = (rows[0]["raw"].as_u64().unwrap(), rows[0]["summarized"].as_u64());
        if summarized == Some(raw) {
            return raw;
        }
        assert!(std::time::Instant::now() < deadline, "latency_1m has {summarized:?} calls, tool_calls {raw}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_latency_1m_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_events(dir.path()).await;
    assert_eq!(latency_1m_calls_once_caught_up(&s).await, 5000);
    post_events(&s, 1000, 78).await;
    assert_eq!(latency_1m_calls_once_caught_up(&s).await, 6000, "the hour is rebuilt with the new events");
    s.shutdown().await.unwrap();
}
