//! The Prometheus HTTP API, as Grafana's Prometheus data source and promtool
//! use it: `query` and `query_range` (GET, or POST with a form body),
//! `labels`, `label/<name>/values`, `series` (with `match[]`), `metadata`,
//! `query_exemplars` (always empty), `format_query` (the query editor's
//! "Format query"), `status/buildinfo`. Answers use
//! Prometheus's envelopes: `{"status":"success","data":…}` or
//! `{"status":"error","errorType":…,"error":…}`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use toolpulse_query::promql::engine::QueryResult;
use toolpulse_query::promql::format::{instant_data, range_data, sample_value, timestamp};
use toolpulse_query::promql::time::{parse_duration_param, parse_time};
use toolpulse_query::promql::value::Steps;
use toolpulse_query::promql::{PromEngine, PromError};

/// The request's parameters: the query string, plus a form body on POST.
struct Params(Vec<(String, String)>);

impl Params {
    fn read(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Result<Self, PromError> {
        let mut pairs: Vec<(String, String)> = match query.as_deref() {
            Some(q) => serde_urlencoded::from_str(q).map_err(|e| PromError::bad_data(format!("invalid query string: {e}")))?,
            None => Vec::new(),
        };
        let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form && !body.is_empty() {
            let more: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|e| PromError::bad_data(format!("invalid form body: {e}")))?;
            pairs.extend(more);
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// The PromQL expression, which every query endpoint requires.
    fn query(&self) -> Result<&str, PromError> {
        self.get("query").ok_or_else(|| PromError::bad_data("invalid parameter \"query\": empty query"))
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    fn time(&self, name: &str, default: i64) -> Result<i64, PromError> {
        self.get(name).map_or(Ok(default), |v| parse_time(name, v))
    }

    fn limit(&self) -> Result<Option<usize>, PromError> {
        match self.get("limit") {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(|n| (n > 0).then_some(n as usize))
                .map_err(|_| PromError::bad_data(format!("invalid parameter \"limit\": cannot parse \"{v}\" to a valid limit"))),
        }
    }
}

#[derive(Clone)]
struct ApiState {
    engine: PromEngine,
    clock: std::sync::Arc<dyn Fn() -> i64 + Send + Sync>,
}

pub fn router(engine: PromEngine, clock: std::sync::Arc<dyn Fn() -> i64 + Send + Sync>) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .with_state(ApiState { engine, clock })
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

fn failure(e: PromError) -> Response {
    let status = StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(json!({"status": "error", "errorType": e.kind.as_str(), "error": e.message}))).into_response()
}

fn answer(r: Result<Value, PromError>) -> Response {
    r.map_or_else(failure, success)
}

async fn query(State(st): State<ApiState>, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &body)?;
            let query = p.query()?;
            let at = p.time("time", (st.clock)())?;
            Ok(match st.engine.instant(query, at).await? {
                QueryResult::Value(v) => instant_data(&v, at),
                QueryResult::Matrix(series) => {
                    let result: Vec<Value> = series
                        .iter()
                        .map(|s| json!({"metric": s.labels, "values": s.samples.iter().map(|(t, v)| json!([timestamp(*t), sample_value(*v)])).collect::<Vec<_>>()}))
                        .collect();
                    json!({"resultType": "matrix", "result": result})
                }
            })
        }
        .await,
    )
}

async fn query_range(State(st): State<ApiState>, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &body)?;
            let query = p.query()?;
            let start = parse_time("start", p.get("start").ok_or_else(|| PromError::bad_data("invalid parameter \"start\": missing"))?)?;
            let end = parse_time("end", p.get("end").ok_or_else(|| PromError::bad_data("invalid parameter \"end\": missing"))?)?;
            let step = parse_duration_param("step", p.get("step").ok_or_else(|| PromError::bad_data("invalid parameter \"step\": missing"))?)?;
            let v = st.engine.range(query, start, end, step).await?;
            Ok(range_data(&v, &Steps { start, end, step }))
        }
        .await,
    )
}

/// `start`/`end` of the metadata endpoints: all time by default.
fn span(p: &Params, now: i64) -> Result<(i64, i64), PromError> {
    Ok((p.time("start", 0)?, p.time("end", now)?))
}

fn truncate<T>(mut v: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(n) = limit {
        v.truncate(n);
    }
    v
}

async fn labels(State(st): State<ApiState>, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &body)?;
            let (start, end) = span(&p, (st.clock)())?;
            let names = st.engine.label_names(&p.all("match[]"), start, end).await?;
            Ok(json!(truncate(names, p.limit()?)))
        }
        .await,
    )
}

async fn label_values(State(st): State<ApiState>, Path(name): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &Bytes::new())?;
            let (start, end) = span(&p, (st.clock)())?;
            let values = st.engine.label_values(&name, &p.all("match[]"), start, end).await?;
            Ok(json!(truncate(values, p.limit()?)))
        }
        .await,
    )
}

async fn series(State(st): State<ApiState>, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &body)?;
            let matchers = p.all("match[]");
            if matchers.is_empty() {
                return Err(PromError::bad_data("no match[] parameter provided"));
            }
            let (start, end) = span(&p, (st.clock)())?;
            Ok(json!(truncate(st.engine.series(&matchers, start, end).await?, p.limit()?)))
        }
        .await,
    )
}

async fn metadata(State(st): State<ApiState>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &Bytes::new())?;
            let mut out: HashMap<String, Value> = HashMap::new();
            let metric = p.get("metric");
            let limit = p.limit()?;
            for m in st.engine.metrics() {
                // A histogram's series are listed once, as their family.
                let (name, entry) = match m.family {
                    Some(f) => (f.name.to_owned(), json!([{"type": "histogram", "help": f.help, "unit": m.unit}])),
                    None => (m.name, json!([{"type": m.kind, "help": m.help, "unit": m.unit}])),
                };
                if metric.is_some_and(|x| x != name) || out.contains_key(&name) || limit.is_some_and(|n| out.len() >= n) {
                    continue;
                }
                out.insert(name, entry);
            }
            Ok(json!(out))
        }
        .await,
    )
}

async fn exemplars(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &body)?;
            p.query()?;
            Ok(json!([]))
        }
        .await,
    )
}

/// The query laid out as Prometheus's `promql.Prettify` does (what Grafana's
/// "Format query" shows), via the `promql-parser` crate's port of it.
async fn format_query(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            let p = Params::read(q, &headers, &body)?;
            let query = p.query()?;
            Ok(Value::String(PromEngine::parse(query)?.prettify()))
        }
        .await,
    )
}

async fn buildinfo() -> Response {
    success(json!({
        "version": "2.53.0",
        "revision": concat!("toolpulse-", env!("CARGO_PKG_VERSION")),
        "branch": "toolpulse",
        "buildUser": "toolpulse",
        "buildDate": "20261127-00:00:00",
        "goVersion": "n/a (toolpulse, Rust)",
    }))
}
