//! The running server: opens the store, starts the writer, the sources (HTTP
//! always, Kafka when configured) and background jobs, serves the HTTP API behind
//! the bearer token, and shuts down in order (stop taking input, drain and commit
//! Kafka, flush the writer) so nothing acknowledged is lost.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use toolpulse_ingest::http::HttpIngestConfig;
use toolpulse_ingest::otlp::{ConvertOptions, OtlpContext};
use toolpulse_ingest::kafka::{KafkaConfig, KafkaSource};
use toolpulse_ingest::{IngestMetrics, IngestWriter, WriterConfig, WriterHandle};
use toolpulse_query::{QueryConfig, QueryEngine};
use toolpulse_schemas::DecodeLimits;
use toolpulse_slo::alerts::AlertBook;
use toolpulse_slo::metrics::SloMetrics;
use toolpulse_query::promql::tool_calls::ToolCallMetrics;
use toolpulse_query::promql::{MetricSource, PromEngine};
use toolpulse_slo::prom_source::SloMetricsSource;
use toolpulse_slo::{EngineConfig, SloEngine, system_clock};
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::{DataDir, FileWriter};

use crate::auth::{Token, TokenSource, require_token, resolve_token};
use crate::config::Config;
use crate::jobs::spawn_maintenance;
use crate::lead::Lead;

/// Starts servers from a [`Config`].
pub struct Server;

/// A started server; [`RunningServer::shutdown`] stops it cleanly.
pub struct RunningServer {
    /// Where HTTP listens (useful with port 0).
    pub addr: SocketAddr,
    pub token: Token,
    pub token_source: TokenSource,
    stop: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    kafka: Arc<Mutex<Option<KafkaSource>>>,
    writer: WriterHandle,
    writer_task: JoinHandle<()>,
    maintenance: JoinHandle<()>,
    slo_tasks: Vec<JoinHandle<()>>,
    /// The SLO engine (with no specs when none are configured).
    pub slo: SloEngine,
    /// Where the PostgreSQL protocol listens, when enabled.
    pub pg_addr: Option<SocketAddr>,
    pg_task: Option<JoinHandle<()>>,
    /// Where OTLP/gRPC listens, when enabled.
    pub otlp_grpc_addr: Option<SocketAddr>,
    otlp_task: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    writer: WriterHandle,
    kafka: Arc<Mutex<Option<KafkaSource>>>,
}

