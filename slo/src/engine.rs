//! The SLO engine: on a schedule, brings each SLO's per-minute counts up to date
//! from the rollups (re-reading only the hour partitions that changed since the
//! last look, so late data is picked up whatever its age), evaluates every SLO,
//! moves alerts through their lifecycle, wakes the webhook receivers, pushes to
//! Alertmanager, and appends the figures to the `slo_status` table. Of several
//! servers on one data directory only the leading one does the last four; the
//! others evaluate for their APIs and show the alerts the leader saved.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::{DataDir, FileWriter, Table};

use crate::alerts::{Alert, AlertBook, AlertState, rules};
use crate::counts::{MinuteSeries, minute_of};
use crate::error::SloError;
use crate::evaluate::{SloStatus, evaluate};
use crate::metrics::SloMetrics;
use crate::notify::webhook::{self, DeliveryContext};
use crate::notify::{AlertmanagerConfig, ReceiverConfig, alertmanager};
use crate::refresh::compute;
use crate::spec::{Budgeting, SloSpec};

/// Milliseconds since the epoch, now (injectable for tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Whether this engine is the one that alerts (see [`SloEngineBuilder::leader`]).
pub type Leader = Arc<dyn Fn() -> bool + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub interval: Duration,
    /// Base URL of this server, for links in alerts.
    pub external_url: String,
    pub receivers: Vec<ReceiverConfig>,
    pub alertmanager: Option<AlertmanagerConfig>,
    /// How often evaluation results are written to `slo_status`.
    pub status_flush: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            interval: Duration::from_secs(30),
            external_url: "http://127.0.0.1:8080".into(),
            receivers: Vec::new(),
            alertmanager: None,
            status_flush: Duration::from_secs(60),
        }
    }
}

/// The last evaluation, for the APIs.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub at_ms: i64,
    pub took: Duration,
    pub statuses: Vec<SloStatus>,
    /// Hour partitions re-read from the rollups.
    pub partitions_read: usize,
}

struct Tracking {
    series: Vec<MinuteSeries>,
    seen: HashMap<HourPartition, SystemTime>,
}

struct Inner {
    ctx: SessionContext,
    dir: DataDir,
    specs: Vec<SloSpec>,
    cfg: EngineConfig,
    clock: Clock,
    tracking: tokio::sync::Mutex<Tracking>,
    last: RwLock<Evaluation>,
    book: Arc<Mutex<AlertBook>>,
    wake: watch::Sender<u64>,
    metrics: SloMetrics,
    files: Option<Arc<FileWriter>>,
    status_rows: Mutex<(Vec<RecordBatch>, i64)>,
    http: reqwest::Client,
    leader: Leader,
}

/// A running (or test-driven) SLO engine; cheap to clone.
#[derive(Clone)]
pub struct SloEngine {
    inner: Arc<Inner>,
}

/// Builds an [`SloEngine`] (see [`SloEngine::builder`]).
pub struct SloEngineBuilder {
    ctx: SessionContext,
    dir: DataDir,
    specs: Vec<SloSpec>,
    cfg: EngineConfig,
    book: AlertBook,
    files: Option<Arc<FileWriter>>,
    metrics: SloMetrics,
    clock: Clock,
    leader: Leader,
}

