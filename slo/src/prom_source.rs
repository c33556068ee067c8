//! The SLO metrics for PromQL, computed at any instant from the engine's
//! per-minute counts (so ranges show history as far back as the counts reach):
//!
//! - `toolpulse_slo_objective{slo,sli}`
//! - `toolpulse_slo_sli{slo,sli,window}` (good share over the window)
//! - `toolpulse_slo_burn_rate{slo,sli,window}`
//! - `toolpulse_slo_error_budget_remaining{slo,sli}` (1 untouched, 0 spent)
//! - `toolpulse_slo_period_sli{slo,sli}` (SLI over the whole period)
//! - `ALERTS{alertname,alertstate,severity,slo,sli,…}` (1 while an alert's
//!   condition holds, recomputed at each instant; `alertstate` is `firing`)
//!
//! Every series also carries the SLO's own labels. Samples are taken at every
//! minute boundary of the range, as if scraped once a minute.

use async_trait::async_trait;
use toolpulse_query::promql::source::{MetricMeta, MetricSource, Selection};
use toolpulse_query::promql::value::{Labels, Series, key_of};
use toolpulse_query::promql::PromError;

use crate::alerts::rules;
use crate::duration_text::human;
use crate::engine::SloEngine;

pub const OBJECTIVE: &str = "toolpulse_slo_objective";
pub const SLI: &str = "toolpulse_slo_sli";
pub const BURN_RATE: &str = "toolpulse_slo_burn_rate";
pub const BUDGET_REMAINING: &str = "toolpulse_slo_error_budget_remaining";
pub const PERIOD_SLI: &str = "toolpulse_slo_period_sli";
pub const ALERTS: &str = "ALERTS";

/// Most samples one selection computes (a week at one-minute resolution).
const MAX_SAMPLES: usize = 7 * 1440 + 1;

pub struct SloMetricsSource {
    engine: SloEngine,
}

impl SloMetricsSource {
    pub fn new(engine: SloEngine) -> Self {
        SloMetricsSource { engine }
    }
}

#[async_trait]
impl MetricSource for SloMetricsSource {
    fn metrics(&self) -> Vec<MetricMeta> {
        let m = |name: &str, help: &str, labels: Vec<&'static str>| MetricMeta { name: name.into(), kind: "gauge", help: help.into(), unit: "", labels, family: None };
        vec![
            m(OBJECTIVE, "The SLO's objective (target share of good events or timeslices).", vec!["slo", "sli"]),
            m(SLI, "The SLI over a window: the share of good events (or timeslices).", vec!["slo", "sli", "window"]),
            m(BURN_RATE, "How fast the error budget burns over a window: (bad share) / (1 - objective).", vec!["slo", "sli", "window"]),
            m(BUDGET_REMAINING, "Share of the period's error budget left (1 untouched, 0 spent, below 0 overspent).", vec!["slo", "sli"]),
            m(PERIOD_SLI, "The SLI over the SLO's whole period.", vec!["slo", "sli"]),
            m(ALERTS, "SLO alerts whose condition holds.", vec!["alertname", "alertstate", "severity", "slo", "sli"]),
        ]
    }

    async fn select(&self, sel: &Selection) -> Result<Vec<Series>, PromError> {
        let specs = self.engine.specs();
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.engine.now_ms();
        let end = sel.end.min(now);
        if end < sel.start {
            return Ok(Vec::new());
        }
        // At minute boundaries only, as if scraped once a minute (like the
        // counters): an instant query finds the last one within its lookback,
        // and `*_over_time` sees the same samples whatever the query's times.
        let mut times: Vec<i64> = ((sel.start + 59_999).div_euclid(60_000)..=end.div_euclid(60_000)).map(|m| m * 60_000).collect();
        if times.len() > MAX_SAMPLES {
            times.drain(..times.len() - MAX_SAMPLES);
        }
        let statuses = self.engine.statuses_at(&times).await;
        let mut out: std::collections::BTreeMap<String, Series> = std::collections::BTreeMap::new();
        let mut push = |labels: Labels, t: i64, v: f64| {
            if sel.matches(&labels) {
                out.entry(key_of(&labels)).or_insert_with(|| Series { labels, samples: Vec::new() }).samples.push((t, v));
            }
        };
        for (t, at) in times.iter().zip(&statuses) {
            for (spec, st) in specs.iter().zip(at) {
                let mut base = spec.labels.clone();
                base.insert("slo".into(), spec.name.clone());
                base.insert("sli".into(), spec.sli.kind_name().into());
                let with = |k: &str, v: String| {
                    let mut l = base.clone();
                    l.insert(k.into(), v);
                    l
                };
                match sel.name.as_str() {
                    OBJECTIVE => push(base.clone(), *t, spec.objective),
                    BUDGET_REMAINING => push(base.clone(), *t, st.budget.remaining),
                    PERIOD_SLI => {
                        if let Some(v) = st.budget.sli {
                            push(base.clone(), *t, v);
                        }
                    }
                    SLI => {
                        for w in &st.windows {
                            if let Some(v) = w.sli {
                                push(with("window", human(w.window)), *t, v);
                            }
                        }
                    }
                    BURN_RATE => {
                        for w in &st.windows {
                            push(with("window", human(w.window)), *t, w.burn_rate);
                        }
                    }
                    ALERTS => {
                        for d in rules::desired(spec, st).into_iter().filter(|d| d.active) {
                            let mut l = d.labels.clone();
                            l.insert("alertstate".into(), "firing".into());
                            push(l, *t, 1.0);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out.into_values().collect())
    }
}
