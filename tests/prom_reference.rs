//! PromQL answers checked against Prometheus itself (the `prometheus` server of
//! Debian's package, installed by `scripts/setup.sh`). The samples toolpulse
//! serves for its counters, quantile gauges and SLO gauges are read back
//! through its own API, loaded into a Prometheus TSDB with `promtool tsdb
//! create-blocks-from openmetrics`, and each query, instant and range, must
//! give the same series and values on both.
//!
//! The test stays away from where the two are meant to differ:
//! - raw counter values, which in toolpulse count the calls since an hour
//!   before the range a query reads: queries of counters go through functions
//!   of their changes;
//! - windows starting on a sample: Prometheus 2.x windows include their start,
//!   3.x windows (and toolpulse's) do not. Samples sit on minute boundaries, so
//!   every evaluation time is 7 s past one;
//! - windows holding a series' first samples: toolpulse sums series under
//!   `sum by` before `rate` and extrapolates the sum, Prometheus extrapolates
//!   each series, a new one not back past its start. The fleet is small and
//!   busy, and the queries start well after the last series has appeared;
//! - a histogram bucket that counts its first call inside a window (a slow
//!   tool's fastest bucket): Prometheus extrapolates that series no further
//!   back than its zero point, toolpulse extrapolates the sum. That moves a
//!   window's rate by a fraction of one call, so answers over buckets agree to
//!   [`BUCKET_TOLERANCE`] instead of to rounding.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use serde_json::Value;
use toolpulse_gen::{FleetSpec, GenSpec, Generator};
use toolpulse_serve::{RunningServer, Server};

const TOKEN: &str = "reference-token";
const MINUTE_S: i64 = 60;

/// Relative difference allowed in answers over histogram buckets (see above).
const BUCKET_TOLERANCE: f64 = 1e-3;

/// The metrics whose raw samples are copied to Prometheus: the first
/// [`COUNTERS`] are the tool-call counters, then the precise quantile gauges
/// and the SLO gauges (of `slo/specs`).
const FAMILIES: [&str; 11] = [
    "toolpulse_tool_calls_total",
    "toolpulse_tool_call_duration_seconds_bucket",
    "toolpulse_tool_call_duration_seconds_sum",
    "toolpulse_tool_call_duration_seconds_count",
    "toolpulse_tool_call_duration_quantile_seconds",
    "toolpulse_server_call_duration_quantile_seconds",
    "toolpulse_tool_chain_duration_quantile_seconds",
    "toolpulse_slo_burn_rate",
    "toolpulse_slo_sli",
    "toolpulse_slo_error_budget_remaining",
    "toolpulse_slo_period_sli",
];
const COUNTERS: usize = 4;

