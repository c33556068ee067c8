//! toolpulse's own telemetry: `tracing` to stderr (coloured on a terminal
//! only), filtered by `RUST_LOG` (default `info`), and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set, its spans exported with OpenTelemetry over OTLP/gRPC (service name
//! `toolpulse`, or `OTEL_SERVICE_NAME`; the exporter reads the other standard
//! `OTEL_EXPORTER_OTLP_*` variables).

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes exported spans when dropped.
pub struct TelemetryGuard(Option<SdkTracerProvider>);

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = p.shutdown();
        }
    }
}

fn otlp_configured() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].iter().any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
}

/// Installs the global subscriber once (later calls are no-ops). Call it
/// inside the Tokio runtime: the OTLP exporter connects through it.
pub fn init() -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: a log redirected to a file or a collector stays plain text.
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    let provider = if otlp_configured() {
        match opentelemetry_otlp::SpanExporter::builder().with_tonic().build() {
            Ok(exporter) => {
                let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "toolpulse".into());
                Some(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(Resource::builder().with_service_name(name).build())
                        .build(),
                )
            }
            Err(e) => {
                eprintln!("toolpulse: OTLP trace export disabled: {e}");
                None
            }
        }
    } else {
        None
    };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("toolpulse")));
    let _ = tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init();
    TelemetryGuard(provider)
}
