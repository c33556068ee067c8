//! The one typed configuration: defaults that work locally, overridden by a TOML
//! file, then by `TOOLPULSE_*` environment variables (`__` separates sections:
//! `TOOLPULSE_KAFKA__BROKERS`), then by command-line flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `toolpulse serve` needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where tables and state live.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub ingest: IngestConfig,
    pub kafka: KafkaSection,
    pub compaction: CompactionConfig,
    pub query: QuerySection,
    pub slo: SloSection,
    pub pgwire: PgWireSection,
    pub otlp: OtlpSection,
}

/// OTLP trace receivers: OTLP/HTTP is always on (`POST /v1/traces` on the HTTP
/// port); OTLP/gRPC listens on its own port.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpSection {
    pub grpc_enabled: bool,
    pub grpc_listen: SocketAddr,
    /// Where a tool call's server name comes from: `server_address` (then
    /// `service.name`) or `service_name` (then `server.address`).
    pub server_name: toolpulse_ingest::otlp::mcp::ServerName,
}

impl Default for OtlpSection {
    fn default() -> Self {
        Self { grpc_enabled: true, grpc_listen: SocketAddr::from(([127, 0, 0, 1], 4317)), server_name: Default::default() }
    }
}

/// The PostgreSQL wire protocol endpoint (password: the API token).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PgWireSection {
    pub enabled: bool,
    /// Loopback by default, like HTTP.
    pub listen: SocketAddr,
}

impl Default for PgWireSection {
    fn default() -> Self {
        Self { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 5433)) }
    }
}

/// The SLO engine: where specs live, how often they are evaluated, where alerts go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SloSection {
    /// Directory of SLO spec files (`*.yaml`, toolpulse's format or OpenSLO v1).
    /// Unset: no SLOs.
    pub dir: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// This server's URL as users reach it, for links in alerts.
    pub external_url: String,
    pub receivers: Vec<toolpulse_slo::notify::ReceiverConfig>,
    pub alertmanager: Option<toolpulse_slo::notify::AlertmanagerConfig>,
}

