//! The SLO engine end to end over a real store: rollups written as the ingest
//! writer writes them, read through DataFusion, alerts delivered over HTTP to a
//! real webhook receiver that fails at first, and state that survives a restart.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use toolpulse_schemas::{AuditEvent, EventBatchBuilder, EventId, Outcome};
use toolpulse_slo::alerts::{AlertBook, AlertState};
use toolpulse_slo::notify::ReceiverConfig;
use toolpulse_slo::notify::webhook::sign;
use toolpulse_slo::{EngineConfig, SloEngine};
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter, Table};

const MIN_MS: i64 = 60_000;
/// 2026-11-01T00:00:00Z in ms.
const T0: i64 = 1_793_491_200_000;

const SPEC: &str = "
name: github-availability
selector: {server: github}
sli: {kind: success_rate}
objective: 0.999
alerting:
  budget_exhausted: false
  no_data: false
";

/// Writes `per_minute` calls to github for each minute of `[from, to)` (minute
/// offsets from T0), `bad` of them failing, as tool_calls rollups.
fn write_minutes(files: &FileWriter, from: i64, to: i64, per_minute: u64, bad: u64, seq: &mut u128) {
    let mut b = EventBatchBuilder::with_capacity(((to - from) as u64 * per_minute) as usize);
    for m in from..to {
        for i in 0..per_minute {
            *seq += 1;
            let ts = (T0 + m * MIN_MS + (i as i64 * 500)) * 1_000_000;
            let outcome = if i < bad { Outcome::ToolError } else { Outcome::Success };
            b.append(&AuditEvent::new(EventId::Uuid(uuid::Uuid::from_u128(*seq)), ts, 20.0, "github", "get_issue", outcome));
        }
    }
    let roll = toolpulse_ingest::rollup::rollup(&[b.finish()]).unwrap().unwrap();
    files.write(Table::Rollups1m, &[roll], &[]).unwrap();
}

