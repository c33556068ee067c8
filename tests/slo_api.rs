//! The SLO status API (`GET /api/v1/slos/{name}`) against an independent
//! computation: DuckDB (`tests/peers/duckdb_query.py`) counts the good and bad
//! calls of every window straight from the Parquet files, by the SLI semantics
//! of the design (success rate, auth-failure rate, latency ratio, chain latency,
//! and per-minute p99 timeslices), and the burn rates follow from those counts. Windows are
//! named as in the metric labels (`1d`, not `1day`).

mod common;

use reqwest::StatusCode;
use serde_json::Value;
use toolpulse_gen::{GenSpec, Generator};
use toolpulse_serve::{RunningServer, Server};

const TOKEN: &str = "slo-token";
const MINUTE_MS: i64 = 60_000;

/// Three hours of a generated fleet with three incidents in the last hour
/// (postgres errors, slack auth failures, jira slowness), ingested over HTTP
/// into a server evaluating the shipped SLOs, and one evaluation.
async fn seeded(dir: &std::path::Path) -> RunningServer {
    let mut cfg = common::server_config(dir, TOKEN);
    cfg.slo.dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("slo/specs"));
    let server = Server::start(cfg).await.unwrap();

    let hours = 3;
    let n = 36_000;
    let spec = GenSpec {
        seed: 5,
        start_ns: toolpulse_schemas::timestamp::now_ns() - hours * 3_600_000_000_000,
        rate: n as f64 / (hours as f64 * 3600.0),
        incidents: ["kind=errors,server=postgres,rate=0.4,at=140m,for=25m", "kind=auth,server=slack,rate=0.5,at=150m,for=20m", "kind=latency,server=jira,factor=8,at=130m,for=40m"]
            .iter()
            .map(|i| i.parse().unwrap())
            .collect(),
        ..GenSpec::default()
    };
    let lines: Vec<Vec<u8>> = Generator::new(spec).take(n).map(|e| serde_json::to_vec(&e).unwrap()).collect();
    for chunk in lines.chunks(6000) {
        let r = reqwest::Client::new().post(format!("http://{}/v1/events", server.addr)).bearer_auth(TOKEN).body(chunk.join(&b'\n')).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }
    server.slo.evaluate_now().await.unwrap();
    server
}

