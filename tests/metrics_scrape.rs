//! `/metrics` read by its real clients: `promtool check metrics` (from Debian's
//! `prometheus` package, installed by `scripts/setup.sh`) lints what a plain
//! HTTP client gets, and a Prometheus server scrapes it with the bearer token
//! and answers queries over what it scraped.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use toolpulse_serve::Server;

const TOKEN: &str = "scrape-token";

/// Posts one good and one bad event; returns the server's `/metrics` as a plain client gets it.
async fn ingest_and_read_metrics(addr: std::net::SocketAddr) -> String {
    let (lines, _, bad) = common::generated_lines(2, 3, 2);
    assert_eq!(bad, 1);
    let c = reqwest::Client::new();
    let r = c.post(format!("http://{addr}/v1/events")).bearer_auth(TOKEN).body(lines.join(&b'\n')).send().await.unwrap();
    assert!(r.status().is_success());
    let r = c.get(format!("http://{addr}/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_lints_clean_and_prometheus_scrapes_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(common::server_config(dir.path(), TOKEN)).await.unwrap();
    let text = ingest_and_read_metrics(server.addr).await;
    assert!(text.contains("toolpulse_ingest_events_accepted_total{source=\"http\"} 1\n"), "{text}");

    // promtool reads the Prometheus text format and lints names, help and types.
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/setup.sh");
    lint.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = lint.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}");

    // Prometheus scrapes every second with the token, and asks for OpenMetrics.
    let prom_dir = tempfile::tempdir().unwrap();
    let yml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: toolpulse\n    authorization:\n      credentials: {TOKEN}\n    static_configs:\n      - targets: ['{}']\n",
        server.addr
    );
    let prom_path = prom_dir.path().to_owned();
    let (url, _prometheus) = tokio::task::spawn_blocking(move || common::prometheus(&prom_path, &yml)).await.unwrap();

    let query = |q: &'static str| {
        let url = url.clone();
        async move {
            let r: Value = reqwest::Client::new().get(format!("{url}/api/v1/query")).query(&[("query", q)]).send().await.unwrap().json().await.unwrap();
            r["data"]["result"].as_array().cloned().unwrap_or_default()
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let accepted = loop {
        let r = query(r#"toolpulse_ingest_events_accepted_total{source="http"}"#).await;
        if !r.is_empty() || tokio::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(accepted.len(), 1, "Prometheus scraped no toolpulse_ingest_events_accepted_total: {accepted:?}");
    assert_eq!(accepted[0]["value"][1], "1");
    assert_eq!(query(r#"up{job="toolpulse"}"#).await[0]["value"][1], "1");
    let rejected = query(r#"sum(toolpulse_ingest_events_rejected_total{source="http"})"#).await;
    assert_eq!(rejected[0]["value"][1], "1");
    let flushes = query("toolpulse_ingest_flush_duration_seconds_count").await;
    assert!(flushes[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap() >= 1.0, "{flushes:?}");
    server.shutdown().await.unwrap();
}
