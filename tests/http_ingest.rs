//! The HTTP source over real HTTP: authentication fails closed, per-line errors
//! name line, field and reason, gzip and JSON arrays work (a broken array keeps
//! the events before the break), oversize bodies get 413,
//! and what the server acknowledged is in the store when it answers.

mod common;

use std::io::Write;

use reqwest::StatusCode;
use serde_json::Value;
use toolpulse_serve::{RunningServer, Server};
use toolpulse_storage::Table;

async fn start(dir: &std::path::Path) -> RunningServer {
    let mut cfg = common::server_config(dir, "test-token-123");
    cfg.ingest.max_body_mb = 1;
    Server::start(cfg).await.unwrap()
}

fn url(s: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", s.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_but_health_requires_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let c = reqwest::Client::new();
    assert_eq!(c.get(url(&s, "/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(c.get(url(&s, "/readyz")).send().await.unwrap().status(), StatusCode::OK);
    for path in ["/metrics", "/v1/events"] {
        let r = c.post(url(&s, path)).body("{}").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} without a token");
        let r = c.post(url(&s, path)).bearer_auth("wrong").body("{}").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} with a wrong token");
    }
    let r = c.get(url(&s, "/metrics")).basic_auth("grafana", Some("test-token-123")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "basic auth with the token as password");
    let text = r.text().await.unwrap();
    assert!(text.contains("toolpulse_ingest_events_accepted_total{source=\"http\"} 0"), "{text}");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_reported_and_dead_lettered_good_ones_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (lines, good, bad) = common::generated_lines(300, 5, 10);
    let mut body = lines.join(&b'\n');
    body.extend_from_slice(b"\n\nnot json at all\n");
    let r = reqwest::Client::new()
        .post(url(&s, "/v1/events"))
        .bearer_auth("test-token-123")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["accepted"], good.len());
    assert_eq!(v["rejected"], bad + 1);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), bad + 1);
    // Every 10th generated line was spoiled: lines 10, 20, ...; the last one is line 302.
    for (i, e) in errors.iter().take(bad).enumerate() {
        assert_eq!(e["line"], (i + 1) * 10, "{e}");
        assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{e}");
    }
    assert_eq!(errors[bad]["line"], 302);
    assert_eq!(errors[bad]["code"], "invalid_json");

    // The answer came after the events were durable: they are in the store now.
    let counts = common::event_id_counts(dir.path());
    assert_eq!(counts.len(), good.len());
    assert!(good.iter().all(|id| counts.get(id) == Some(&1)));
    let dead = common::read_table(dir.path(), Table::DeadLetters);
    assert_eq!(common::strings(&dead, "source"), vec![Some("http".to_owned()); bad + 1]);
    let fields = common::strings(&dead, "field");
    assert!(fields.iter().flatten().all(|f| ["tool", "duration_ms", "outcome", "timestamp", "server"].contains(&f.as_str())));
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_json_arrays_oversize_and_all_bad() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let c = reqwest::Client::new();
    let (lines, good, _) = common::generated_lines(50, 9, 0);
    let array = format!("[{}]", lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join(","));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(array.as_bytes()).unwrap();
    let r = c
        .post(url(&s, "/v1/events"))
        .bearer_auth("test-token-123")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["accepted"], good.len());

    // An array cut short keeps the events before the cut; the rest is a dead letter.
    let (lines, good_before_cut, _) = common::generated_lines(3, 10, 0);
    let cut = format!("[{},{},{}", String::from_utf8_lossy(&lines[0]), String::from_utf8_lossy(&lines[1]), &String::from_utf8_lossy(&lines[2])[..40]);
    let r = c.post(url(&s, "/v1/events")).bearer_auth("test-token-123").header("content-type", "application/json").body(cut.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!((&v["accepted"], &v["rejected"], &v["errors"][0]["line"]), (&Value::from(2), &Value::from(1), &Value::from(3)), "{v}");
    let counts = common::event_id_counts(dir.path());
    assert!(good_before_cut[..2].iter().all(|id| counts.get(id) == Some(&1)));
    let dead = common::read_table(dir.path(), Table::DeadLetters);
    let tail = &cut[cut.len() - 41..];
    assert!(common::strings(&dead, "reason").iter().flatten().any(|r| r.starts_with("invalid JSON: the array breaks: EOF while parsing")), "{dead:?}");
    assert!(common::strings(&dead, "raw").contains(&Some(tail.to_owned())), "{tail}");

    let big = vec![b' '; 2 << 20];
    let r = c.post(url(&s, "/v1/events")).bearer_auth("test-token-123").body(big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let r = c
        .post(url(&s, "/v1/events"))
        .bearer_auth("test-token-123")
        .body(r#"{"event_id":"x","timestamp":"2026-01-01T00:00:00Z","server":"s","tool":"t","outcome":"success","duration_ms":-1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["field"], "duration_ms");
    assert_eq!(v["errors"][0]["code"], "negative");
    s.shutdown().await.unwrap();
}

/// Log shippers compress with more than gzip (Vector and the OpenTelemetry
/// Collector offer zstd and deflate): each is inflated, and a coding the server
/// does not know gets 415 naming it, not a parse error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_and_deflate_bodies_are_inflated_and_unknown_codings_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let c = reqwest::Client::new();
    let (lines, good, bad) = common::generated_lines(60, 11, 5);
    let ndjson: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&ndjson).unwrap();
    let bodies = [("zstd", zstd::encode_all(&ndjson[..], 3).unwrap()), ("deflate", zlib.finish().unwrap())];
    for (coding, body) in bodies {
        let r = c
            .post(url(&s, "/v1/events"))
            .bearer_auth("test-token-123")
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", coding)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{coding}");
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(good.len() as u64), Some(bad as u64)), "{coding}: {v}");
    }
    // The second body repeated the first one's events: stored once.
    let stored = common::event_id_counts(dir.path());
    assert_eq!(stored.len(), good.len());
    assert!(good.iter().all(|id| stored.get(id) == Some(&1)), "every good event stored once");

    let r = c
        .post(url(&s, "/v1/events"))
        .bearer_auth("test-token-123")
        .header("content-encoding", "br")
        .body(ndjson.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.headers()["accept-encoding"], "gzip, zstd, deflate", "the refusal names the codings it takes");
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("\"br\"; use gzip, zstd, deflate or none"), "{v}");
    s.shutdown().await.unwrap();
}
