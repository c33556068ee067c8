//! Evaluation of one SLO at one instant from its per-minute counts: the SLI and
//! burn rate of every window, the state of every burn-rate window pair, the
//! error budget over the period, and whether data is missing.
//!
//! A window of length W at time t covers the minutes (t - W, t], the current
//! (partial) minute included. Burn rate = (bad / total) / (1 - objective), from
//! counts summed over the window. For timeslice budgeting, total is the number
//! of slices the window spans (slices without calls count as good).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::counts::{MinuteSeries, Slot, minute_of};
use crate::spec::{Budgeting, SloSpec};

/// One window's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowStatus {
    #[serde(serialize_with = "crate::duration_text::serialize")]
    pub window: Duration,
    pub good: u64,
    pub bad: u64,
    /// Calls of the selection in the window, whatever their outcome.
    pub events: u64,
    /// Good share; `None` without data.
    pub sli: Option<f64>,
    pub burn_rate: f64,
}

/// One burn-rate pair.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairStatus {
    pub severity: String,
    #[serde(serialize_with = "crate::duration_text::serialize")]
    pub long: Duration,
    #[serde(serialize_with = "crate::duration_text::serialize")]
    pub short: Duration,
    pub factor: f64,
    pub long_burn_rate: f64,
    pub short_burn_rate: f64,
    /// The long window held fewer calls than `min_events`: the pair stays quiet.
    pub low_traffic: bool,
    /// Both windows burn faster than the factor (and traffic suffices).
    pub burning: bool,
}

/// The error budget over the period.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BudgetStatus {
    pub good: u64,
    pub bad: u64,
    /// Bad events (or slices) the period allows.
    pub allowed_bad: f64,
    /// 1 = untouched, 0 = spent, below 0 = overspent.
    pub remaining: f64,
    /// SLI over the period; `None` without data.
    pub sli: Option<f64>,
}

/// Everything about one SLO at one instant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloStatus {
    pub slo: String,
    pub sli_kind: &'static str,
    pub objective: f64,
    /// Evaluation time, ms since the epoch.
    pub at_ms: i64,
    pub windows: Vec<WindowStatus>,
    pub pairs: Vec<PairStatus>,
    pub budget: BudgetStatus,
    /// No call in the no-data window.
    pub no_data: bool,
}

impl SloStatus {
    pub fn window(&self, d: Duration) -> Option<&WindowStatus> {
        self.windows.iter().find(|w| w.window == d)
    }
}

/// Every distinct window an SLO reports on: its pairs' windows and the no-data window.
pub fn windows_of(spec: &SloSpec) -> Vec<Duration> {
    let mut set: BTreeSet<Duration> = spec.alerting.windows.iter().flat_map(|w| [w.short, w.long]).collect();
    if let Some(n) = &spec.alerting.no_data {
        set.insert(n.after);
    }
    set.into_iter().collect()
}

/// Evaluates `spec` at `at_ms` from `series`.
pub fn evaluate(spec: &SloSpec, series: &MinuteSeries, at_ms: i64) -> SloStatus {
    let now = minute_of(at_ms);
    let windows: Vec<WindowStatus> = windows_of(spec).into_iter().map(|w| window_status(spec, series, now, w)).collect();
    let find = |d: Duration| windows.iter().find(|w| w.window == d);
    let pairs = spec
        .alerting
        .windows
        .iter()
        .map(|p| {
            let (long, short) = (find(p.long), find(p.short));
            let long_burn = long.map_or(0.0, |w| w.burn_rate);
            let short_burn = short.map_or(0.0, |w| w.burn_rate);
            let low_traffic = long.is_none_or(|w| w.events < spec.alerting.min_events);
            PairStatus {
                severity: p.severity.clone(),
                long: p.long,
                short: p.short,
                factor: p.factor,
                long_burn_rate: long_burn,
                short_burn_rate: short_burn,
                low_traffic,
                burning: !low_traffic && long_burn > p.factor && short_burn > p.factor,
            }
        })
        .collect();
    let no_data = spec.alerting.no_data.as_ref().is_some_and(|n| find(n.after).is_none_or(|w| w.events == 0));
    SloStatus {
        slo: spec.name.clone(),
        sli_kind: spec.sli.kind_name(),
        objective: spec.objective,
        at_ms,
        windows,
        pairs,
        budget: budget(spec, series, at_ms),
        no_data,
    }
}

fn minutes(d: Duration) -> i64 {
    (d.as_secs() / 60).max(1) as i64
}

/// The figures of the window of length `w` ending with minute `now`.
pub fn window_status(spec: &SloSpec, series: &MinuteSeries, now: i64, w: Duration) -> WindowStatus {
    let len = minutes(w);
    let s = series.sum(now - len + 1, now + 1);
    let (sli, bad_share) = shares(spec, s, len);
    WindowStatus { window: w, good: s.good, bad: s.bad, events: s.events, sli, burn_rate: bad_share.unwrap_or(0.0) / spec.error_budget() }
}

/// The SLI and the bad share of counts spanning `len` minutes.
fn shares(spec: &SloSpec, s: Slot, len: i64) -> (Option<f64>, Option<f64>) {
    match spec.budgeting {
        Budgeting::Occurrences => {
            let total = s.total();
            if total == 0 {
                (None, None)
            } else {
                let bad = s.bad as f64 / total as f64;
                (Some(1.0 - bad), Some(bad))
            }
        }
        Budgeting::Timeslices { slice, .. } => {
            let slices = (len / minutes(slice)).max(1) as f64;
            let bad = (s.bad as f64 / slices).min(1.0);
            (if s.good + s.bad == 0 { None } else { Some(1.0 - bad) }, Some(bad))
        }
    }
}

fn budget(spec: &SloSpec, series: &MinuteSeries, at_ms: i64) -> BudgetStatus {
    let start = minute_of(spec.period.start_ms(at_ms));
    let now = minute_of(at_ms);
    let s = series.sum(start + 1, now + 1);
    let (allowed, sli) = match spec.budgeting {
        Budgeting::Occurrences => {
            let total = s.total();
            (spec.error_budget() * total as f64, (total > 0).then(|| s.good as f64 / total as f64))
        }
        Budgeting::Timeslices { slice, .. } => {
            let period_minutes = minute_of(spec.period.end_ms(at_ms)) - start;
            let slices = (period_minutes / minutes(slice)).max(1) as f64;
            let elapsed = ((now - start) / minutes(slice)).max(1) as f64;
            (spec.error_budget() * slices, (s.good + s.bad > 0).then(|| 1.0 - s.bad as f64 / elapsed))
        }
    };
    let remaining = if allowed > 0.0 { 1.0 - s.bad as f64 / allowed } else if s.bad == 0 { 1.0 } else { 0.0 };
    BudgetStatus { good: s.good, bad: s.bad, allowed_bad: allowed, remaining, sli }
}

#[cfg(test)]
mod tests;
