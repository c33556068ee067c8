//! SLO specifications: the validated model every other module works from, and
//! the two formats it is read from (toolpulse's own YAML in [`native`], OpenSLO v1
//! in [`openslo`]), loaded from a directory by [`load`].

pub mod load;
pub mod native;
pub mod openslo;
mod parse_util;

use std::collections::BTreeMap;
use std::time::Duration;

use toolpulse_schemas::Outcome;

use crate::selector::Selector;

pub use load::{SpecError, load_dir, load_file};

/// One service-level objective, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSpec {
    /// Unique name; the `slo` label of every series and alert.
    pub name: String,
    pub description: String,
    /// Which tool calls the SLO is about.
    pub selector: Selector,
    pub sli: Sli,
    /// Target share of good events (or good timeslices), in (0, 1).
    pub objective: f64,
    pub period: Period,
    pub budgeting: Budgeting,
    pub alerting: Alerting,
    /// Extra labels on every series and alert of this SLO.
    pub labels: BTreeMap<String, String>,
    /// Where the spec came from (file path), for error messages and `/api/v1/rules`.
    pub source: String,
}

impl SloSpec {
    /// The share of events the budget allows to be bad.
    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// The longest look-back any computation of this SLO needs.
    pub fn longest_window(&self) -> Duration {
        let windows = self.alerting.windows.iter().map(|w| w.long.max(w.short));
        let no_data = self.alerting.no_data.as_ref().map(|n| n.after);
        windows.chain(no_data).chain([self.period.max_length()]).max().unwrap_or_default()
    }
}

/// A set of outcomes, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutcomeSet(u8);

impl OutcomeSet {
    pub const ALL: OutcomeSet = OutcomeSet(0x7f);

    pub fn of(outcomes: &[Outcome]) -> Self {
        OutcomeSet(outcomes.iter().fold(0, |m, o| m | Self::bit(*o)))
    }

    fn bit(o: Outcome) -> u8 {
        1 << Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0)
    }

    pub fn contains(self, o: Outcome) -> bool {
        self.0 & Self::bit(o) != 0
    }

    pub fn union(self, other: OutcomeSet) -> OutcomeSet {
        OutcomeSet(self.0 | other.0)
    }

    pub fn intersects(self, other: OutcomeSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Outcome> {
        Outcome::ALL.into_iter().filter(move |o| self.contains(*o))
    }
}

/// What is measured.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// Good and bad calls by outcome; calls of other outcomes are not counted.
    /// `success_rate` is good = success, bad = tool_error, protocol_error,
    /// timeout; `auth_failure_rate` is bad = auth_failure, good = everything else.
    Ratio { kind: RatioKind, good: OutcomeSet, bad: OutcomeSet },
    /// A call (of `outcomes`) is good when it took at most `threshold_ms`.
    Latency { threshold_ms: f64, outcomes: OutcomeSet },
    /// A timeslice is good when the `percentile` of its calls (of `outcomes`)
    /// is at most `threshold_ms`.
    LatencyPercentile { percentile: f64, threshold_ms: f64, outcomes: OutcomeSet },
    /// A chain of MCP calls (one trace) of at least `min_depth` is good when it
    /// took at most `threshold_ms` from its first call's start to its last
    /// call's end; chains are selected by their first call's server and tool.
    ChainLatency { threshold_ms: f64, min_depth: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatioKind {
    SuccessRate,
    AuthFailureRate,
}

impl Sli {
    /// The name used in specs and labels.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Sli::Ratio { kind: RatioKind::SuccessRate, .. } => "success_rate",
            Sli::Ratio { kind: RatioKind::AuthFailureRate, .. } => "auth_failure_rate",
            Sli::Latency { .. } => "latency",
            Sli::LatencyPercentile { .. } => "latency_percentile",
            Sli::ChainLatency { .. } => "chain_latency",
        }
    }

    pub fn success_rate() -> Sli {
        Sli::Ratio {
            kind: RatioKind::SuccessRate,
            good: OutcomeSet::of(&[Outcome::Success]),
            bad: OutcomeSet::of(&[Outcome::ToolError, Outcome::ProtocolError, Outcome::Timeout]),
        }
    }

    pub fn auth_failure_rate() -> Sli {
        let bad = OutcomeSet::of(&[Outcome::AuthFailure]);
        Sli::Ratio { kind: RatioKind::AuthFailureRate, good: OutcomeSet(OutcomeSet::ALL.0 & !bad.0), bad }
    }

    /// Whether a duration histogram is needed to evaluate it.
    pub fn needs_histogram(&self) -> bool {
        matches!(self, Sli::Latency { .. } | Sli::LatencyPercentile { .. })
    }
}

