//! OTLP/HTTP: `POST /v1/traces` with a protobuf (`application/x-protobuf`) or
//! JSON (`application/json`) `ExportTraceServiceRequest`, optionally gzip. The
//! answer mirrors the request's encoding: `ExportTraceServiceResponse` (with
//! `partial_success` when spans were rejected), or a `google.rpc.Status` with a
//! 400 for a body that cannot be decoded, 413 above the size limit, 503 with
//! `Retry-After` while the writer is behind.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;

use super::{OtlpContext, export};
use crate::compression::{ACCEPTED_CODINGS, CompressionError, decompress};
use crate::error::IngestError;

pub fn router(ctx: OtlpContext) -> Router {
    Router::new().route("/v1/traces", post(traces)).with_state(ctx)
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of OTLP error answers.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC status codes used in error bodies.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

fn status(enc: Encoding, http: StatusCode, code: i32, message: String, retry: bool) -> Response {
    let body = match enc {
        Encoding::Protobuf => RpcStatus { code, message }.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&serde_json::json!({"code": code, "message": message})).unwrap_or_default(),
    };
    let mut r = (http, [(header::CONTENT_TYPE, enc.content_type())], body).into_response();
    if retry {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if http == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is left unread: the connection cannot be reused.
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, String> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/x-protobuf");
    let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match base.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        other => Err(format!("unsupported Content-Type {other:?}; OTLP/HTTP takes application/x-protobuf or application/json")),
    }
}

async fn traces(State(ctx): State<OtlpContext>, headers: HeaderMap, body: Body) -> Response {
    let enc = match encoding(&headers) {
        Ok(e) => e,
        Err(m) => return status(Encoding::Json, StatusCode::UNSUPPORTED_MEDIA_TYPE, INVALID_ARGUMENT, m, false),
    };
    let raw = match axum::body::to_bytes(body, ctx.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let m = format!("request body exceeds {} bytes", ctx.max_body_bytes);
            return status(enc, StatusCode::PAYLOAD_TOO_LARGE, RESOURCE_EXHAUSTED, m, false);
        }
    };
    let bytes = match decompress(&headers, raw, ctx.max_decompressed_bytes) {
        Ok(b) => b,
        Err(e @ CompressionError::TooLarge(_)) => return status(enc, StatusCode::PAYLOAD_TOO_LARGE, RESOURCE_EXHAUSTED, e.to_string(), false),
        Err(e @ CompressionError::Unsupported(_)) => {
            let mut refused = status(enc, StatusCode::UNSUPPORTED_MEDIA_TYPE, INVALID_ARGUMENT, e.to_string(), false);
            refused.headers_mut().insert(header::ACCEPT_ENCODING, HeaderValue::from_static(ACCEPTED_CODINGS));
            return refused;
        }
        Err(e) => return status(enc, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, e.to_string(), false),
    };
    let req = match decode(enc, &bytes) {
        Ok(r) => r,
        Err(m) => {
            ctx.metrics.reject("otlp", "malformed_request");
            return status(enc, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, m, false);
        }
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    match export(&ctx, req, &request_id).await {
        Ok(resp) => ok(enc, &resp),
        Err(e @ IngestError::Busy { .. }) => status(enc, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, e.to_string(), true),
        Err(e) => status(enc, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, e.to_string(), true),
    }
}

fn decode(enc: Encoding, bytes: &Bytes) -> Result<ExportTraceServiceRequest, String> {
    match enc {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes.as_ref()).map_err(|e| format!("invalid OTLP protobuf: {e}")),
        Encoding::Json => super::json::decode_request(bytes),
    }
}

fn ok(enc: Encoding, resp: &ExportTraceServiceResponse) -> Response {
    let body = match enc {
        Encoding::Protobuf => resp.encode_to_vec(),
        // A full success is `{}`, as protobuf's JSON mapping leaves out an unset
        // message (the generated serde impl would write `"partialSuccess": null`).
        Encoding::Json if resp.partial_success.is_none() => b"{}".to_vec(),
        Encoding::Json => serde_json::to_vec(resp).unwrap_or_else(|_| b"{}".to_vec()),
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, enc.content_type())], body).into_response()
}
