//! The HTTP source: `POST /v1/events` takes NDJSON or a JSON array (optionally
//! gzip-compressed) and answers, once the good events are durable, with the
//! accepted and rejected counts and an error per bad line.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::json;
use toolpulse_schemas::DecodeLimits;
use toolpulse_schemas::timestamp::now_ns;

use crate::body::{DecodeContext, LineError, decode_body};
use crate::compression::{ACCEPTED_CODINGS, CompressionError, decompress};
use crate::error::IngestError;
use crate::metrics::IngestMetrics;
use crate::writer::{Submission, WriterHandle};

/// Limits of the HTTP source.
#[derive(Debug, Clone)]
pub struct HttpIngestConfig {
    /// Largest request body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression.
    pub max_decompressed_bytes: usize,
    /// How long a request waits for its events to become durable before 503.
    pub ack_timeout: Duration,
    /// Most per-line errors listed in one answer (all are counted and dead-lettered).
    pub max_reported_errors: usize,
    pub limits: DecodeLimits,
}

impl Default for HttpIngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            ack_timeout: Duration::from_secs(30),
            max_reported_errors: 1000,
            limits: DecodeLimits::default(),
        }
    }
}

#[derive(Clone)]
struct HttpState {
    writer: WriterHandle,
    metrics: IngestMetrics,
    cfg: Arc<HttpIngestConfig>,
}

/// The routes of the HTTP source (authentication is added by the server).
pub fn router(writer: WriterHandle, metrics: IngestMetrics, cfg: HttpIngestConfig) -> Router {
    Router::new()
        .route("/v1/events", post(ingest_events))
        .with_state(HttpState { writer, metrics, cfg: Arc::new(cfg) })
}

/// The answer to a successful ingest request.
#[derive(Debug, Serialize)]
pub struct IngestResponse {
    pub request_id: String,
    pub accepted: usize,
    pub rejected: usize,
    pub errors: Vec<LineError>,
    /// True when more errors occurred than are listed.
    pub errors_truncated: bool,
}

async fn ingest_events(State(st): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    match handle(&st, &headers, body, request_id.clone()).await {
        Ok(r) => r,
        Err(e) => e.into_response_with(&request_id),
    }
}

async fn handle(st: &HttpState, headers: &HeaderMap, body: Body, request_id: String) -> Result<Response, HttpError> {
    let raw = axum::body::to_bytes(body, st.cfg.max_body_bytes)
        .await
        .map_err(|_| HttpError::TooLarge(format!("request body exceeds {} bytes", st.cfg.max_body_bytes)))?;
    let bytes = decompress(headers, raw, st.cfg.max_decompressed_bytes).map_err(|e| match e {
        CompressionError::Invalid { .. } => HttpError::BadRequest(e.to_string()),
        CompressionError::TooLarge(_) => HttpError::TooLarge(e.to_string()),
        CompressionError::Unsupported(_) => HttpError::UnsupportedEncoding(e.to_string()),
    })?;
    let ctx = DecodeContext { limits: st.cfg.limits.clone(), now_ns: now_ns(), request_id: request_id.clone() };
    let decoded = tokio::task::spawn_blocking(move || decode_body(&bytes, &ctx)).await.map_err(|e| HttpError::Internal(e.to_string()))?;

    let (accepted, rejected) = (decoded.accepted, decoded.dead.len());
    let mut errors = decoded.errors;
    let errors_truncated = errors.len() > st.cfg.max_reported_errors;
    errors.truncate(st.cfg.max_reported_errors);
    let sub = Submission { source: "http", events: decoded.events, dead: decoded.dead, waiting: true, ..Submission::default() };
    let durable = st.writer.try_submit(sub).map_err(|r| HttpError::from(r.error))?;
    st.metrics.accept("http", accepted as u64);
    for e in &errors {
        st.metrics.reject("http", &e.code);
    }
    match tokio::time::timeout(st.cfg.ack_timeout, durable.wait()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(HttpError::from(e)),
        Err(_) => return Err(HttpError::Unavailable("events are not durable yet; retry with the same event ids".into())),
    }
    let status = if accepted == 0 && rejected > 0 { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = IngestResponse { request_id, accepted, rejected, errors, errors_truncated };
    Ok((status, axum::Json(body)).into_response())
}

#[derive(Debug)]
enum HttpError {
    BadRequest(String),
    TooLarge(String),
    UnsupportedEncoding(String),
    Busy(String),
    Unavailable(String),
    Internal(String),
}

impl From<IngestError> for HttpError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Busy { .. } => HttpError::Busy(e.to_string()),
            other => HttpError::Unavailable(other.to_string()),
        }
    }
}

impl HttpError {
    fn into_response_with(self, request_id: &str) -> Response {
        let (status, message, retry) = match self {
            HttpError::BadRequest(m) => (StatusCode::BAD_REQUEST, m, false),
            HttpError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m, false),
            HttpError::UnsupportedEncoding(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m, false),
            HttpError::Busy(m) => (StatusCode::SERVICE_UNAVAILABLE, m, true),
            HttpError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m, true),
            HttpError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m, false),
        };
        let mut resp = (status, axum::Json(json!({"request_id": request_id, "error": message}))).into_response();
        if retry {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            resp.headers_mut().insert(header::ACCEPT_ENCODING, HeaderValue::from_static(ACCEPTED_CODINGS));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is left unread: the connection cannot be reused.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}