/// What dashboards, alerts and people ask of counters and histograms.
const QUERIES: &[&str] = &[
    "sum(rate(toolpulse_tool_calls_total[5m]))",
    "sum by (server) (rate(toolpulse_tool_calls_total[5m]))",
    "sum by (server, tool) (increase(toolpulse_tool_calls_total[10m]))",
    r#"rate(toolpulse_tool_calls_total{server="github",outcome="success"}[5m])"#,
    "sum by (server) (irate(toolpulse_tool_calls_total[5m]))",
    r#"sum by (server) (rate(toolpulse_tool_calls_total{outcome!="success"}[5m])) / sum by (server) (rate(toolpulse_tool_calls_total[5m]))"#,
    "histogram_quantile(0.99, sum by (le, server) (rate(toolpulse_tool_call_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, sum by (le) (rate(toolpulse_tool_call_duration_seconds_bucket[10m])))",
    "sum(rate(toolpulse_tool_call_duration_seconds_sum[5m])) / sum(rate(toolpulse_tool_call_duration_seconds_count[5m]))",
    // Active tools only: once every rate is 0, which of the ties are "top" is
    // up to each implementation.
    "topk(3, sum by (tool) (rate(toolpulse_tool_calls_total[5m])) > 0)",
    "sum by (server, tool) (rate(toolpulse_tool_calls_total[5m])) / on (server) group_left sum by (server) (rate(toolpulse_tool_calls_total[5m]))",
    "sum by (server) (rate(toolpulse_tool_calls_total[5m])) > bool 10",
    "sum(increase(toolpulse_tool_calls_total[2m]))",
    "sum by (server) (changes(toolpulse_tool_calls_total[10m]))",
    "sum by (server) (resets(toolpulse_tool_calls_total[10m]))",
    "sum by (server) (delta(toolpulse_tool_calls_total[10m]))",
    "sum by (server) (deriv(toolpulse_tool_calls_total[10m]))",
    "quantile(0.9, sum by (tool) (rate(toolpulse_tool_calls_total[5m])))",
    "stddev by (server) (rate(toolpulse_tool_calls_total[5m]))",
    "count by (server) (toolpulse_tool_calls_total)",
    "sort_desc(sum by (server) (rate(toolpulse_tool_calls_total[5m] offset 10m)))",
    r#"label_replace(sum by (server) (rate(toolpulse_tool_calls_total[5m])), "initial", "$1", "server", "(.).*")"#,
    r#"absent(toolpulse_tool_calls_total{server="nope"})"#,
    "clamp(sum by (server) (rate(toolpulse_tool_calls_total[5m])), 5, 20)",
    // A NaN bound makes NaN (Go's math.Max/Min), and min > max makes nothing.
    "clamp_max(sum by (server) (rate(toolpulse_tool_calls_total[5m])), NaN)",
    "clamp(sum by (server) (rate(toolpulse_tool_calls_total[5m])), 20, 5) or vector(7)",
    // Ties round up, negative ones too (-(2n + 1) / 2 is always one), through
    // the inverse of the step; on counts, which both sides hold exactly.
    "round(-(2 * count by (server) (toolpulse_tool_calls_total) + 1) / 2)",
    "round(count by (server) (toolpulse_tool_calls_total) / 3, 0.1)",
    r#"toolpulse_server_call_duration_quantile_seconds{quantile="0.99"}"#,
    r#"max by (server) (max_over_time(toolpulse_tool_call_duration_quantile_seconds{quantile="0.99"}[10m]))"#,
    r#"quantile_over_time(0.9, toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}[30m])"#,
    r#"count by (depth) (last_over_time(toolpulse_tool_chain_duration_quantile_seconds[15m]))"#,
    // Aggregations and functions over NaN (0/0 where a series has no calls),
    // infinities (ln of 0) and the other operators.
    "max by (server) (rate(toolpulse_tool_calls_total[5m]) / rate(toolpulse_tool_calls_total[5m]))",
    "min by (server) (rate(toolpulse_tool_calls_total[5m]) / rate(toolpulse_tool_calls_total[5m]))",
    "avg by (server) (rate(toolpulse_tool_calls_total[5m]) / rate(toolpulse_tool_calls_total[5m]))",
    "quantile(0.5, sum by (server, outcome) (rate(toolpulse_tool_calls_total[5m])) / sum by (server, outcome) (rate(toolpulse_tool_calls_total[5m])))",
    "stddev(sum by (server, outcome) (rate(toolpulse_tool_calls_total[5m])) / sum by (server, outcome) (rate(toolpulse_tool_calls_total[5m])))",
    "sort(sum by (server) (rate(toolpulse_tool_calls_total[5m])))",
    "sgn(sum by (server) (rate(toolpulse_tool_calls_total[5m])) - 10)",
    "-sum by (server) (rate(toolpulse_tool_calls_total[5m])) < -5",
    "ln(sum by (server) (rate(toolpulse_tool_calls_total[5m])))",
    "exp(sum by (server) (rate(toolpulse_tool_calls_total[5m])) / 100) + sqrt(sum by (server) (rate(toolpulse_tool_calls_total[5m])))",
    "deg(sum by (server) (rate(toolpulse_tool_calls_total[5m]))) - rad(sum by (server) (rate(toolpulse_tool_calls_total[5m])))",
    "sum by (server) (rate(toolpulse_tool_calls_total[5m])) % 3 + sum by (server) (rate(toolpulse_tool_calls_total[5m])) ^ 0.5",
    "sum by (server) (rate(toolpulse_tool_calls_total[5m])) atan2 10",
    "sum by (server) (rate(toolpulse_tool_calls_total[5m])) unless on (server) sum by (server) (rate(toolpulse_tool_calls_total{outcome=\"timeout\"}[5m])) > 0",
    "scalar(sum(rate(toolpulse_tool_calls_total[5m]))) * on () group_left vector(2)",
    "histogram_quantile(0.9, sum by (le, server, outcome) (rate(toolpulse_tool_call_duration_seconds_bucket[5m])))",
    "sum by (server) (count_over_time(toolpulse_tool_calls_total[10m])) + sum by (server) (present_over_time(toolpulse_tool_calls_total[10m]))",
    "count(count by (server, tool) (toolpulse_tool_calls_total)) + count(group by (server) (toolpulse_tool_calls_total))",
    r#"stddev_over_time(toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}[30m]) + stdvar_over_time(toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}[30m])"#,
    r#"timestamp(toolpulse_server_call_duration_quantile_seconds{quantile="0.5"})"#,
    "max(toolpulse_tool_call_duration_quantile_seconds) by (quantile)",
    r#"avg_over_time(toolpulse_tool_call_duration_quantile_seconds{quantile="0.99"}[5m:30s])"#,
    "min_over_time(toolpulse_server_call_duration_quantile_seconds[1h] offset 5m)",
    r#"idelta(toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}[5m]) + delta(toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}[10m])"#,
    r#"changes(toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}[30m])"#,
    r#"holt_winters(toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}[30m], 0.3, 0.6)"#,
    // Values as labels, in Go's plain notation even when tiny or huge.
    "count_values(\"v\", count by (server) (toolpulse_tool_calls_total) * 1e-7) or count_values(\"w\", count by (server) (toolpulse_tool_calls_total) * 1e22)",
    // Which operations keep the metric name, vector matching, @ and the calendar.
    r#"toolpulse_server_call_duration_quantile_seconds > 0.01"#,
    r#"toolpulse_server_call_duration_quantile_seconds > bool 0.01"#,
    r#"sort_desc(toolpulse_server_call_duration_quantile_seconds)"#,
    r#"topk(1, toolpulse_server_call_duration_quantile_seconds)"#,
    r#"toolpulse_server_call_duration_quantile_seconds{server="github"} or on(quantile) toolpulse_server_call_duration_quantile_seconds{server="jira"}"#,
    r#"toolpulse_tool_call_duration_quantile_seconds / on(server, quantile) group_left toolpulse_server_call_duration_quantile_seconds"#,
    r#"toolpulse_server_call_duration_quantile_seconds / on(server, quantile) group_right toolpulse_tool_call_duration_quantile_seconds"#,
    r#"count_values without (quantile) ("q", toolpulse_server_call_duration_quantile_seconds > 0.01)"#,
    r#"sum without (server) (toolpulse_server_call_duration_quantile_seconds)"#,
    r#"toolpulse_server_call_duration_quantile_seconds unless toolpulse_server_call_duration_quantile_seconds{quantile="0.5"}"#,
    r#"toolpulse_server_call_duration_quantile_seconds @ start()"#,
    r#"max_over_time(toolpulse_server_call_duration_quantile_seconds[10m] @ end())"#,
    r#"label_join(toolpulse_server_call_duration_quantile_seconds, "sq", "/", "server", "quantile")"#,
    r#"toolpulse_server_call_duration_quantile_seconds > on(server) group_left max by (server) (toolpulse_server_call_duration_quantile_seconds) * 0.5"#,
    r#"time() - timestamp(toolpulse_server_call_duration_quantile_seconds)"#,
    r#"hour(toolpulse_server_call_duration_quantile_seconds)"#,
    "max by (slo) (toolpulse_slo_burn_rate)",
    r#"avg_over_time(toolpulse_slo_sli{window="1h"}[15m])"#,
    "min_over_time(toolpulse_slo_error_budget_remaining[30m])",
    "avg_over_time(toolpulse_slo_period_sli[15m])",
];