impl Server {
    pub async fn start(cfg: Config) -> anyhow::Result<RunningServer> {
        let dir = DataDir::new(&cfg.data_dir);
        dir.create().with_context(|| format!("opening data dir {}", cfg.data_dir.display()))?;
        let mut registry = Registry::default();
        let lead = Lead::new(&dir, &mut registry);
        if lead.try_hold() {
            crate::jobs::finish_interrupted(&dir).context("finishing interrupted merges")?;
        }
        let (token, token_source) =
            resolve_token(&cfg.server.token, &cfg.token_path()).context("resolving the API token")?;

        let files = Arc::new(FileWriter::new(
            dir,
            WriteOptions { zstd_level: cfg.ingest.zstd_level, ..WriteOptions::default() },
        ));
        let files_for_status = files.clone();
        let metrics = IngestMetrics::default();
        metrics.register(&mut registry);
        // Sources show up on /metrics from the start, at zero.
        metrics.accept("http", 0);
        if cfg.kafka.enabled {
            metrics.accept("kafka", 0);
        }
        let (writer, writer_task) = IngestWriter::spawn(files.clone(), writer_config(&cfg), metrics.clone());

        let limits = DecodeLimits { max_future_skew_secs: cfg.ingest.max_future_skew_secs, ..DecodeLimits::default() };
        let kafka = if cfg.kafka.enabled {
            let kcfg = KafkaConfig {
                brokers: cfg.kafka.brokers.clone(),
                topics: cfg.kafka.topics.clone(),
                group_id: cfg.kafka.group_id.clone(),
                properties: cfg.kafka.properties.clone(),
                limits: limits.clone(),
                ..KafkaConfig::default()
            };
            let src = KafkaSource::start(kcfg, writer.clone(), metrics.clone(), tokio::runtime::Handle::current())
                .context("starting the Kafka source")?;
            tracing::info!(brokers = %cfg.kafka.brokers, topics = ?cfg.kafka.topics, group = %cfg.kafka.group_id, "kafka source started");
            Some(src)
        } else {
            None
        };
        let kafka = Arc::new(Mutex::new(kafka));

        let (stop, stop_rx) = watch::channel(false);
        let maintenance = spawn_maintenance(files, cfg.compaction.clone(), lead.clone(), stop_rx.clone());

        let http_cfg = HttpIngestConfig {
            max_body_bytes: cfg.ingest.max_body_mb << 20,
            max_decompressed_bytes: (cfg.ingest.max_body_mb << 20) * 4,
            limits: limits.clone(),
            ..HttpIngestConfig::default()
        };
        let otlp = OtlpContext {
            writer: writer.clone(),
            metrics: metrics.clone(),
            options: Arc::new(ConvertOptions { limits: limits.clone(), server_name: cfg.otlp.server_name }),
            max_body_bytes: http_cfg.max_body_bytes,
            max_decompressed_bytes: http_cfg.max_decompressed_bytes,
            ack_timeout: http_cfg.ack_timeout,
        };
        let (otlp_grpc_addr, otlp_task) = if cfg.otlp.grpc_enabled {
            let t = token.clone();
            let (addr, task) = toolpulse_ingest::otlp::grpc::spawn(cfg.otlp.grpc_listen, otlp.clone(), move |p| t.matches(p), stop_rx.clone())
                .await
                .with_context(|| format!("binding the OTLP/gRPC endpoint {}", cfg.otlp.grpc_listen))?;
            tracing::info!(%addr, "OTLP/gRPC listening");
            (Some(addr), Some(task))
        } else {
            (None, None)
        };
        let engine = QueryEngine::open(DataDir::new(&cfg.data_dir), query_config(&cfg)).await.context("opening the query engine")?;
        let slo = slo_engine(&cfg, &engine, files_for_status.clone(), lead, &mut registry)?;
        let slo_tasks = slo.spawn(stop_rx.clone());
        let state = AppState { registry: Arc::new(registry), writer: writer.clone(), kafka: kafka.clone() };
        let protected = Router::new()
            .route("/metrics", get(metrics_text))
            .with_state(state.clone())
            .merge(toolpulse_ingest::http::router(writer.clone(), metrics, http_cfg))
            .merge(toolpulse_ingest::otlp::http::router(otlp))
            .merge(crate::sql_api::router(engine.clone(), cfg.query.max_rows))
            .merge(crate::slo_api::router(slo.clone()))
            .merge(crate::prom_api::router(prom_engine(&engine, &slo, cfg.query.timeout), system_clock()))
            .route_layer(from_fn_with_state(token.clone(), require_token));
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .with_state(state)
            .merge(protected);

        let (pg_addr, pg_task) = if cfg.pgwire.enabled {
            let pg_engine = QueryEngine::open(DataDir::new(&cfg.data_dir), query_config(&cfg)).await.context("opening the query engine")?;
            let (addr, task) = crate::pg_wire::spawn(cfg.pgwire.listen, pg_engine.session_with_deadline(), token.clone(), stop_rx.clone())
                .await
                .with_context(|| format!("binding the PostgreSQL endpoint {}", cfg.pgwire.listen))?;
            tracing::info!(%addr, "PostgreSQL protocol listening (password: the API token)");
            (Some(addr), Some(task))
        } else {
            (None, None)
        };
        let listener = tokio::net::TcpListener::bind(cfg.server.listen)
            .await
            .with_context(|| format!("binding {}", cfg.server.listen))?;
        let addr = listener.local_addr()?;
        let mut http_stop = stop_rx;
        let http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|s| *s).await;
                })
                .await
        });
        tracing::info!(%addr, data_dir = %cfg.data_dir.display(), "toolpulse listening");
        Ok(RunningServer { addr, token, token_source, stop, http, kafka, writer, writer_task, maintenance, slo_tasks, slo, pg_addr, pg_task, otlp_grpc_addr, otlp_task })
    }
}

