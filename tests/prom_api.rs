//! The Prometheus HTTP API against a seeded server: values checked against
//! counts computed here from the raw events, through promtool (Debian's
//! `prometheus` package) and through the request sequence Grafana's Prometheus
//! data source sends; subqueries and `predict_linear` against the same counts;
//! the calendar functions;
//! every query of every shipped dashboard returns data;
//! unsupported PromQL answers the error envelope; no token, no answer.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use toolpulse_gen::{GenSpec, Generator};
use toolpulse_schemas::Outcome;
use toolpulse_serve::{RunningServer, Server};

const TOKEN: &str = "prom-token";
const MINUTE_MS: i64 = 60_000;

/// What the test keeps of each event to compute expectations itself.
struct Call {
    ts_ms: i64,
    ts_ns: i64,
    server: String,
    duration_ms: f64,
    outcome: Outcome,
    trace: Option<[u8; 16]>,
    depth: u16,
}

struct Seeded {
    server: RunningServer,
    _dir: tempfile::TempDir,
    calls: Vec<Call>,
    /// A minute boundary shortly after the last event: where instant queries are evaluated.
    at_ms: i64,
}

impl Seeded {
    fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Calls of `server` (all when None) that started in `[from, to)` ms, passing `f`.
    fn count(&self, server: Option<&str>, from: i64, to: i64, f: impl Fn(&Call) -> bool) -> f64 {
        self.calls.iter().filter(|c| server.is_none_or(|s| c.server == s) && c.ts_ms >= from && c.ts_ms < to && f(c)).count() as f64
    }
}

/// Two hours of a generated fleet (with a postgres error incident in the last
/// twenty minutes), ingested over HTTP, and one SLO evaluation.
async fn seeded() -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::server_config(dir.path(), TOKEN);
    cfg.slo.dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("slo/specs"));
    let server = Server::start(cfg).await.unwrap();

    let now = chrono::Utc::now().timestamp_millis();
    let start_ms = now - 2 * 3_600_000;
    let n = 24_000;
    let spec = GenSpec {
        seed: 11,
        start_ns: start_ms * 1_000_000,
        rate: n as f64 / 7_000.0,
        incidents: vec!["kind=errors,server=postgres,rate=0.5,at=100m,for=20m".parse().unwrap()],
        ..GenSpec::default()
    };
    let events: Vec<_> = Generator::new(spec).take(n).collect();
    let calls = events
        .iter()
        .map(|e| Call {
            ts_ms: e.timestamp_ns / 1_000_000,
            ts_ns: e.timestamp_ns,
            server: e.server.to_string(),
            duration_ms: e.duration_ms,
            outcome: e.outcome,
            trace: e.trace_id,
            depth: e.chain_depth.unwrap_or(1),
        })
        .collect::<Vec<_>>();
    let last = calls.iter().map(|c| c.ts_ms).max().unwrap();
    assert!(last < now, "events are in the past");
    for chunk in events.chunks(5000) {
        let body: Vec<u8> = chunk
            .iter()
            .flat_map(|e| {
                let mut l = serde_json::to_vec(e).unwrap();
                l.push(b'\n');
                l
            })
            .collect();
        let r = reqwest::Client::new().post(format!("http://{}/v1/events", server.addr)).bearer_auth(TOKEN).body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }
    server.slo.evaluate_now().await.unwrap();
    // The first minute boundary after the last event (and not in the future).
    let at_ms = ((last / MINUTE_MS) + 1) * MINUTE_MS;
    assert!(at_ms <= now);
    Seeded { server, _dir: dir, calls, at_ms }
}

