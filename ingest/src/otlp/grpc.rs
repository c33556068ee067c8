//! OTLP/gRPC: the `TraceService/Export` method, on its own port, behind the same
//! bearer token as everything else (`authorization: Bearer <token>` metadata;
//! a missing or wrong token is `UNAUTHENTICATED`).

use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use super::{OtlpContext, export};
use crate::error::IngestError;

struct Receiver {
    ctx: OtlpContext,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(&self, request: Request<ExportTraceServiceRequest>) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let request_id = uuid::Uuid::new_v4().to_string();
        match export(&self.ctx, request.into_inner(), &request_id).await {
            Ok(r) => Ok(Response::new(r)),
            Err(e @ IngestError::Busy { .. }) => Err(Status::resource_exhausted(e.to_string())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }
}

/// Serves OTLP/gRPC on `listen` until `stop`; `check` decides whether a
/// presented `authorization` value is the token.
pub async fn spawn(
    listen: SocketAddr,
    ctx: OtlpContext,
    check: impl Fn(&str) -> bool + Send + Sync + Clone + 'static,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let auth = move |req: Request<()>| -> Result<Request<()>, Status> {
        let presented = req.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let token = presented.strip_prefix("Bearer ").or_else(|| presented.strip_prefix("bearer ")).unwrap_or("");
        if check(token) { Ok(req) } else { Err(Status::unauthenticated("a valid bearer token is required")) }
    };
    let server = TraceServiceServer::new(Receiver { ctx })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(64 << 20);
    let service = tonic::service::interceptor::InterceptedService::new(server, auth);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(incoming, shutdown).await {
            tracing::error!(error = %e, "OTLP/gRPC server stopped");
        }
    });
    Ok((addr, task))
}
