//! Two servers on one data directory, as two ingesters of a Kafka group on one
//! shared disk would run: each stores what it receives and reads what both
//! stored; only one leads (runs the store-wide jobs and alerts), so a webhook
//! hears of each alert once, and the other takes over when the leader stops.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::Value;
use toolpulse_serve::{Config, RunningServer, Server};
use toolpulse_slo::notify::ReceiverConfig;

const TOKEN: &str = "shared-token";

/// What a webhook receiver was sent, message by message.
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<Value>>>,
}

impl Hook {
    async fn start() -> (Self, String) {
        let hook = Hook::default();
        let got = hook.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: Bytes| {
                let got = got.clone();
                async move {
                    got.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (hook, url)
    }

    fn messages(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }
}

fn config(root: &std::path::Path, name: &str, hook_url: &str) -> Config {
    let mut cfg = common::server_config(&root.join("data"), TOKEN);
    cfg.slo.dir = Some(root.join("slos"));
    cfg.slo.interval = Duration::from_millis(300);
    cfg.slo.external_url = format!("http://{name}.example");
    cfg.slo.receivers = vec![ReceiverConfig::new("oncall", hook_url.to_owned())];
    cfg.compaction.summary_interval = Duration::from_millis(200);
    cfg
}

/// Thirty minutes of calls to `github`, one a second, 10% failing: ids
/// `first..first + n` of them.
fn events(first: u128, n: u128) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    let mut body = String::new();
    for i in first..first + n {
        let outcome = if i % 10 == 0 { "tool_error" } else { "success" };
        let ts = now - 1_800_000 + i as i64 * 1000;
        body.push_str(&format!(
            "{{\"event_id\":\"{}\",\"timestamp\":{ts},\"duration_ms\":20,\"server\":\"github\",\"tool\":\"get_issue\",\"outcome\":\"{outcome}\"}}\n",
            uuid::Uuid::from_u128(i)
        ));
    }
    body
}

async fn get(s: &RunningServer, path: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("http://{}{path}", s.addr)).bearer_auth(TOKEN).send().await.unwrap()
}

/// This server's `toolpulse_store_lead` gauge.
async fn leads(s: &RunningServer) -> bool {
    let text = get(s, "/metrics").await.text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("toolpulse_store_lead ")).expect("toolpulse_store_lead on /metrics");
    line.ends_with(" 1")
}

/// The labels of the alerts `/api/v1/alerts` lists as firing.
async fn firing(s: &RunningServer) -> BTreeSet<String> {
    let v: Value = get(s, "/api/v1/alerts").await.json().await.unwrap();
    v["data"]["alerts"].as_array().unwrap().iter().filter(|a| a["state"] == "firing").map(|a| a["labels"].to_string()).collect()
}

async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_a_store_and_one_of_them_alerts() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("slos")).unwrap();
    std::fs::write(
        root.path().join("slos/github.yaml"),
        "name: github-availability\nselector: {server: github}\nsli: {kind: success_rate}\nobjective: 0.999\n",
    )
    .unwrap();
    let (hook, hook_url) = Hook::start().await;
    let a = Server::start(config(root.path(), "a", &hook_url)).await.unwrap();
    let b = Server::start(config(root.path(), "b", &hook_url)).await.unwrap();

    // Each server stores half of the calls, and each reads all of them.
    let client = reqwest::Client::new();
    for (s, first) in [(&a, 0), (&b, 900)] {
        let r = client.post(format!("http://{}/v1/events", s.addr)).bearer_auth(TOKEN).body(events(first, 900)).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    for s in [&a, &b] {
        let r = client.post(format!("http://{}/api/v1/sql", s.addr)).bearer_auth(TOKEN).body("SELECT count(DISTINCT event_id) AS n FROM tool_calls");
        let v: Value = r.send().await.unwrap().json().await.unwrap();
        assert_eq!(v[0]["n"], 1800, "{v}");
    }

    assert!(leads(&a).await, "the first server leads");
    assert!(!leads(&b).await, "the second does not");

    // The leader alerts; the other shows the same alerts and sends nothing.
    eventually("a firing webhook message", async || hook.messages().iter().any(|m| m["status"] == "firing")).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // ten evaluations of each server
    let sent = hook.messages();
    for m in &sent {
        assert_eq!(m["externalURL"], "http://a.example", "only the leader sends: {m}");
    }
    let distinct: BTreeSet<String> = sent.iter().map(|m| m["alerts"].to_string()).collect();
    assert_eq!(distinct.len(), sent.len(), "no message sent twice: {sent:#?}");
    let on_a = firing(&a).await;
    assert!(!on_a.is_empty());
    assert_eq!(firing(&b).await, on_a, "the other server lists the leader's alerts");

    // The leader stops; the other takes over, and does not tell the receiver
    // again what the leader told it.
    a.shutdown().await.unwrap();
    eventually("the second server taking the lead", async || leads(&b).await).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.messages().len(), sent.len(), "nothing sent again after the takeover: {:#?}", hook.messages());
    assert_eq!(firing(&b).await, on_a);
    b.shutdown().await.unwrap();
}