impl SloEngineBuilder {
    /// Evaluation interval, receivers, windows (default: [`EngineConfig::default`]).
    pub fn config(mut self, cfg: EngineConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// The alert state (default: in memory, forgotten at exit).
    pub fn alert_book(mut self, book: AlertBook) -> Self {
        self.book = book;
        self
    }

    /// Writes every evaluation to `slo_status` (default: not written).
    pub fn status_files(mut self, files: Arc<FileWriter>) -> Self {
        self.files = Some(files);
        self
    }

    /// Where the engine counts its work (default: unregistered metrics).
    pub fn metrics(mut self, metrics: SloMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The time evaluations run at (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether this engine alerts: moves and saves the alert book, notifies,
    /// and writes `slo_status` (default: always). Of the processes sharing a
    /// data directory only one should; an engine that does not still evaluates
    /// (for the APIs) and shows the alerts as the one that does saved them.
    pub fn leader(mut self, leader: Leader) -> Self {
        self.leader = leader;
        self
    }

    pub fn build(self) -> SloEngine {
        let Self { ctx, dir, specs, cfg, book, files, metrics, clock, leader } = self;
        metrics.slos.set(specs.len() as i64);
        let n = specs.len();
        SloEngine {
            inner: Arc::new(Inner {
                ctx,
                dir,
                specs,
                cfg,
                clock,
                tracking: tokio::sync::Mutex::new(Tracking { series: vec![MinuteSeries::default(); n], seen: HashMap::new() }),
                last: RwLock::new(Evaluation::default()),
                book: Arc::new(Mutex::new(book)),
                wake: watch::channel(0).0,
                metrics,
                files,
                status_rows: Mutex::new((Vec::new(), 0)),
                http: reqwest::Client::new(),
                leader,
            }),
        }
    }
}

/// Largest run of hours one rollup query reads.
const HOURS_PER_QUERY: i64 = 6;

impl SloEngine {
    /// An engine evaluating `specs` over `ctx` (which must have `rollups_1m`
    /// and the HDR functions) and the data directory `dir`; the rest has
    /// defaults (see [`SloEngineBuilder`]).
    pub fn builder(ctx: SessionContext, dir: DataDir, specs: Vec<SloSpec>) -> SloEngineBuilder {
        SloEngineBuilder {
            ctx,
            dir,
            specs,
            cfg: EngineConfig::default(),
            book: AlertBook::in_memory(),
            files: None,
            metrics: SloMetrics::default(),
            clock: system_clock(),
            leader: Arc::new(|| true),
        }
    }

    pub fn specs(&self) -> &[SloSpec] {
        &self.inner.specs
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    pub fn now_ms(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The last evaluation's results.
    pub fn last(&self) -> Evaluation {
        self.inner.last.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every alert in the book (pending, firing, recently resolved).
    pub fn alerts(&self) -> Vec<Alert> {
        self.inner.book.lock().unwrap_or_else(|p| p.into_inner()).alerts().cloned().collect()
    }

    /// Each SLO evaluated at each of `times` from the counts in memory (no
    /// refresh): for history queries such as PromQL ranges.
    pub async fn statuses_at(&self, times: &[i64]) -> Vec<Vec<SloStatus>> {
        let t = self.inner.tracking.lock().await;
        times.iter().map(|at| self.inner.specs.iter().zip(&t.series).map(|(s, series)| evaluate(s, series, *at)).collect()).collect()
    }

    /// Starts the schedule and the webhook receivers; they run until `stop`.
    pub fn spawn(&self, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        for r in &self.inner.cfg.receivers {
            let ctx = self.delivery_context();
            tasks.push(tokio::spawn(webhook::run(r.clone(), ctx, self.inner.wake.subscribe(), stop.clone())));
        }
        let engine = self.clone();
        let mut stop = stop;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(engine.inner.cfg.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = engine.evaluate_now().await {
                    engine.inner.metrics.evaluation_failures.inc();
                    tracing::warn!(error = %e, "SLO evaluation failed; will retry");
                }
            }
            if let Err(e) = engine.flush_status(true) {
                tracing::warn!(error = %e, "writing slo_status at shutdown");
            }
        }));
        tasks
    }

    fn delivery_context(&self) -> DeliveryContext {
        let clock = self.inner.clock.clone();
        DeliveryContext {
            book: self.inner.book.clone(),
            external_url: self.inner.cfg.external_url.clone(),
            metrics: self.inner.metrics.clone(),
            now_ms: Arc::new(move || clock()),
            leader: self.inner.leader.clone(),
        }
    }

    pub async fn evaluate_now(&self) -> Result<Evaluation, SloError> {
        self.evaluate_at(self.now_ms()).await
    }

    /// One evaluation at `now_ms`: refresh, evaluate, alert, notify.
    #[tracing::instrument(name = "slo.evaluate", skip(self), fields(slos = self.inner.specs.len()))]
    pub async fn evaluate_at(&self, now_ms: i64) -> Result<Evaluation, SloError> {
        let started = Instant::now();
        let (statuses, partitions_read) = {
            let mut t = self.inner.tracking.lock().await;
            let read = self.refresh(&mut t, now_ms).await?;
            let statuses: Vec<SloStatus> = self.inner.specs.iter().zip(&t.series).map(|(s, series)| evaluate(s, series, now_ms)).collect();
            (statuses, read)
        };
        let leading = (self.inner.leader)();
        let alerts = {
            let mut book = self.inner.book.lock().unwrap_or_else(|p| p.into_inner());
            if leading {
                let desired: Vec<_> = self.inner.specs.iter().zip(&statuses).flat_map(|(s, st)| rules::desired(s, st)).collect();
                let names: BTreeSet<String> = self.inner.specs.iter().map(|s| s.name.clone()).collect();
                let receivers: Vec<String> = self.inner.cfg.receivers.iter().map(|r| r.name.clone()).collect();
                let changed = book.apply(&desired, &names, now_ms) | book.collect_garbage(&receivers, now_ms);
                if changed {
                    book.save()?;
                }
            } else {
                // The leading process moves the alerts; show them as it saved them.
                book.reload()?;
            }
            book.alerts().cloned().collect::<Vec<_>>()
        };
        self.inner.metrics.firing.set(alerts.iter().filter(|a| a.state == AlertState::Firing).count() as i64);
        if !leading {
            return Ok(self.finish_evaluation(started, now_ms, statuses, partitions_read));
        }
        self.inner.wake.send_modify(|n| *n += 1);
        if let Some(am) = self.inner.cfg.alertmanager.clone() {
            let (client, interval, url) = (self.inner.http.clone(), self.inner.cfg.interval, self.inner.cfg.external_url.clone());
            tokio::spawn(async move {
                if let Err(e) = alertmanager::push(&client, &am, &alerts, now_ms, interval, &url).await {
                    tracing::warn!(alertmanager = %am.url, error = %e, "pushing alerts failed; will retry next evaluation");
                }
            });
        }
        self.record_status(&statuses, now_ms)?;
        Ok(self.finish_evaluation(started, now_ms, statuses, partitions_read))
    }

    /// Times an evaluation and keeps it as the last one.
    fn finish_evaluation(&self, started: Instant, now_ms: i64, statuses: Vec<SloStatus>, partitions_read: usize) -> Evaluation {
        let took = started.elapsed();
        self.inner.metrics.evaluation_seconds.observe(took.as_secs_f64());
        let eval = Evaluation { at_ms: now_ms, took, statuses, partitions_read };
        *self.inner.last.write().unwrap_or_else(|p| p.into_inner()) = eval.clone();
        eval
    }

    /// Re-reads the rollup hours that changed since the last look and are within
    /// some SLO's look-back. Returns how many hours were read.
    async fn refresh(&self, t: &mut Tracking, now_ms: i64) -> Result<usize, SloError> {
        let specs = &self.inner.specs;
        if specs.is_empty() {
            return Ok(0);
        }
        let lookback = specs.iter().map(SloSpec::longest_window).max().unwrap_or_default();
        let keep_from = minute_of(now_ms - lookback.as_millis() as i64) - 60;
        let parts = self.inner.dir.partitions(Table::Rollups1m)?;
        let mut dirty: Vec<(HourPartition, SystemTime)> = Vec::new();
        for (p, path) in parts {
            let end_minute = (p.start_ns() / 60_000_000_000) + 60;
            if end_minute <= keep_from {
                continue;
            }
            let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
            if t.seen.get(&p) != Some(&mtime) {
                dirty.push((p, mtime));
            }
        }
        let refs: Vec<&SloSpec> = specs.iter().collect();
        for run in runs(&dirty) {
            let (from, to) = (run.0 * 60, run.1 * 60);
            let computed = compute(&self.inner.ctx, &refs, from, to).await?;
            for (series, slots) in t.series.iter_mut().zip(computed) {
                series.replace(from, to, slots);
            }
        }
        // File times are coarse (a clock tick): an hour written to within the
        // last seconds may change again without its time moving, so it is read
        // again next time rather than marked seen.
        let settled = SystemTime::now() - Duration::from_secs(2);
        for (p, mtime) in &dirty {
            if *mtime < settled {
                t.seen.insert(*p, *mtime);
            }
        }
        t.seen.retain(|p, _| p.hour * 60 + 60 > keep_from);
        for (series, spec) in t.series.iter_mut().zip(specs) {
            let slice = match spec.budgeting {
                Budgeting::Timeslices { slice, .. } => (slice.as_secs() / 60) as i64,
                Budgeting::Occurrences => 1,
            };
            series.trim_before(keep_from.div_euclid(slice) * slice);
        }
        Ok(dirty.len())
    }

    fn record_status(&self, statuses: &[SloStatus], now_ms: i64) -> Result<(), SloError> {
        if self.inner.files.is_none() || statuses.is_empty() {
            return Ok(());
        }
        let firing: HashMap<String, Vec<String>> = {
            let book = self.inner.book.lock().unwrap_or_else(|p| p.into_inner());
            let mut m: HashMap<String, Vec<String>> = HashMap::new();
            for a in book.alerts().filter(|a| a.state == AlertState::Firing) {
                m.entry(a.slo().to_owned()).or_default().push(format!("{}:{}", a.name(), a.labels.get("severity").map_or("", String::as_str)));
            }
            m
        };
        let batch = crate::status_table::to_batch(statuses, |slo| firing.get(slo).map(|v| v.join(",")))?;
        {
            let mut rows = self.inner.status_rows.lock().unwrap_or_else(|p| p.into_inner());
            if rows.0.is_empty() {
                rows.1 = now_ms;
            }
            rows.0.push(batch);
        }
        self.flush_status(false)
    }

    /// Writes buffered `slo_status` rows once `status_flush` has passed (or now, with `force`).
    pub fn flush_status(&self, force: bool) -> Result<(), SloError> {
        let Some(files) = &self.inner.files else { return Ok(()) };
        let batches = {
            let mut rows = self.inner.status_rows.lock().unwrap_or_else(|p| p.into_inner());
            let due = self.now_ms() - rows.1 >= self.inner.cfg.status_flush.as_millis() as i64;
            if rows.0.is_empty() || !(force || due) {
                return Ok(());
            }
            std::mem::take(&mut rows.0)
        };
        files.write(Table::SloStatus, &batches, &[])?;
        Ok(())
    }
}

/// Contiguous runs of hours (as `[first, end)` hour numbers), at most
/// [`HOURS_PER_QUERY`] long.
fn runs(dirty: &[(HourPartition, SystemTime)]) -> Vec<(i64, i64)> {
    let mut hours: Vec<i64> = dirty.iter().map(|(p, _)| p.hour).collect();
    hours.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for h in hours {
        match out.last_mut() {
            Some((start, end)) if *end == h && h - *start < HOURS_PER_QUERY => *end = h + 1,
            _ => out.push((h, h + 1)),
        }
    }
    out
}
