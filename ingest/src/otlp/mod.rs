//! OTLP trace ingest: OTLP/HTTP `POST /v1/traces` (protobuf, or JSON read by
//! [`json`]; gzip) in [`http`], OTLP/gRPC `TraceService/Export` in [`grpc`],
//! both turning each export into `spans` rows and MCP tool-call events
//! ([`convert`], [`mcp`]) and answering, once they are durable, with OTLP's
//! partial success. Attribute values become text by [`attribute_text`].

pub mod attribute_text;
pub mod convert;
pub mod grpc;
pub mod http;
pub mod json;
pub mod mcp;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use toolpulse_schemas::timestamp::now_ns;

use crate::error::IngestError;
use crate::metrics::IngestMetrics;
use crate::writer::{Submission, WriterHandle};

pub use convert::ConvertOptions;

/// What both OTLP receivers share.
#[derive(Clone)]
pub struct OtlpContext {
    pub writer: WriterHandle,
    pub metrics: IngestMetrics,
    pub options: Arc<ConvertOptions>,
    /// Largest request body (compressed or not) and after decompression.
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    /// How long an export waits for durability before answering 503 / UNAVAILABLE.
    pub ack_timeout: Duration,
}

/// Converts, submits and waits until durable; the OTLP response on success.
#[tracing::instrument(name = "otlp.export", skip(ctx, req))]
pub async fn export(ctx: &OtlpContext, req: ExportTraceServiceRequest, request_id: &str) -> Result<ExportTraceServiceResponse, IngestError> {
    let options = ctx.options.clone();
    let rid = request_id.to_owned();
    let converted = tokio::task::spawn_blocking(move || convert::convert(&req, &options, &rid, now_ns()))
        .await
        .map_err(|e| IngestError::FlushFailed(format!("converting spans: {e}")))?;
    let sub = Submission {
        source: "otlp",
        events: converted.events.into_iter().collect(),
        spans: converted.spans.into_iter().collect(),
        dead: converted.dead,
        waiting: true,
    };
    let durable = ctx.writer.try_submit(sub).map_err(|r| r.error)?;
    ctx.metrics.accept("otlp", converted.tool_calls as u64);
    for _ in 0..converted.rejected_spans + converted.rejected_tool_calls {
        ctx.metrics.reject("otlp", "invalid_span");
    }
    match tokio::time::timeout(ctx.ack_timeout, durable.wait()).await {
        Ok(r) => r?,
        Err(_) => return Err(IngestError::FlushFailed("spans are not durable yet; retry the export".into())),
    }
    let partial_success = (converted.rejected_spans > 0 || converted.rejected_tool_calls > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: converted.rejected_spans as i64,
        error_message: converted.first_error.unwrap_or_default(),
    });
    Ok(ExportTraceServiceResponse { partial_success })
}