async fn status(s: &RunningServer, slo: &str) -> Value {
    let r = reqwest::Client::new().get(format!("http://{}/api/v1/slos/{slo}", s.addr)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{slo}");
    r.json::<Value>().await.unwrap()["data"]["status"].clone()
}

/// Minutes in a window name (`5m`, `6h`, `3d`), which must be written as the metric labels are.
fn window_minutes(name: &str) -> i64 {
    let (n, unit) = name.split_at(name.len() - 1);
    let n: i64 = n.parse().unwrap_or_else(|_| panic!("window {name:?} is not <n><unit>"));
    n * match unit {
        "m" => 1,
        "h" => 60,
        "d" => 1440,
        _ => panic!("window {name:?} has no minute, hour or day unit"),
    }
}

/// The epoch-ms bounds `[start, end)` of a window ending at `at_ms`: the
/// minutes (t − W, t], the current minute included.
fn bounds(at_ms: i64, window: &str) -> (i64, i64) {
    let end = (at_ms / MINUTE_MS + 1) * MINUTE_MS;
    (end - window_minutes(window) * MINUTE_MS, end)
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burn_rates_match_duckdb_over_the_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    const SERVER_FAULT: &str = "outcome IN ('tool_error', 'protocol_error', 'timeout')";
    let ratio = |selection: &str, good: &str, bad: &str| {
        format!("SELECT count(*) FILTER (WHERE {good}), count(*) FILTER (WHERE {bad}), count(*) FROM tool_calls WHERE {selection} AND ts_ms >= {{from}} AND ts_ms < {{to}}")
    };
    // Each SLO of slo/specs but the timeslice one, as the design defines it:
    // DuckDB's (good, bad, events) of a window [from, to).
    let slos = [
        ("fleet-availability", ratio("true", "outcome = 'success'", SERVER_FAULT)),
        ("postgres-availability", ratio("server = 'postgres'", "outcome = 'success'", SERVER_FAULT)),
        ("slack-auth", ratio("server = 'slack'", "outcome <> 'auth_failure'", "outcome = 'auth_failure'")),
        // The latency SLI counts successes and tool errors; `events` is every call of the selection.
        ("jira-latency", ratio("server = 'jira'", "outcome IN ('success', 'tool_error') AND duration_ms <= 2000", "outcome IN ('success', 'tool_error') AND duration_ms > 2000")),
        // Chains of two or more calls (one trace), by the minute they started, within 10 s end to end.
        (
            "fleet-chains",
            "WITH c AS (SELECT min(ts_ms) AS started, max(ts_ms + duration_ms) - min(ts_ms) AS took, max(coalesce(chain_depth, 1)) AS depth \
             FROM tool_calls WHERE trace_id IS NOT NULL GROUP BY trace_id) \
             SELECT count(*) FILTER (WHERE took <= 10000), count(*) FILTER (WHERE took > 10000), count(*) FROM c \
             WHERE depth >= 2 AND started >= {from} AND started < {to}"
                .to_owned(),
        ),
    ];
    let mut checked = 0;
    let mut burning = 0;
    for (slo, count) in &slos {
        let st = status(&s, slo).await;
        let (at_ms, objective) = (st["at_ms"].as_i64().unwrap(), st["objective"].as_f64().unwrap());
        let windows = st["windows"].as_array().unwrap();
        let queries: Vec<String> = windows
            .iter()
            .map(|w| {
                let (from, to) = bounds(at_ms, w["window"].as_str().unwrap());
                count.replace("{from}", &from.to_string()).replace("{to}", &to.to_string())
            })
            .collect();
        for (w, rows) in windows.iter().zip(common::duckdb(dir.path(), &queries)) {
            let name = w["window"].as_str().unwrap();
            let (g, b, events) = (as_u64(&rows[0][0]), as_u64(&rows[0][1]), as_u64(&rows[0][2]));
            assert_eq!((as_u64(&w["good"]), as_u64(&w["bad"]), as_u64(&w["events"])), (g, b, events), "{slo} over {name}");
            let burn = if g + b == 0 { 0.0 } else { b as f64 / (g + b) as f64 / (1.0 - objective) };
            let ours = w["burn_rate"].as_f64().unwrap();
            assert!((ours - burn).abs() <= 1e-9 * burn.max(1.0), "{slo} over {name}: burn rate {ours} against {burn}");
            checked += 1;
            burning += usize::from(burn > 1.0);
        }
        assert!(windows.iter().any(|w| as_u64(&w["events"]) > 0), "{slo} counts calls in some window");
        // The pairs show the same windows' burn rates.
        for p in st["pairs"].as_array().unwrap() {
            let long = windows.iter().find(|w| w["window"] == p["long"]).unwrap_or_else(|| panic!("{slo}: pair window {} listed", p["long"]));
            assert_eq!(long["burn_rate"], p["long_burn_rate"], "{slo}");
        }
    }
    assert!(checked >= 35, "{checked} windows checked");
    assert!(burning >= 8, "the incidents burn budget in {burning} windows");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p99_timeslices_match_duckdb_per_minute_quantiles() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    // jira-p99-per-minute: a minute is bad when the p99 of jira's calls exceeds 5 s.
    let st = status(&s, "jira-p99-per-minute").await;
    let at_ms = st["at_ms"].as_i64().unwrap();
    let objective = st["objective"].as_f64().unwrap();
    let queries: Vec<String> = st["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let (from, to) = bounds(at_ms, w["window"].as_str().unwrap());
            // HDR histograms keep 3 significant digits, so a minute whose exact
            // p99 lies within 0.1% of the threshold may fall either way.
            format!(
                "WITH m AS (SELECT ts_ms // 60000 AS minute, quantile_disc(duration_ms, 0.99) AS p99 FROM tool_calls \
                 WHERE server = 'jira' AND ts_ms >= {from} AND ts_ms < {to} GROUP BY 1) \
                 SELECT count(*) FILTER (WHERE p99 > 5000 * 1.001), count(*) FILTER (WHERE p99 > 5000 / 1.001) FROM m"
            )
        })
        .collect();
    let mut bad_somewhere = false;
    for (w, rows) in st["windows"].as_array().unwrap().iter().zip(common::duckdb(dir.path(), &queries)) {
        let name = w["window"].as_str().unwrap();
        let (surely_bad, maybe_bad) = (as_u64(&rows[0][0]), as_u64(&rows[0][1]));
        let bad = as_u64(&w["bad"]);
        assert!((surely_bad..=maybe_bad).contains(&bad), "{name}: {bad} bad minutes, DuckDB {surely_bad}..={maybe_bad}");
        // Every minute of the window is a slice; a minute without calls is good.
        let slices = window_minutes(name) as f64;
        let burn = bad as f64 / slices / (1.0 - objective);
        let ours = w["burn_rate"].as_f64().unwrap();
        assert!((ours - burn).abs() <= 1e-9 * burn.max(1.0), "{name}: burn rate {ours} against {burn}");
        bad_somewhere |= bad > 0;
    }
    assert!(bad_somewhere, "the jira incident makes slow minutes");
    s.shutdown().await.unwrap();
}
