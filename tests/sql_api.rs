//! Ad-hoc SQL over HTTP and from the CLI against a running server: the same
//! query gives the same rows both ways (and from the CLI reading the data dir);
//! writes are refused; answers are capped at the row limit.

mod common;

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use toolpulse_serve::{Config, RunningServer, Server};

const TOKEN: &str = "sql-token";
const QUERY: &str = "SELECT server, outcome, count(*) AS calls, round(hdr_percentile(duration_ms, 0.99), 3) AS p99_ms \
                     FROM tool_calls GROUP BY server, outcome ORDER BY server, outcome";

async fn start_with_events(dir: &std::path::Path) -> RunningServer {
    let mut cfg = Config::default();
    cfg.data_dir = dir.to_owned();
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.server.token = TOKEN.into();
    cfg.query.max_rows = 5;
    let s = Server::start(cfg).await.unwrap();
    let (lines, _, _) = common::generated_lines(5000, 77, 0);
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/events", s.addr))
        .bearer_auth(TOKEN)
        .body(lines.join(&b'\n'))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
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
