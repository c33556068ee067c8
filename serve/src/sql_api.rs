//! `POST /api/v1/sql`: user SQL through the query sandbox. The query comes as
//! the raw body, as JSON `{"query": "…"}` or as a form field `query`; the answer
//! is JSON rows by default, CSV or Arrow IPC by `Accept`. At most `max_rows` rows
//! come back; `X-Toolpulse-Truncated: true` says more were cut.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use toolpulse_query::output::{Format, encode};
use toolpulse_query::{QueryEngine, QueryError};

#[derive(Clone)]
struct SqlState {
    engine: QueryEngine,
    max_rows: Arc<usize>,
}

pub fn router(engine: QueryEngine, max_rows: usize) -> Router {
    Router::new().route("/api/v1/sql", post(run_sql)).with_state(SqlState { engine, max_rows: Arc::new(max_rows) })
}

fn query_text(headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ctype.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        return v["query"].as_str().map(str::to_owned).ok_or_else(|| "JSON body needs a string field `query`".to_owned());
    }
    // `curl --data-binary "SELECT …"` labels the raw query as a form: a form
    // body without a `query` field is taken as the query itself (SQL does not
    // start with `query=`, nor hold `&query=`).
    if ctype.starts_with("application/x-www-form-urlencoded")
        && let Some(query) = url_form_query(body)
    {
        return Ok(query);
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the query is not UTF-8".to_owned())
}

fn url_form_query(body: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == "query").map(|(_, v)| v)
}

async fn run_sql(State(st): State<SqlState>, headers: HeaderMap, body: Bytes) -> Response {
    let sql = match query_text(&headers, &body) {
        Ok(s) if !s.trim().is_empty() => s,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "bad_data", "empty query"),
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", &e),
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = Format::from_accept(accept);
    let (batches, truncated) = match st.engine.run_user_sql(&sql, Some(*st.max_rows)).await {
        Ok(r) => r,
        Err(e) => return query_error(&e),
    };
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => match st.engine.plan_user_sql(&sql).await {
            Ok(df) => Arc::new(df.schema().as_arrow().clone()),
            Err(e) => return query_error(&e),
        },
    };
    match encode(&batches, &schema, format) {
        Ok(bytes) => {
            let mut r = ([(header::CONTENT_TYPE, format.content_type())], bytes).into_response();
            if truncated {
                r.headers_mut().insert("x-toolpulse-truncated", header::HeaderValue::from_static("true"));
            }
            r
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}

fn query_error(e: &QueryError) -> Response {
    match e {
        QueryError::Timeout(_) => error(StatusCode::SERVICE_UNAVAILABLE, "timeout", &e.to_string()),
        QueryError::Refused(_) => error(StatusCode::FORBIDDEN, "refused", &e.to_string()),
        _ if e.is_user_error() => error(StatusCode::BAD_REQUEST, "bad_data", &e.to_string()),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "execution", &e.to_string()),
    }
}

fn error(status: StatusCode, kind: &str, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({"status": "error", "errorType": kind, "error": msg}))).into_response()
}