/// Queries of single series, which agree also over windows holding a series'
/// start (a new series is sampled at 0 first, and neither extrapolates back
/// past that).
const PER_SERIES_QUERIES: &[&str] = &[
    "increase(toolpulse_tool_calls_total[10m])",
    r#"rate(toolpulse_tool_call_duration_seconds_count{server="github"}[5m])"#,
    r#"rate(toolpulse_tool_call_duration_seconds_bucket{le="0.5"}[5m])"#,
    "changes(toolpulse_tool_calls_total[10m])",
    r#"irate(toolpulse_tool_calls_total[5m])"#,
    r#"resets(toolpulse_tool_calls_total[10m])"#,
    r#"idelta(toolpulse_tool_calls_total[5m])"#,
    r#"increase(toolpulse_tool_calls_total[10m] offset 5m)"#,
    r#"rate(toolpulse_tool_calls_total[5m] @ end())"#,
    r#"deriv(toolpulse_tool_calls_total[10m])"#,
    r#"delta(toolpulse_tool_calls_total[10m])"#,
    r#"rate(toolpulse_tool_calls_total[1h])"#,
    r#"increase(toolpulse_tool_calls_total[30m:1m])"#,
    r#"rate(toolpulse_tool_call_duration_seconds_sum[5m]) / rate(toolpulse_tool_call_duration_seconds_count[5m])"#,
    r#"histogram_quantile(0.99, rate(toolpulse_tool_call_duration_seconds_bucket[5m]))"#,
];

