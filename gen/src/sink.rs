//! Where generated events go: an NDJSON file (or stdout), Kafka, or the HTTP
//! ingest endpoint. A driver paces the stream (as fast as possible, or in real
//! time), mixes in malformed events if asked, and reports progress.

use std::io::Write;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use toolpulse_schemas::timestamp::now_ns;

use crate::generator::Generator;
use crate::malformed::spoil;

/// A sink that failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing NDJSON: {0}")]
    Io(#[from] std::io::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("http: {0}")]
    Http(String),
}

/// Where to send events.
pub enum Sink {
    Ndjson(Box<dyn Write + Send>),
    Kafka { producer: ThreadedProducer<DefaultProducerContext>, topic: String },
    Http { client: reqwest::Client, url: String, token: String },
}

impl Sink {
    pub fn ndjson(out: Box<dyn Write + Send>) -> Self {
        Sink::Ndjson(Box::new(std::io::BufWriter::with_capacity(1 << 20, out)))
    }

    pub fn kafka(brokers: &str, topic: &str) -> Result<Self, SinkError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("compression.type", "lz4")
            .set("queue.buffering.max.kbytes", "262144")
            .create()?;
        Ok(Sink::Kafka { producer, topic: topic.to_owned() })
    }

    /// `base_url` like `http://127.0.0.1:8080`; events go to `/v1/events`.
    pub fn http(base_url: &str, token: &str) -> Self {
        Sink::Http {
            client: reqwest::Client::new(),
            url: format!("{}/v1/events", base_url.trim_end_matches('/')),
            token: token.to_owned(),
        }
    }

    async fn send(&mut self, lines: &[Vec<u8>]) -> Result<(), SinkError> {
        match self {
            Sink::Ndjson(w) => {
                for l in lines {
                    w.write_all(l)?;
                    w.write_all(b"\n")?;
                }
                Ok(())
            }
            Sink::Kafka { producer, topic } => {
                for l in lines {
                    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(l);
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                                record = r;
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err((e, _)) => return Err(e.into()),
                        }
                    }
                }
                Ok(())
            }
            Sink::Http { client, url, token } => post_with_retry(client, url, token, lines).await,
        }
    }

    async fn finish(&mut self) -> Result<(), SinkError> {
        match self {
            Sink::Ndjson(w) => Ok(w.flush()?),
            Sink::Kafka { producer, .. } => Ok(producer.flush(Duration::from_secs(60))?),
            Sink::Http { .. } => Ok(()),
        }
    }
}

async fn post_with_retry(client: &reqwest::Client, url: &str, token: &str, lines: &[Vec<u8>]) -> Result<(), SinkError> {
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    let mut backoff = Duration::from_millis(100);
    for _ in 0..30 {
        let resp = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body.clone())
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::BAD_REQUEST => return Ok(()),
            Ok(r) if r.status() == 429 || r.status() == 503 => {
                let wait = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .map_or(backoff, Duration::from_secs);
                tokio::time::sleep(wait).await;
            }
            Ok(r) => {
                let status = r.status();
                return Err(SinkError::Http(format!("{url}: {status}: {}", r.text().await.unwrap_or_default())));
            }
            Err(e) if e.is_connect() || e.is_timeout() => tokio::time::sleep(backoff).await,
            Err(e) => return Err(SinkError::Http(e.to_string())),
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    Err(SinkError::Http(format!("{url}: gave up after repeated refusals")))
}

/// How to drive a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after this many events (`None`: until the process ends).
    pub count: Option<u64>,
    /// Share of events replaced by malformed ones.
    pub bad_fraction: f64,
    /// Send each event when the wall clock reaches its timestamp.
    pub realtime: bool,
    pub batch: usize,
    /// Print progress to stderr this often.
    pub progress_every: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { count: None, bad_fraction: 0.0, realtime: false, batch: 5000, progress_every: Some(Duration::from_secs(2)) }
    }
}

/// What a run sent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RunReport {
    pub events: u64,
    pub malformed: u64,
}

/// Generates and sends events until `count` (or forever).
pub async fn run(generator: &mut Generator, sink: &mut Sink, opts: &RunOptions) -> Result<RunReport, SinkError> {
    let mut rng = StdRng::seed_from_u64(generator.generated() ^ 0x5eed);
    let mut report = RunReport::default();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut lines = Vec::with_capacity(opts.batch);
    while opts.count.is_none_or(|c| report.events < c) {
        if opts.realtime {
            let ahead_ns = generator.next_timestamp_ns() - now_ns();
            if ahead_ns > 0 {
                tokio::time::sleep(Duration::from_nanos(ahead_ns as u64)).await;
            }
        }
        let event = generator.next_event();
        let json = serde_json::to_vec(&event).expect("events serialize");
        if opts.bad_fraction > 0.0 && rng.random_bool(opts.bad_fraction) {
            lines.push(spoil(&json, &mut rng).line);
            report.malformed += 1;
        } else {
            lines.push(json);
        }
        report.events += 1;
        let due = opts.realtime && generator.next_timestamp_ns() > now_ns();
        if lines.len() >= opts.batch || due {
            sink.send(&lines).await?;
            lines.clear();
        }
        if opts.progress_every.is_some_and(|e| last_progress.elapsed() >= e) {
            let rate = report.events as f64 / started.elapsed().as_secs_f64();
            eprintln!("gen: {} events sent ({:.0}/s, {} malformed)", report.events, rate, report.malformed);
            last_progress = Instant::now();
        }
    }
    if !lines.is_empty() {
        sink.send(&lines).await?;
    }
    sink.finish().await?;
    Ok(report)
}
