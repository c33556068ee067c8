//! The alerts an SLO's status asks for right now. Severities rank by speed (the
//! shortest long window among their pairs): while a faster one burns, the
//! slower ones are held back, so a page suppresses the ticket for the same SLO.

use std::time::Duration;

use super::Labels;
use crate::duration_text::human;
use crate::evaluate::SloStatus;
use crate::spec::SloSpec;

pub const BURN_RATE: &str = "SLOBurnRate";
pub const BUDGET_EXHAUSTED: &str = "SLOErrorBudgetExhausted";
pub const NO_DATA: &str = "SLONoData";

/// An alert candidate: whether its condition holds, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub labels: Labels,
    pub annotations: Labels,
    pub active: bool,
    pub value: f64,
    pub for_: Duration,
}

/// Base labels of every alert of `spec`.
pub fn labels(spec: &SloSpec, alertname: &str, severity: &str) -> Labels {
    let mut l: Labels = spec.labels.clone();
    l.extend(spec.alerting.labels.clone());
    l.insert("alertname".into(), alertname.into());
    l.insert("slo".into(), spec.name.clone());
    l.insert("severity".into(), severity.into());
    l.insert("sli".into(), spec.sli.kind_name().into());
    l
}

/// Severities of the SLO's pairs, fastest first.
pub fn severities(spec: &SloSpec) -> Vec<String> {
    let mut v: Vec<(Duration, String)> = Vec::new();
    for w in &spec.alerting.windows {
        match v.iter_mut().find(|(_, s)| *s == w.severity) {
            Some(e) => e.0 = e.0.min(w.long),
            None => v.push((w.long, w.severity.clone())),
        }
    }
    v.sort();
    v.into_iter().map(|(_, s)| s).collect()
}

fn pct(x: f64) -> String {
    format!("{:.3}%", x * 100.0)
}

/// Every alert candidate of one SLO.
pub fn desired(spec: &SloSpec, status: &SloStatus) -> Vec<Desired> {
    let mut out = Vec::new();
    let mut faster_burning = false;
    for sev in severities(spec) {
        let pairs: Vec<_> = status.pairs.iter().filter(|p| p.severity == sev).collect();
        let burning: Vec<_> = pairs.iter().filter(|p| p.burning).collect();
        let worst = pairs.iter().map(|p| p.short_burn_rate.min(p.long_burn_rate)).fold(0.0, f64::max);
        let mut annotations = spec.alerting.annotations.clone();
        let detail: Vec<String> = burning
            .iter()
            .map(|p| format!("{}/{} burn {:.1}x/{:.1}x > {}x", human(p.long), human(p.short), p.long_burn_rate, p.short_burn_rate, p.factor))
            .collect();
        annotations.insert("summary".into(), format!("SLO {} is burning its error budget too fast ({sev})", spec.name));
        annotations.insert(
            "description".into(),
            format!(
                "{} (objective {}): {}. Error budget remaining: {}.",
                spec.name,
                pct(spec.objective),
                if detail.is_empty() { "no window pair burning".into() } else { detail.join("; ") },
                pct(status.budget.remaining)
            ),
        );
        let active = !burning.is_empty() && !faster_burning;
        faster_burning |= !burning.is_empty();
        out.push(Desired { labels: labels(spec, BURN_RATE, &sev), annotations, active, value: worst, for_: spec.alerting.for_ });
    }
    if let Some(sev) = &spec.alerting.budget_exhausted {
        let mut annotations = spec.alerting.annotations.clone();
        annotations.insert("summary".into(), format!("SLO {} has spent its error budget", spec.name));
        annotations.insert(
            "description".into(),
            format!("{}: {} of the error budget remains over the period (objective {}).", spec.name, pct(status.budget.remaining), pct(spec.objective)),
        );
        out.push(Desired {
            labels: labels(spec, BUDGET_EXHAUSTED, sev),
            annotations,
            active: status.budget.remaining <= 0.0 && status.budget.bad > 0,
            value: status.budget.remaining,
            for_: Duration::ZERO,
        });
    }
    if let Some(n) = &spec.alerting.no_data {
        let mut annotations = spec.alerting.annotations.clone();
        annotations.insert("summary".into(), format!("SLO {} has had no tool calls for {}", spec.name, human(n.after)));
        annotations.insert("description".into(), format!("No call matched the selection of {} in the last {}.", spec.name, human(n.after)));
        out.push(Desired { labels: labels(spec, NO_DATA, &n.severity), annotations, active: status.no_data, value: 0.0, for_: Duration::ZERO });
    }
    out
}