impl Default for SloSection {
    fn default() -> Self {
        Self {
            dir: None,
            interval: Duration::from_secs(30),
            external_url: String::new(),
            receivers: Vec::new(),
            alertmanager: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuerySection {
    /// Memory for query operators; beyond it, sorts and aggregations spill to disk.
    pub memory_limit_mb: usize,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Most rows one HTTP answer carries.
    pub max_rows: usize,
}

impl Default for QuerySection {
    fn default() -> Self {
        Self { memory_limit_mb: 1024, timeout: Duration::from_secs(30), max_rows: 10_000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP listen address. Loopback by default: expose it deliberately.
    pub listen: SocketAddr,
    /// The bearer token every endpoint but `/healthz` and `/readyz` requires.
    /// When empty, one is generated into `<data_dir>/token` (mode 0600).
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    #[serde(with = "humantime_serde")]
    pub flush_age: Duration,
    /// How long a request that waits for durability (HTTP, OTLP) may wait for
    /// others to share its flush.
    #[serde(with = "humantime_serde")]
    pub ack_delay: Duration,
    /// Rows waiting together that are flushed after `ack_delay`; fewer wait up to `ack_max_delay`.
    pub ack_group_rows: usize,
    #[serde(with = "humantime_serde")]
    pub ack_max_delay: Duration,
    pub flush_rows: usize,
    pub max_buffered_mb: usize,
    pub dedup_capacity: usize,
    pub max_body_mb: usize,
    pub max_future_skew_secs: i64,
    pub zstd_level: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSection {
    pub enabled: bool,
    pub brokers: String,
    pub topics: Vec<String>,
    pub group_id: String,
    /// Extra librdkafka properties, e.g. `"security.protocol" = "SASL_SSL"`.
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionConfig {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How often `latency_1m` catches up with `rollups_1m` (whether or not
    /// compaction is enabled).
    #[serde(with = "humantime_serde")]
    pub summary_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("toolpulse-data"),
            server: ServerConfig::default(),
            ingest: IngestConfig::default(),
            kafka: KafkaSection::default(),
            compaction: CompactionConfig::default(),
            query: QuerySection::default(),
            slo: SloSection::default(),
            pgwire: PgWireSection::default(),
            otlp: OtlpSection::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 8080)), token: String::new() }
    }
}

impl Default for IngestConfig {
    /// The writer's, decoder's and store's own defaults, so each lives in one place.
    fn default() -> Self {
        let writer = toolpulse_ingest::WriterConfig::default();
        Self {
            flush_age: writer.flush_age,
            ack_delay: writer.ack_delay,
            ack_group_rows: writer.ack_group_rows,
            ack_max_delay: writer.ack_max_delay,
            flush_rows: writer.flush_rows,
            max_buffered_mb: writer.max_buffered_bytes >> 20,
            dedup_capacity: writer.dedup_capacity,
            max_body_mb: 16,
            max_future_skew_secs: toolpulse_schemas::DecodeLimits::default().max_future_skew_secs,
            zstd_level: toolpulse_storage::props::WriteOptions::default().zstd_level,
        }
    }
}

impl Default for KafkaSection {
    fn default() -> Self {
        Self {
            enabled: false,
            brokers: "127.0.0.1:9092".into(),
            topics: vec!["mcp-tool-calls".into()],
            group_id: "toolpulse".into(),
            properties: BTreeMap::new(),
        }
    }
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self { enabled: true, interval: Duration::from_secs(60), summary_interval: Duration::from_secs(10) }
    }
}

/// Command-line flags that override the file and the environment.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ConfigOverrides {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "TOOLPULSE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address, e.g. 127.0.0.1:8080.
    #[arg(long)]
    #[serde(skip)]
    pub listen: Option<SocketAddr>,
    /// Consume from Kafka at these brokers (enables the Kafka source).
    #[arg(long)]
    #[serde(skip)]
    pub kafka_brokers: Option<String>,
    /// Kafka topics, comma-separated.
    #[arg(long, value_delimiter = ',')]
    #[serde(skip)]
    pub kafka_topics: Option<Vec<String>>,
    /// Kafka consumer group.
    #[arg(long)]
    #[serde(skip)]
    pub kafka_group: Option<String>,
    /// Directory of SLO specs to evaluate.
    #[arg(long)]
    #[serde(skip)]
    pub slo_dir: Option<PathBuf>,
    /// PostgreSQL wire protocol listen address (`off` to disable).
    #[arg(long)]
    #[serde(skip)]
    pub pg_listen: Option<String>,
    /// OTLP/gRPC listen address (`off` to disable).
    #[arg(long)]
    #[serde(skip)]
    pub otlp_grpc_listen: Option<String>,
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Defaults ← file ← environment ← flags.
    pub fn load(flags: &ConfigOverrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &flags.config {
            if !path.exists() {
                return Err(ConfigError(format!("{} does not exist", path.display())));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(Env::prefixed("TOOLPULSE_").split("__").ignore(&["CONFIG", "TOKEN"]));
        let mut cfg: Config = fig.extract().map_err(|e| ConfigError(e.to_string()))?;
        if let Ok(token) = std::env::var("TOOLPULSE_TOKEN") {
            cfg.server.token = token;
        }
        cfg.apply(flags);
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply(&mut self, f: &ConfigOverrides) {
        if let Some(d) = &f.data_dir {
            self.data_dir = d.clone();
        }
        if let Some(l) = f.listen {
            self.server.listen = l;
        }
        if let Some(b) = &f.kafka_brokers {
            self.kafka.brokers = b.clone();
            self.kafka.enabled = true;
        }
        if let Some(t) = &f.kafka_topics {
            self.kafka.topics = t.clone();
        }
        if let Some(g) = &f.kafka_group {
            self.kafka.group_id = g.clone();
        }
        if let Some(d) = &f.slo_dir {
            self.slo.dir = Some(d.clone());
        }
        match f.otlp_grpc_listen.as_deref() {
            Some("off") => self.otlp.grpc_enabled = false,
            Some(addr) => {
                if let Ok(a) = addr.parse() {
                    self.otlp.grpc_listen = a;
                    self.otlp.grpc_enabled = true;
                }
            }
            None => {}
        }
        match f.pg_listen.as_deref() {
            Some("off") => self.pgwire.enabled = false,
            Some(addr) => {
                if let Ok(a) = addr.parse() {
                    self.pgwire.listen = a;
                    self.pgwire.enabled = true;
                }
            }
            None => {}
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.ingest.flush_age.is_zero() {
            return Err(ConfigError("ingest.flush_age must be > 0".into()));
        }
        if self.kafka.enabled && self.kafka.topics.is_empty() {
            return Err(ConfigError("kafka.topics must name at least one topic".into()));
        }
        if self.slo.interval < Duration::from_secs(1) {
            return Err(ConfigError("slo.interval must be at least 1s".into()));
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.slo.receivers {
            if !names.insert(&r.name) {
                return Err(ConfigError(format!("slo.receivers: the name `{}` is used twice", r.name)));
            }
            if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
                return Err(ConfigError(format!("slo.receivers.{}: url `{}` must be http(s)", r.name, r.url)));
            }
        }
        if !(1..=22).contains(&self.ingest.zstd_level) {
            return Err(ConfigError("ingest.zstd_level must be within 1..=22".into()));
        }
        Ok(())
    }

    pub fn token_path(&self) -> PathBuf {
        token_path(&self.data_dir)
    }

    /// The URL alerts link to: configured, else the listen address.
    pub fn external_url(&self) -> String {
        if self.slo.external_url.is_empty() { format!("http://{}", self.server.listen) } else { self.slo.external_url.clone() }
    }
}

/// Where a generated token is kept.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure must return figment's own (large) error
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tp.toml");
        std::fs::write(&file, "data_dir = \"/from/file\"\n[kafka]\ngroup_id = \"file-group\"\n[ingest]\nflush_age = \"500ms\"\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("TOOLPULSE_KAFKA__GROUP_ID", "env-group");
            let flags = ConfigOverrides { config: Some(file.clone()), listen: Some("127.0.0.1:9999".parse().unwrap()), ..Default::default() };
            let cfg = Config::load(&flags).unwrap();
            assert_eq!(cfg.data_dir, PathBuf::from("/from/file"));
            assert_eq!(cfg.kafka.group_id, "env-group");
            assert_eq!(cfg.ingest.flush_age, Duration::from_millis(500));
            assert_eq!(cfg.server.listen.port(), 9999);
            assert_eq!(cfg.ingest.flush_rows, IngestConfig::default().flush_rows);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tp.toml");
        std::fs::write(&file, "[ingest]\nflush_agee = \"1s\"\n").unwrap();
        let flags = ConfigOverrides { config: Some(file), ..Default::default() };
        let err = Config::load(&flags).unwrap_err().to_string();
        assert!(err.contains("flush_agee"), "{err}");
    }
}