/// A webhook receiver that answers 500 to its first `fail_first` requests.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, serde_json::Value, Bytes)>>>,
    calls: Arc<AtomicUsize>,
    fail_first: usize,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Self, String) {
        let r = Receiver { fail_first, ..Default::default() };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let s = state.clone();
                async move {
                    let n = s.calls.fetch_add(1, Ordering::SeqCst);
                    if n < s.fail_first {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    s.got.lock().unwrap().push((headers, v, body));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        self.got.lock().unwrap().iter().map(|(_, v, _)| v.clone()).collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..300 {
            if self.messages().len() >= n {
                return self.messages();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} webhook messages, got {:?}", self.messages());
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: DataDir,
    files: Arc<FileWriter>,
    ctx: datafusion::prelude::SessionContext,
    now: Arc<AtomicI64>,
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path());
    dir.create().unwrap();
    let files = Arc::new(FileWriter::new(dir.clone(), WriteOptions::default()));
    let q = toolpulse_query::QueryEngine::open(dir.clone(), Default::default()).await.unwrap();
    Fixture { _tmp: tmp, dir, files, ctx: q.context().clone(), now: Arc::new(AtomicI64::new(0)) }
}

fn engine(f: &Fixture, receivers: Vec<ReceiverConfig>) -> SloEngine {
    let specs = toolpulse_slo::spec::load::load_sources(&[("test.yaml".into(), SPEC.into())]).unwrap();
    let book = AlertBook::open(&f.dir.state_dir().join("alerts.json")).unwrap();
    let now = f.now.clone();
    let cfg = EngineConfig { receivers, interval: Duration::from_secs(1), ..EngineConfig::default() };
    SloEngine::builder(f.ctx.clone(), f.dir.clone(), specs)
        .config(cfg)
        .alert_book(book)
        .status_files(f.files.clone())
        .clock(Arc::new(move || now.load(Ordering::SeqCst)))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_fires_on_two_percent_errors_is_delivered_through_retries_and_resolves() {
    let f = fixture().await;
    let (recv, url) = Receiver::start(2).await;
    let mut rc = ReceiverConfig::new("oncall", url);
    rc.hmac_secret = "s3cret".into();
    let e = engine(&f, vec![rc]);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let _tasks = e.spawn(stop);

    // Four clean hours at 100 calls/min, then an hour with 2% errors.
    let mut seq = 0;
    write_minutes(&f.files, 0, 240, 100, 0, &mut seq);
    write_minutes(&f.files, 240, 300, 100, 2, &mut seq);
    let at = T0 + 299 * MIN_MS + 30_000;
    f.now.store(at, Ordering::SeqCst);
    let eval = e.evaluate_at(at).await.unwrap();
    let st = &eval.statuses[0];
    // 1h: 120 bad of 6000 = 2% on a 0.1% budget → burn 20 (> 14.4 on 1h and 5m).
    let h1 = st.window(Duration::from_secs(3600)).unwrap();
    assert_eq!((h1.bad, h1.good), (120, 5880));
    assert!((h1.burn_rate - 20.0).abs() < 1e-9);
    let alerts = e.alerts();
    let page = alerts.iter().find(|a| a.labels["severity"] == "page").expect("a page alert");
    assert_eq!(page.state, AlertState::Firing);
    // 6h holds all five hours: 120 of 30000 = 0.4% → burn 4 < 6, so only the fast pair pages.
    assert!(st.pairs.iter().filter(|p| p.severity == "page").map(|p| p.burning).eq([true, false]));
    // The ticket pairs burn (2h: 1% → 10 > 3; 1d: 0.4% → 4 > 3), but the page holds the ticket back.
    assert!(st.pairs.iter().any(|p| p.severity == "ticket" && p.burning));
    assert!(alerts.iter().all(|a| a.labels["severity"] != "ticket" || a.state != AlertState::Firing));

    // Delivered after two 500s, in Alertmanager's webhook format, signed.
    let msgs = recv.wait_for(1).await;
    assert_eq!(recv.calls.load(Ordering::SeqCst), 3, "two failures, then the delivery");
    let m = &msgs[0];
    assert_eq!(m["version"], "4");
    assert_eq!(m["status"], "firing");
    assert_eq!(m["receiver"], "oncall");
    assert_eq!(m["groupLabels"]["slo"], "github-availability");
    assert_eq!(m["commonLabels"]["alertname"], "SLOBurnRate");
    assert_eq!(m["groupKey"], "{}:{slo=\"github-availability\"}");
    assert!(m["externalURL"].is_string() && m["truncatedAlerts"] == 0);
    let a = &m["alerts"][0];
    assert_eq!((a["status"].as_str(), a["labels"]["severity"].as_str()), (Some("firing"), Some("page")));
    assert_eq!(a["startsAt"], "2026-11-01T04:59:30.000Z");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
    assert!(a["generatorURL"].as_str().unwrap().ends_with("/api/v1/slos/github-availability"));
    assert!(a["annotations"]["description"].as_str().unwrap().contains("20.0x"), "{}", a["annotations"]);
    let (headers, _, body) = recv.got.lock().unwrap()[0].clone();
    assert_eq!(headers["x-toolpulse-signature"].to_str().unwrap(), format!("sha256={}", sign("s3cret", &body)));

    // Ten clean minutes: the 5m window is clean, the page resolves; the ticket,
    // no longer held back and still burning, fires.
    write_minutes(&f.files, 300, 310, 100, 0, &mut seq);
    let later = T0 + 309 * MIN_MS + 30_000;
    f.now.store(later, Ordering::SeqCst);
    e.evaluate_at(later).await.unwrap();
    // Both changes belong to the SLO's group: one message, as Alertmanager groups them.
    let msgs = recv.wait_for(2).await;
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    let alerts = msgs[1]["alerts"].as_array().unwrap();
    let by_sev = |sev: &str| alerts.iter().find(|a| a["labels"]["severity"] == sev).unwrap_or_else(|| panic!("no {sev} in {alerts:?}"));
    assert_eq!(by_sev("page")["status"], "resolved");
    assert_eq!(by_sev("page")["endsAt"], "2026-11-01T05:09:30.000Z");
    assert_eq!(by_sev("ticket")["status"], "firing");
    assert_eq!(msgs[1]["status"], "firing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_alert_state_without_duplicate_notifications() {
    let f = fixture().await;
    let (recv, url) = Receiver::start(0).await;
    let mut seq = 0;
    write_minutes(&f.files, 0, 60, 100, 0, &mut seq);
    write_minutes(&f.files, 60, 120, 100, 10, &mut seq);
    let at = T0 + 119 * MIN_MS;
    f.now.store(at, Ordering::SeqCst);
    {
        let e = engine(&f, vec![ReceiverConfig::new("r", url.clone())]);
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let tasks = e.spawn(stop);
        e.evaluate_at(at).await.unwrap();
        recv.wait_for(1).await;
        stop_tx.send(true).unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let firing_before: Vec<_> = recv.messages();
    // A new engine on the same data dir: same alerts, still firing, nothing re-sent.
    let e = engine(&f, vec![ReceiverConfig::new("r", url)]);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let _tasks = e.spawn(stop);
    e.evaluate_at(at + MIN_MS).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recv.messages(), firing_before, "no duplicate notification after a restart");
    assert!(e.alerts().iter().any(|a| a.state == AlertState::Firing && a.labels["severity"] == "page"));
    // slo_status rows were kept for history.
    e.flush_status(true).unwrap();
    assert!(!f.dir.list_files(Table::SloStatus).unwrap().is_empty());
}