/// A Prometheus server over a TSDB of given samples, killed when dropped.
struct Prometheus {
    url: String,
    _child: common::ChildGuard,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Loads `openmetrics` (text ending in `# EOF`) into a new TSDB and serves it.
    fn start(openmetrics: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let (input, tsdb) = (dir.path().join("samples.om"), dir.path().join("tsdb"));
        std::fs::write(&input, openmetrics).unwrap();
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&tsdb)
            .output()
            .expect("promtool is installed by scripts/setup.sh");
        assert!(out.status.success(), "promtool tsdb create-blocks-from: {}", String::from_utf8_lossy(&out.stderr));
        let (url, child) = common::prometheus(dir.path(), "global:\n  scrape_interval: 1m\n");
        Prometheus { url, _child: child, _dir: dir }
    }
}

/// A small, busy fleet (2 servers × 2 tools, one agent) for an hour, ending
/// 40 minutes ago, ingested over HTTP.
async fn seeded(dir: &std::path::Path) -> RunningServer {
    let mut cfg = common::server_config(dir, TOKEN);
    cfg.slo.dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("slo/specs"));
    let server = Server::start(cfg).await.unwrap();
    let now_s = chrono::Utc::now().timestamp();
    let rate = 30;
    let spec = GenSpec {
        seed: 5,
        start_ns: (now_s - 100 * MINUTE_S) * 1_000_000_000,
        rate: rate as f64,
        fleet: FleetSpec { servers: 2, tools_per_server: 2, agents: 1, tenants: 1 },
        // Errors and timeouts all along, so that every outcome has calls
        // from the first minutes on.
        incidents: vec!["kind=errors,rate=0.03,at=0m,for=60m".parse().unwrap(), "kind=timeouts,rate=0.01,at=0m,for=60m".parse().unwrap()],
        ..GenSpec::default()
    };
    let events: Vec<_> = Generator::new(spec).take(rate * 3600).collect();
    for chunk in events.chunks(10_000) {
        let mut body = Vec::new();
        for e in chunk {
            serde_json::to_writer(&mut body, e).unwrap();
            body.push(b'\n');
        }
        let r = reqwest::Client::new().post(format!("http://{}/v1/events", server.addr)).bearer_auth(TOKEN).body(body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    // The SLO engine reads the counts of the new events.
    server.slo.evaluate_now().await.unwrap();
    server
}

async fn api(base: &str, path: &str, params: &[(&str, String)]) -> Value {
    let r = reqwest::Client::new().post(format!("{base}{path}")).form(params).bearer_auth(TOKEN).send().await.unwrap();
    r.json().await.unwrap()
}

/// The samples of every series of [`FAMILIES`] toolpulse serves, as
/// OpenMetrics text; the time (s) of the first counter sample; of the first
/// sample of the counter series that appeared last.
async fn served_samples(base: &str, at_s: i64) -> (String, i64, i64) {
    let (mut text, mut first, mut last_to_appear) = (String::new(), i64::MAX, 0);
    for (i, family) in FAMILIES.iter().enumerate() {
        let v = api(base, "/api/v1/query", &[("query", format!("{family}[3h]")), ("time", at_s.to_string())]).await;
        assert_eq!(v["status"], "success", "{v}");
        for series in v["data"]["result"].as_array().unwrap() {
            let labels: Vec<String> = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap()))
                .collect();
            let values = series["values"].as_array().unwrap();
            // Gauges have no start to extrapolate from.
            if i < COUNTERS {
                first = first.min(values[0][0].as_i64().unwrap());
                last_to_appear = last_to_appear.max(values[0][0].as_i64().unwrap());
            }
            for point in values {
                let _ = writeln!(text, "{family}{{{}}} {} {}", labels.join(","), point[1].as_str().unwrap(), point[0]);
            }
        }
    }
    (text + "# EOF\n", first, last_to_appear)
}

/// An answer as {series labels → [(time, value)]}, or its error type.
fn points(v: &Value) -> Result<BTreeMap<String, Vec<(f64, f64)>>, String> {
    if v["status"] != "success" {
        return Err(v["errorType"].to_string());
    }
    let data = &v["data"];
    let value = |p: &Value| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().parse::<f64>().unwrap());
    if data["resultType"] == "scalar" {
        return Ok(BTreeMap::from([(String::new(), vec![value(&data["result"])])]));
    }
    let mut out = BTreeMap::new();
    for series in data["result"].as_array().unwrap() {
        let samples = match series.get("values") {
            Some(values) => values.as_array().unwrap().iter().map(value).collect(),
            None => vec![value(&series["value"])],
        };
        out.insert(series["metric"].to_string(), samples);
    }
    Ok(out)
}