async fn get(s: &Seeded, path: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = reqwest::Client::new().get(format!("{}{path}", s.url())).query(params).bearer_auth(TOKEN).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn post_form(s: &Seeded, path: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = reqwest::Client::new().post(format!("{}{path}", s.url())).form(params).bearer_auth(TOKEN).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

/// `{label value → sample value}` of an instant vector answer.
fn by_label(v: &Value, label: &str) -> BTreeMap<String, f64> {
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"][label].as_str().unwrap_or("").to_owned(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Runs `promtool query …`; the server URL carries the token as basic-auth
/// password (promtool 2.42 has no other way to authenticate).
fn promtool(args: &[&str]) -> String {
    let mut full = vec!["query"];
    full.extend_from_slice(args);
    let out = Command::new("promtool").args(&full).output().expect("promtool is installed by scripts/setup.sh");
    assert!(out.status.success(), "promtool {full:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `{label="value"} => 12.5 @[…]` lines of promtool's vector output, by `label`.
fn promtool_vector(out: &str, label: &str) -> BTreeMap<String, f64> {
    let needle = format!("{label}=\"");
    out.lines()
        .filter_map(|l| {
            let (metric, rest) = l.split_once(" => ")?;
            let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
            let key = metric.split(&needle).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_owned();
            Some((key, value))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_and_histograms_match_the_raw_events() {
    let s = seeded().await;
    let at = s.at_ms;
    let t = format!("{}", at as f64 / 1000.0);
    // increase over (t-1h, t]: the samples at the 60 minute boundaries t-59m … t span 59
    // minutes, extrapolated to 60 — so the calls of [t-59m, t) times 60/59.
    let (_, v) = get(&s, "/api/v1/query", &[("query", "sum by (server) (increase(toolpulse_tool_calls_total[1h]))"), ("time", &t)]).await;
    let got = by_label(&v, "server");
    assert!(got.len() >= 10, "{got:?}");
    for (server, value) in &got {
        let want = s.count(Some(server), at - 59 * MINUTE_MS, at, |_| true) * 60.0 / 59.0;
        assert!(close(*value, want), "{server}: increase {value} vs {want} from the raw events");
    }
    // Bucket counters: calls at or under 100 ms, and +Inf = all calls, for one server.
    let (_, v) = get(
        &s,
        "/api/v1/query",
        &[("query", "sum by (le) (increase(toolpulse_tool_call_duration_seconds_bucket{server=\"github\"}[1h]))"), ("time", &t)],
    )
    .await;
    let buckets = by_label(&v, "le");
    assert_eq!(buckets.len(), 15, "{buckets:?}");
    let within = |ms: f64| s.count(Some("github"), at - 59 * MINUTE_MS, at, |c| c.duration_ms <= ms) * 60.0 / 59.0;
    assert!(close(buckets["0.1"], within(100.0)), "le=0.1: {} vs {}", buckets["0.1"], within(100.0));
    assert!(close(buckets["2"], within(2000.0)));
    assert!(close(buckets["+Inf"], within(f64::INFINITY)));
    // histogram_quantile lands in the bucket that holds the exact p99.
    let (_, v) = get(
        &s,
        "/api/v1/query",
        &[("query", "histogram_quantile(0.99, sum by (le) (rate(toolpulse_tool_call_duration_seconds_bucket{server=\"github\"}[1h])))"), ("time", &t)],
    )
    .await;
    let p99 = by_label(&v, "")[""];
    let mut ds: Vec<f64> = s.calls.iter().filter(|c| c.server == "github" && c.ts_ms >= at - 59 * MINUTE_MS && c.ts_ms < at).map(|c| c.duration_ms / 1000.0).collect();
    ds.sort_by(f64::total_cmp);
    let exact = ds[((0.99 * ds.len() as f64).ceil() as usize).max(1) - 1];
    let bounds = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
    let bucket = bounds.windows(2).find(|w| exact > w[0] && exact <= w[1]).unwrap();
    assert!(p99 > bucket[0] && p99 <= bucket[1], "p99 {p99} outside the bucket {bucket:?} of the exact {exact}");
    // The precise p99 series (HDR) of one minute agrees with the exact per-minute p99 within 0.1%:
    // the last minute with github calls (the last minute of all may hold none), read at its end.
    let last_github = s.calls.iter().filter(|c| c.server == "github").map(|c| c.ts_ms).max().unwrap();
    let minute_start = last_github / MINUTE_MS * MINUTE_MS;
    let minute_end = minute_start + MINUTE_MS;
    let t_minute = format!("{}", minute_end as f64 / 1000.0);
    let (_, v) =
        get(&s, "/api/v1/query", &[("query", "toolpulse_server_call_duration_quantile_seconds{server=\"github\",quantile=\"0.99\"}"), ("time", &t_minute)]).await;
    let hdr = by_label(&v, "server")["github"];
    let mut m: Vec<f64> =
        s.calls.iter().filter(|c| c.server == "github" && c.ts_ms >= minute_start && c.ts_ms < minute_end).map(|c| c.duration_ms / 1000.0).collect();
    m.sort_by(f64::total_cmp);
    let exact_minute = m[((0.99 * m.len() as f64).ceil() as usize).max(1) - 1];
    assert!((hdr - exact_minute).abs() <= exact_minute * 0.001 + 1e-6, "hdr p99 {hdr} vs exact {exact_minute}");
    // Chain latency by depth: the chains (traces) started in the last minute, p50 of
    // first start to last end, against the same computed here.
    // (start ns, end in ms, depth) per trace
    let mut chains: BTreeMap<[u8; 16], (i64, f64, u16)> = BTreeMap::new();
    for c in s.calls.iter().filter(|c| c.trace.is_some()) {
        let e = chains.entry(c.trace.unwrap()).or_insert((i64::MAX, f64::MIN, 1));
        e.0 = e.0.min(c.ts_ns);
        e.1 = e.1.max(c.ts_ns as f64 / 1e6 + c.duration_ms);
        e.2 = e.2.max(c.depth);
    }
    let (_, v) = get(&s, "/api/v1/query", &[("query", "toolpulse_tool_chain_duration_quantile_seconds{quantile=\"0.5\"}"), ("time", &t)]).await;
    let by_depth = by_label(&v, "depth");
    assert!(!by_depth.is_empty(), "{v}");
    for (depth, got) in &by_depth {
        // The newest minute with chains of this depth (within the 5-minute lookback).
        let of_depth = || chains.values().filter(|c| c.2.to_string() == *depth && c.0 / 1_000_000 < at);
        let newest = of_depth().map(|c| c.0 / 1_000_000 / MINUTE_MS).max().expect("the server reports only depths it has seen");
        assert!((newest + 1) * MINUTE_MS > at - 5 * MINUTE_MS, "depth {depth} has no chain in the lookback");
        let mut d: Vec<f64> = of_depth()
            .filter(|c| c.0 / 1_000_000 / MINUTE_MS == newest)
            .map(|c| (c.1 - c.0 as f64 / 1e6) / 1000.0)
            .collect();
        d.sort_by(f64::total_cmp);
        let want = d[((0.5 * d.len() as f64).ceil() as usize).max(1) - 1];
        assert!((got - want).abs() <= want * 0.001 + 1e-6, "depth {depth}: chain p50 {got} vs {want}");
    }
    // A selection that keeps every label reads the raw table; its series sum to the same calls.
    let (_, v) = get(&s, "/api/v1/query", &[("query", "toolpulse_tool_calls_total{server=\"jira\"}"), ("time", &t)]).await;
    let series = v["data"]["result"].as_array().unwrap();
    assert!(series.iter().all(|r| r["metric"]["agent"].is_string() && r["metric"]["tool"].is_string() && r["metric"]["__name__"] == "toolpulse_tool_calls_total"));
    // Series go stale an hour after their last call, so sum the calls of the last hour's active ones.
    assert!(!series.is_empty());

    // promtool: an instant query, a range query, series and label values.
    let url = s.url().replace("http://", &format!("http://promtool:{TOKEN}@"));
    let out = promtool(&["instant", &format!("--time={t}"), &url, "sum by (server) (increase(toolpulse_tool_calls_total[1h]))"]);
    let pt = promtool_vector(&out, "server");
    assert_eq!(pt.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>());
    for (server, value) in &pt {
        assert!((value - got[server]).abs() <= 1e-6 * got[server].max(1.0), "promtool {server}: {value} vs {}", got[server]);
    }
    let start = format!("{}", (at - 30 * MINUTE_MS) / 1000);
    let out = promtool(&[
        "range",
        &format!("--start={start}"),
        &format!("--end={t}"),
        "--step=60s",
        &url,
        "sum(increase(toolpulse_tool_calls_total{outcome=\"success\"}[10m]))",
    ]);
    let points: Vec<(f64, f64)> = out
        .lines()
        .filter_map(|l| {
            let (v, ts) = l.trim().split_once(" @[")?;
            Some((ts.trim_end_matches(']').parse().ok()?, v.parse().ok()?))
        })
        .collect();
    assert_eq!(points.len(), 31, "{out}");
    for (ts, v) in points {
        let end = (ts * 1000.0) as i64;
        let want = s.count(None, end - 9 * MINUTE_MS, end, |c| c.outcome == Outcome::Success) * 10.0 / 9.0;
        assert!((v - want).abs() <= 1e-6 * want.max(1.0), "at {ts}: {v} vs {want}");
    }
    let out = promtool(&["series", "--match=toolpulse_tool_calls_total{server=\"github\",outcome=\"success\"}", &url]);
    assert!(out.lines().count() > 10 && out.lines().all(|l| l.contains("server=\"github\"") && l.contains("outcome=\"success\"")), "{out}");
    let out = promtool(&["labels", &url, "server"]);
    let servers: Vec<&str> = out.lines().collect();
    assert_eq!(servers, got.keys().map(String::as_str).collect::<Vec<_>>());
}

/// Least-squares line through `points` (seconds, value): its value at `x`.
fn line_at(points: &[(f64, f64)], x: f64) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    my + cov / var * (x - mx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subqueries_predict_linear_and_the_calendar() {
    let s = seeded().await;
    let at = s.at_ms;
    let t = format!("{}", at as f64 / 1000.0);
    // The inner query at a minute boundary u: a counter sampled each minute
    // has two samples in (u - 2m, u], a minute apart, so `increase` doubles the
    // calls of the minute before u.
    let inner = "sum(increase(toolpulse_tool_calls_total[2m]))";
    let per_minute = |u: i64| 2.0 * s.count(None, u - MINUTE_MS, u, |_| true);
    // A 10m window at 1m holds the ten minute boundaries in (t - 10m, t].
    let points = |end: i64| (0..10).map(|k| end - k * MINUTE_MS).map(|u| (u, per_minute(u))).collect::<Vec<_>>();
    let now = points(at);
    let max = now.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let (_, v) = get(&s, "/api/v1/query", &[("query", &format!("max_over_time({inner}[10m:1m])")), ("time", &t)]).await;
    assert!(close(by_label(&v, "")[""], max), "{v} vs {max}");
    let earlier = points(at - 30 * MINUTE_MS);
    let avg = earlier.iter().map(|p| p.1).sum::<f64>() / 10.0;
    let (_, v) = get(&s, "/api/v1/query", &[("query", &format!("avg_over_time({inner}[10m:1m] offset 30m)")), ("time", &t)]).await;
    assert!(close(by_label(&v, "")[""], avg), "{v} vs {avg}");
    // predict_linear: the least-squares line through the ten points, an hour after t.
    let xy: Vec<(f64, f64)> = now.iter().map(|(u, y)| ((u - at) as f64 / 1000.0, *y)).collect();
    let want = line_at(&xy, 3600.0);
    let (_, v) = get(&s, "/api/v1/query", &[("query", &format!("predict_linear({inner}[10m:1m], 3600)")), ("time", &t)]).await;
    let got = by_label(&v, "")[""];
    assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{got} vs {want}");
    // The subquery alone, as an instant query, is the matrix of those points.
    let (_, v) = get(&s, "/api/v1/query", &[("query", &format!("{inner}[10m:1m]")), ("time", &t)]).await;
    assert_eq!(v["data"]["resultType"], "matrix", "{v}");
    let got: Vec<(i64, f64)> = v["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ((p[0].as_f64().unwrap() * 1000.0).round() as i64, p[1].as_str().unwrap().parse().unwrap()))
        .collect();
    let mut want = now.clone();
    want.reverse();
    assert_eq!(got, want);
    // … also pinned to an earlier time by `@`, like a range selector.
    let pinned = at - 30 * MINUTE_MS;
    let (_, v) = get(&s, "/api/v1/query", &[("query", &format!("{inner}[10m:1m] @ {}", pinned / 1000)), ("time", &t)]).await;
    let got: Vec<f64> = v["data"]["result"][0]["values"].as_array().unwrap().iter().map(|p| p[1].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(got, earlier.iter().rev().map(|p| p.1).collect::<Vec<_>>(), "{v}");
    let (_, v) = get(&s, "/api/v1/query", &[("query", &format!("toolpulse_tool_calls_total[3m] @ {}", pinned / 1000)), ("time", &t)]).await;
    let times: Vec<f64> = v["data"]["result"].as_array().unwrap().iter().flat_map(|r| r["values"].as_array().unwrap().iter().map(|p| p[0].as_f64().unwrap())).collect();
    assert!(!times.is_empty() && times.iter().all(|&x| x * 1000.0 > (pinned - 3 * MINUTE_MS) as f64 && x * 1000.0 <= pinned as f64), "{times:?}");
    // Over a range query, each step takes its own window of the minute boundaries.
    let start = at - 20 * MINUTE_MS;
    let (status, v) = post_form(
        &s,
        "/api/v1/query_range",
        &[("query", &format!("max_over_time({inner}[5m:1m])")), ("start", &format!("{}", start / 1000)), ("end", &t), ("step", "120")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 11);
    for p in values {
        let end = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
        let want = (0..5).map(|k| per_minute(end - k * MINUTE_MS)).fold(f64::MIN, f64::max);
        assert!(close(p[1].as_str().unwrap().parse().unwrap(), want), "at {end}: {p} vs {want}");
    }
    // Calendar functions, of the evaluation time by default, in UTC.
    let utc = chrono::DateTime::from_timestamp_millis(at).unwrap();
    let (_, v) = get(&s, "/api/v1/query", &[("query", "hour() * 100 + minute()"), ("time", &t)]).await;
    assert_eq!(by_label(&v, "")[""], f64::from(chrono::Timelike::hour(&utc) * 100 + chrono::Timelike::minute(&utc)), "{v}");
    let (_, v) = get(&s, "/api/v1/query", &[("query", "day_of_week(vector(1709214330))"), ("time", &t)]).await;
    assert_eq!(by_label(&v, "")[""], 4.0, "2024-02-29 was a Thursday: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_request_sequence_and_dashboards() {
    let s = seeded().await;
    let now = format!("{}", s.at_ms as f64 / 1000.0 + 0.678);
    // "Save & test": an instant query 1+1 by form POST, then buildinfo.
    let (status, v) = post_form(&s, "/api/v1/query", &[("query", "1+1"), ("time", &now)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"][1], "2");
    let (status, v) = get(&s, "/api/v1/status/buildinfo", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["data"]["version"].as_str().unwrap().starts_with("2."));
    // On load: rules, and an exemplars probe with times in milliseconds.
    let (status, v) = get(&s, "/api/v1/rules", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let groups = v["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 6, "one group per SLO");
    assert!(groups.iter().flat_map(|g| g["rules"].as_array().unwrap()).all(|r| r["type"] == "alerting" && r["health"] == "ok"));
    let start_ms = format!("{}", s.at_ms - 3_600_000);
    let end_ms = format!("{}", s.at_ms);
    let (status, v) = get(&s, "/api/v1/query_exemplars", &[("query", "toolpulse_tool_calls_total"), ("start", &start_ms), ("end", &end_ms)]).await;
    assert_eq!((status, v["data"].clone()), (StatusCode::OK, serde_json::json!([])));
    // The query editor: metric names, label names and values, series, metadata.
    let start = format!("{}", s.at_ms as f64 / 1000.0 - 3600.0);
    let (_, v) = get(&s, "/api/v1/label/__name__/values", &[("start", &start), ("end", &now), ("limit", "40000")]).await;
    let names: Vec<&str> = v["data"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    for m in ["toolpulse_tool_calls_total", "toolpulse_tool_call_duration_seconds_bucket", "toolpulse_slo_burn_rate", "ALERTS"] {
        assert!(names.contains(&m), "{m} in {names:?}");
    }
    let (status, v) = post_form(&s, "/api/v1/labels", &[("match[]", "toolpulse_tool_calls_total"), ("start", &start), ("end", &now), ("limit", "40000")]).await;
    assert_eq!(status, StatusCode::OK);
    let labels: Vec<&str> = v["data"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    for l in ["__name__", "agent", "outcome", "server", "tool"] {
        assert!(labels.contains(&l), "{l} in {labels:?}");
    }
    // Metrics Drilldown asks for every label of every metric, by a name regex with a trailing comma.
    let (status, v) = get(&s, "/api/v1/labels", &[("limit", "40000"), ("start", &start), ("end", &now), ("match[]", "{__name__=~\".+\",}")]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let labels: Vec<&str> = v["data"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    for l in ["server", "le", "slo", "window", "quantile", "alertname"] {
        assert!(labels.contains(&l), "{l} in {labels:?}");
    }
    let (_, v) = get(&s, "/api/v1/label/outcome/values", &[("match[]", "toolpulse_tool_calls_total{server=\"postgres\"}"), ("start", &start), ("end", &now)]).await;
    assert!(v["data"].as_array().unwrap().iter().any(|x| x == "tool_error"));
    let (status, v) = post_form(&s, "/api/v1/series", &[("match[]", "toolpulse_slo_objective"), ("start", &start), ("end", &now)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"].as_array().unwrap().len(), 6);
    let (_, v) = get(&s, "/api/v1/metadata", &[("limit", "10000")]).await;
    assert_eq!(v["data"]["toolpulse_tool_calls_total"][0]["type"], "counter");
    // A histogram is listed once, by family, as Prometheus lists it (Grafana derives `_bucket`, `_sum`, `_count`).
    assert_eq!(v["data"]["toolpulse_tool_call_duration_seconds"][0]["type"], "histogram", "{v}");
    assert!(v["data"].get("toolpulse_tool_call_duration_seconds_bucket").is_none(), "{v}");
    let (_, v) = get(&s, "/api/v1/metadata", &[("metric", "toolpulse_tool_call_duration_seconds")]).await;
    assert_eq!(v["data"].as_object().map(|o| o.len()), Some(1), "{v}");
    // "Format query" in the code editor: Prometheus's layout, durations normalised.
    let (status, v) = get(&s, "/api/v1/format_query", &[("query", "sum  by(outcome)(rate(toolpulse_tool_calls_total{server=\"github\"}[4m0s]))")]).await;
    assert_eq!((status, v["data"].as_str()), (StatusCode::OK, Some("sum by (outcome) (rate(toolpulse_tool_calls_total{server=\"github\"}[4m]))")), "{v}");
    let (status, v) = get(&s, "/api/v1/format_query", &[("query", "sum(rate(")]).await;
    assert_eq!((status, v["errorType"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_data")), "{v}");
    // A panel query as Grafana writes it: POST form, step in seconds, Go-style range.
    let (status, v) = post_form(
        &s,
        "/api/v1/query_range",
        &[("query", "sum by (outcome) (rate(toolpulse_tool_calls_total[4m0s]))"), ("start", &start), ("end", &now), ("step", "15")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    assert!(v["data"]["result"].as_array().unwrap().len() >= 4);
    // The postgres incident pages.
    let (_, v) = get(&s, "/api/v1/alerts", &[]).await;
    assert!(v["data"]["alerts"].as_array().unwrap().iter().any(|a| a["labels"]["slo"] == "postgres-availability" && a["state"] == "firing"), "{v}");

    // Every query of every shipped dashboard returns data.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let d: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for panel in d["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let q = expr.replace("$__rate_interval", "4m").replace("$__interval", "1m").replace("$__range", "1h").replace("$server", "postgres").replace("$slo", ".*");
                let (status, v) = post_form(&s, "/api/v1/query_range", &[("query", &q), ("start", &start), ("end", &now), ("step", "60")]).await;
                assert_eq!(status, StatusCode::OK, "{}: {q}: {v}", path.display());
                assert!(!v["data"]["result"].as_array().unwrap().is_empty(), "{}: no data for {q}", path.display());
                checked += 1;
            }
        }
        for var in d["templating"]["list"].as_array().unwrap() {
            let def = var["definition"].as_str().unwrap();
            let inner = def.trim_start_matches("label_values(").trim_end_matches(')');
            let (metric, label) = inner.rsplit_once(", ").unwrap();
            let (_, v) = get(&s, &format!("/api/v1/label/{label}/values"), &[("match[]", metric), ("start", &start), ("end", &now)]).await;
            assert!(!v["data"].as_array().unwrap().is_empty(), "variable {def}");
        }
    }
    assert!(checked >= 15, "{checked} dashboard queries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_promql_and_missing_token() {
    let s = seeded().await;
    for (q, says) in [
        ("histogram_count(toolpulse_tool_calls_total)", "histogram_count"),
        ("holt_winters(toolpulse_tool_calls_total[5m], 1.5, 0.5)", "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.500000"),
        (r#"count_values("1st", toolpulse_tool_calls_total)"#, r#"invalid label name "1st""#),
        ("sum(", "invalid parameter \"query\""),
    ] {
        let (status, v) = get(&s, "/api/v1/query", &[("query", q)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!((v["status"].as_str(), v["errorType"].as_str()), (Some("error"), Some("bad_data")), "{q}");
        assert!(v["error"].as_str().unwrap().contains(says), "{q}: {v}");
    }
    let (status, v) = get(&s, "/api/v1/query_range", &[("query", "up"), ("start", "10"), ("end", "5"), ("step", "1")]).await;
    assert_eq!((status, v["errorType"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_data")));
    for path in ["/api/v1/query?query=1%2B1", "/api/v1/labels", "/api/v1/rules", "/api/v1/status/buildinfo"] {
        let r = reqwest::get(format!("{}{path}", s.url())).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

/// One call, 70 minutes ago, of a tool called nowhere else: its series starts
/// at 0 at the start of the call's minute, so `increase` counts that call; it
/// stays, flat, for an hour, also for a query whose window holds no call; then
/// it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_call_is_counted_and_its_series_stays_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(common::server_config(dir.path(), TOKEN)).await.unwrap();
    let minute = chrono::Utc::now().timestamp_millis() / MINUTE_MS - 70;
    let at_ns = (minute * MINUTE_MS + 20_000) * 1_000_000;
    let mut event = Generator::new(GenSpec { seed: 3, start_ns: at_ns, ..GenSpec::default() }).next().unwrap();
    event.tool = "rarely_called".into();
    event.timestamp_ns = at_ns;
    let url = format!("http://{}", server.addr);
    let r = reqwest::Client::new().post(format!("{url}/v1/events")).bearer_auth(TOKEN).json(&event).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    let query = |q: &str, minutes_after: i64| {
        let time = ((minute + minutes_after) * MINUTE_MS / 1000 + 7).to_string();
        let request = reqwest::Client::new().get(format!("{url}/api/v1/query")).query(&[("query", q), ("time", &time)]).bearer_auth(TOKEN);
        async move {
            let v: Value = request.send().await.unwrap().json().await.unwrap();
            assert_eq!(v["status"], "success", "{v}");
            v["data"]["result"].as_array().unwrap().clone()
        }
    };
    let selector = r#"toolpulse_tool_calls_total{tool="rarely_called"}"#;
    // Three minutes after: sampled at 0 at the start of the call's minute, then at 1.
    let raw = query(&format!("{selector}[5m]"), 3).await;
    let samples: Vec<(i64, &str)> = raw[0]["values"].as_array().unwrap().iter().map(|p| (p[0].as_i64().unwrap(), p[1].as_str().unwrap())).collect();
    let t = |m: i64| (minute + m) * MINUTE_MS / 1000;
    assert_eq!(samples, [(t(0), "0"), (t(1), "1"), (t(2), "1"), (t(3), "1")]);
    // Prometheus's extrapolation: not before the zero point, 7 s past the last sample.
    let increase = query(&format!("increase({selector}[5m])"), 3).await;
    let value: f64 = increase[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(close(value, 187.0 / 180.0), "{value}");
    // Forty-five minutes after: no call in the window, but the series is there, at 0.
    let quiet = query(&format!("sum(rate({selector}[5m]))"), 45).await;
    assert_eq!(quiet.len(), 1, "{quiet:?}");
    assert_eq!(quiet[0]["value"][1], "0");
    // An hour and seven minutes after: gone.
    assert!(query(&format!("sum(rate({selector}[5m]))"), 67).await.is_empty());
}