/// The SLO engine over the query engine's session, with the specs of `slo.dir`.
fn slo_engine(cfg: &Config, engine: &QueryEngine, files: Arc<FileWriter>, lead: Arc<Lead>, registry: &mut Registry) -> anyhow::Result<SloEngine> {
    let specs = match &cfg.slo.dir {
        Some(d) => toolpulse_slo::spec::load_dir(d).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid SLO specs in {}:\n{}", d.display(), lines.join("\n"))
        })?,
        None => Vec::new(),
    };
    if !specs.is_empty() {
        tracing::info!(slos = specs.len(), receivers = cfg.slo.receivers.len(), "SLO engine evaluating every {:?}", cfg.slo.interval);
    }
    let dir = DataDir::new(&cfg.data_dir);
    let book = AlertBook::open(&dir.state_dir().join("slo_alerts.json")).context("opening the alert state")?;
    let engine_cfg = EngineConfig {
        interval: cfg.slo.interval,
        external_url: cfg.external_url(),
        receivers: cfg.slo.receivers.clone(),
        alertmanager: cfg.slo.alertmanager.clone(),
        ..EngineConfig::default()
    };
    let metrics = SloMetrics::default();
    metrics.register(registry);
    Ok(SloEngine::builder(engine.context().clone(), dir, specs)
        .config(engine_cfg)
        .alert_book(book)
        .status_files(files)
        .metrics(metrics)
        .leader(Arc::new(move || lead.try_hold()))
        .build())
}

/// PromQL over the tool-call metrics and the SLO metrics.
fn prom_engine(engine: &QueryEngine, slo: &SloEngine, timeout: std::time::Duration) -> PromEngine {
    let sources: Vec<Arc<dyn MetricSource>> = vec![
        Arc::new(ToolCallMetrics::new(engine.context().clone(), system_clock())),
        Arc::new(SloMetricsSource::new(slo.clone())),
    ];
    PromEngine::new(sources, timeout)
}

/// The query limits a configuration asks for.
pub fn query_config(cfg: &Config) -> QueryConfig {
    QueryConfig {
        memory_limit_bytes: cfg.query.memory_limit_mb << 20,
        timeout: cfg.query.timeout,
        ..QueryConfig::default()
    }
}

/// The writer settings a configuration asks for.
pub fn writer_config(cfg: &Config) -> WriterConfig {
    WriterConfig {
        flush_age: cfg.ingest.flush_age,
        ack_delay: cfg.ingest.ack_delay,
        ack_group_rows: cfg.ingest.ack_group_rows,
        ack_max_delay: cfg.ingest.ack_max_delay,
        flush_rows: cfg.ingest.flush_rows,
        max_buffered_bytes: cfg.ingest.max_buffered_mb << 20,
        dedup_capacity: cfg.ingest.dedup_capacity,
        ..WriterConfig::default()
    }
}

impl RunningServer {
    /// Runs until SIGTERM or Ctrl-C, then shuts down cleanly.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await;
        tracing::info!("signal received: flushing and committing before exit");
        self.shutdown().await
    }

    /// Stops taking input, drains and commits Kafka, flushes the writer.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        match self.http.await {
            Ok(r) => r.context("http server")?,
            Err(e) => anyhow::bail!("http server task: {e}"),
        }
        let kafka = self.kafka.lock().map(|mut k| k.take()).unwrap_or(None);
        if let Some(k) = kafka {
            tokio::task::spawn_blocking(move || k.stop()).await?.context("stopping the Kafka source")?;
        }
        let _ = self.maintenance.await;
        for t in self.slo_tasks {
            let _ = t.await;
        }
        for t in [self.pg_task, self.otlp_task].into_iter().flatten() {
            let _ = t.await;
        }
        self.writer.flush().await.context("final flush")?;
        drop(self.writer);
        self.writer_task.await?;
        tracing::info!("toolpulse stopped cleanly");
        Ok(())
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> Response {
    crate::metrics_text::scrape(&state.registry, &headers)
}

/// Ready when the writer has room and every configured source is running.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.writer.is_saturated(0.9) {
        return (StatusCode::SERVICE_UNAVAILABLE, "writer is behind\n").into_response();
    }
    let kafka_dead = state.kafka.lock().map(|k| k.as_ref().is_some_and(KafkaSource::is_finished)).unwrap_or(true);
    if kafka_dead {
        return (StatusCode::SERVICE_UNAVAILABLE, "kafka source stopped\n").into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}