/// Where two answers differ beyond `tolerance` (relative), in a line; `None`
/// when they agree.
fn difference(ours: &Value, theirs: &Value, tolerance: f64) -> Option<String> {
    let (ours, theirs) = match (points(ours), points(theirs)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return (a.is_err() || b.is_err()).then(|| format!("ours {:?}, Prometheus {:?}", a.err(), b.err())),
    };
    if ours.keys().ne(theirs.keys()) {
        return Some(format!("series: ours {:?}, Prometheus {:?}", ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>()));
    }
    for (labels, a) in &ours {
        let b = &theirs[labels];
        // NaN is NaN, an infinity itself, and anything else close enough.
        let same = |(ta, va): &(f64, f64), (tb, vb): &(f64, f64)| {
            ta == tb && (va == vb || (va.is_nan() && vb.is_nan()) || (va - vb).abs() <= tolerance * va.abs().max(vb.abs()).max(1.0))
        };
        if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| !same(x, y)) {
            let differing: Vec<_> = a.iter().zip(b).filter(|(x, y)| !same(x, y)).collect();
            return Some(format!("{labels}: {} against {} points, {} differing, first {:?}", a.len(), b.len(), differing.len(), differing.first()));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_answers_match_prometheus_over_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(dir.path()).await;
    let ours = format!("http://{}", server.addr);
    let at_s = chrono::Utc::now().timestamp() / MINUTE_S * MINUTE_S;
    let (samples, first, last_to_appear) = served_samples(&ours, at_s).await;
    assert!(samples.lines().count() > 10_000, "the metrics have samples: {}", samples.lines().count());
    // The hour of calls started 100 minutes before `at_s`.
    assert!(last_to_appear < at_s - 70 * MINUTE_S, "every series appears in the first half hour ({last_to_appear}, {at_s})");
    let prometheus = tokio::task::spawn_blocking(move || Prometheus::start(&samples)).await.unwrap();

    // 7 s past a minute: from when the windows (up to 10 minutes, 10 more
    // back by `offset`) hold no series' first sample, through the last calls
    // (40 minutes before `at_s`), into the hour the series stay after them,
    // up to the last sample copied.
    let from = (last_to_appear / MINUTE_S + 21) * MINUTE_S + 7;
    let end = at_s - MINUTE_S + 7;
    let instants = [from, from + 11 * MINUTE_S, end - 30 * MINUTE_S, end];
    let ranges = [(from, end, 60), (end - 50 * MINUTE_S, end - 30 * MINUTE_S, 15), (from, end, 300)];
    let mut differences = compare(&ours, &prometheus.url, QUERIES, &instants, &ranges).await;
    // Single series from their first minutes on.
    let start = first + 7;
    let instants = [start + MINUTE_S, start + 3 * MINUTE_S, start + 10 * MINUTE_S, from, end];
    let ranges = [(start, end, 60), (start, start + 20 * MINUTE_S, 15)];
    differences.extend(compare(&ours, &prometheus.url, PER_SERIES_QUERIES, &instants, &ranges).await);
    assert!(differences.is_empty(), "{} answers differ from Prometheus:\n{}", differences.len(), differences.join("\n"));
}

/// Asks both servers each query at each instant and over each range (start,
/// end, step in s); returns the answers that differ, a line each.
async fn compare(ours: &str, prometheus: &str, queries: &[&str], instants: &[i64], ranges: &[(i64, i64, i64)]) -> Vec<String> {
    let mut differences = Vec::new();
    for query in queries {
        let mut asks: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
        for t in instants {
            asks.push(("/api/v1/query", vec![("query", query.to_string()), ("time", t.to_string())]));
        }
        for (start, end, step) in ranges {
            let params = vec![("query", query.to_string()), ("start", start.to_string()), ("end", end.to_string()), ("step", step.to_string())];
            asks.push(("/api/v1/query_range", params));
        }
        // Whether Prometheus gave any series: a comparison of empty answers only proves little.
        let mut answered = false;
        for (path, params) in asks {
            let (a, b) = (api(ours, path, &params).await, api(prometheus, path, &params).await);
            assert_eq!(b["status"], "success", "Prometheus answers {query} {params:?}");
            answered |= points(&b).is_ok_and(|p| !p.is_empty());
            let tolerance = if query.contains("_bucket") { BUCKET_TOLERANCE } else { 1e-9 };
            if let Some(d) = difference(&a, &b, tolerance) {
                differences.push(format!("{query} at {params:?}: {d}"));
            }
        }
        assert!(answered, "Prometheus has series for {query}");
    }
    differences
}