/// Over what the error budget is counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Period {
    /// The last `Duration`, sliding.
    Rolling(Duration),
    /// The current calendar month (UTC).
    CalendarMonth,
}

impl Period {
    pub fn max_length(self) -> Duration {
        match self {
            Period::Rolling(d) => d,
            Period::CalendarMonth => Duration::from_secs(31 * 86_400),
        }
    }

    /// Start of the period that contains `now_ms` (ms since the epoch).
    pub fn start_ms(self, now_ms: i64) -> i64 {
        match self {
            Period::Rolling(d) => now_ms - d.as_millis() as i64,
            Period::CalendarMonth => {
                use chrono::{Datelike, TimeZone, Utc};
                let now = Utc.timestamp_millis_opt(now_ms).single().unwrap_or_default();
                Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().map_or(now_ms, |t| t.timestamp_millis())
            }
        }
    }

    /// End of the period that contains `now_ms`.
    pub fn end_ms(self, now_ms: i64) -> i64 {
        match self {
            Period::Rolling(_) => now_ms,
            Period::CalendarMonth => {
                use chrono::{Months, TimeZone, Utc};
                let start = Utc.timestamp_millis_opt(self.start_ms(now_ms)).single().unwrap_or_default();
                start.checked_add_months(Months::new(1)).map_or(now_ms, |t| t.timestamp_millis())
            }
        }
    }
}

/// How the budget is counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    /// Good events over all events.
    Occurrences,
    /// Good timeslices over all timeslices. A slice of a ratio SLI is good when
    /// its ratio reaches `target`; of a percentile SLI, when the percentile is
    /// within the threshold. Slices without calls are good.
    Timeslices { slice: Duration, target: f64 },
}

/// A burn-rate alert on a pair of windows: it fires when both burn faster than `factor`.
#[derive(Debug, Clone, PartialEq)]
pub struct BurnWindow {
    pub severity: String,
    pub long: Duration,
    pub short: Duration,
    pub factor: f64,
}

impl BurnWindow {
    /// The Google SRE workbook's pairs for a 30-day budget.
    pub fn defaults() -> Vec<BurnWindow> {
        let h = |n: u64| Duration::from_secs(n * 3600);
        let m = |n: u64| Duration::from_secs(n * 60);
        vec![
            BurnWindow { severity: "page".into(), long: h(1), short: m(5), factor: 14.4 },
            BurnWindow { severity: "page".into(), long: h(6), short: m(30), factor: 6.0 },
            BurnWindow { severity: "ticket".into(), long: h(24), short: h(2), factor: 3.0 },
            BurnWindow { severity: "ticket".into(), long: h(72), short: h(6), factor: 1.0 },
        ]
    }
}

/// How an SLO alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    pub windows: Vec<BurnWindow>,
    /// How long a condition must hold before it fires (pending until then).
    pub for_: Duration,
    /// A burn-rate pair stays quiet while its long window holds fewer calls than this.
    pub min_events: u64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Severity of the alert that fires when the budget is spent; `None` disables it.
    pub budget_exhausted: Option<String>,
    pub no_data: Option<NoData>,
}

impl Default for Alerting {
    fn default() -> Self {
        Alerting {
            windows: BurnWindow::defaults(),
            for_: Duration::ZERO,
            min_events: 0,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            budget_exhausted: Some("ticket".into()),
            no_data: Some(NoData::default()),
        }
    }
}

/// Fire when the selection saw no call at all for `after`.
#[derive(Debug, Clone, PartialEq)]
pub struct NoData {
    pub after: Duration,
    pub severity: String,
}

impl Default for NoData {
    fn default() -> Self {
        NoData { after: Duration::from_secs(15 * 60), severity: "ticket".into() }
    }
}
