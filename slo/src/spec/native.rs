//! toolpulse's own SLO format (YAML). One SLO per document; see the README for
//! every field. Each problem is reported with its file and line.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::parse_util::{Ctx, timeslice, whole_minutes};
use super::{Alerting, Budgeting, BurnWindow, NoData, OutcomeSet, Period, Sli, SloSpec};
use crate::selector::{DimensionMatcher, Pattern, Selector};
use crate::spec::load::SpecError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlo {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    selector: RawSelector,
    sli: Spanned<RawSli>,
    objective: Spanned<f64>,
    period: Option<Spanned<String>>,
    budgeting: Option<Spanned<String>>,
    timeslice: Option<Spanned<String>>,
    timeslice_target: Option<Spanned<f64>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    alerting: Option<RawAlerting>,
}

/// A string or a list of strings.
#[derive(Deserialize, Default, Clone)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

impl OneOrMany {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
            OneOrMany::None => Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSelector {
    #[serde(default)]
    pub server: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub tool: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub agent: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub tenant: Option<Spanned<OneOrMany>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSli {
    pub kind: Spanned<String>,
    pub good_outcomes: Option<Spanned<Vec<String>>>,
    pub bad_outcomes: Option<Spanned<Vec<String>>>,
    pub outcomes: Option<Spanned<Vec<String>>>,
    pub threshold_ms: Option<Spanned<f64>>,
    pub percentile: Option<Spanned<f64>>,
    pub min_depth: Option<Spanned<u16>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerting {
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    min_events: Option<u64>,
    windows: Option<Vec<Spanned<RawWindow>>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    budget_exhausted: Option<Spanned<Toggle<String>>>,
    no_data: Option<Spanned<Toggle<RawNoData>>>,
}

/// `false` to turn something off, or its settings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Toggle<T> {
    Flag(bool),
    Value(T),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    severity: String,
    long: Spanned<String>,
    short: Spanned<String>,
    factor: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoData {
    after: Option<Spanned<String>>,
    severity: Option<String>,
}

/// Reads one native SLO document.
pub(super) fn parse(ctx: &Ctx<'_>, text: &str) -> Result<SloSpec, SpecError> {
    let mut raw: RawSlo = ctx.parse(text)?;
    let name = raw.name.value.trim().to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) {
        return Err(ctx.at_span(&raw.name, format!("name `{}` must be non-empty and use only letters, digits, `-_.:`", raw.name.value)));
    }
    let selector = selector(ctx, std::mem::take(&mut raw.selector))?;
    let sli = sli(ctx, &raw.sli)?;
    let objective = ctx.objective(&raw.objective, "objective")?;
    let period = match &raw.period {
        None => Period::Rolling(Duration::from_secs(30 * 86_400)),
        Some(p) if p.value == "calendar_month" || p.value == "month" => Period::CalendarMonth,
        Some(p) => Period::Rolling(whole_minutes(ctx, p, "period")?),
    };
    let budgeting = budgeting(ctx, &raw, &sli, objective)?;
    let alerting = match raw.alerting {
        Some(a) => alerting(ctx, a)?,
        None => Alerting::default(),
    };
    if matches!(sli, Sli::ChainLatency { .. }) && selector.uses_agent_or_tenant() {
        return Err(ctx.at_span(&raw.sli, "chain_latency SLIs select chains by the server and tool of their first call, not by agent or tenant"));
    }
    let spec = SloSpec {
        name,
        description: raw.description,
        selector,
        sli,
        objective,
        period,
        budgeting,
        alerting,
        labels: raw.labels,
        source: ctx.file.to_owned(),
    };
    check_windows(ctx, &spec, raw.name.referenced.line())?;
    Ok(spec)
}

pub(super) fn selector(ctx: &Ctx<'_>, raw: RawSelector) -> Result<Selector, SpecError> {
    let dim = |v: Option<Spanned<OneOrMany>>, what: &str| -> Result<DimensionMatcher, SpecError> {
        let Some(v) = v else { return Ok(DimensionMatcher::default()) };
        let line = v.referenced.line();
        let mut patterns = Vec::new();
        for text in v.value.into_vec() {
            if text == "*" {
                return Ok(DimensionMatcher::default());
            }
            patterns.push(Pattern::parse(&text).map_err(|e| ctx.at(line, format!("selector.{what}: {e}")))?);
        }
        Ok(DimensionMatcher(patterns))
    };
    Ok(Selector {
        server: dim(raw.server, "server")?,
        tool: dim(raw.tool, "tool")?,
        agent: dim(raw.agent, "agent")?,
        tenant: dim(raw.tenant, "tenant")?,
    })
}

pub(super) fn sli(ctx: &Ctx<'_>, raw: &Spanned<RawSli>) -> Result<Sli, SpecError> {
    let r = &raw.value;
    let threshold = |what: &str| -> Result<f64, SpecError> {
        let t = r.threshold_ms.as_ref().ok_or_else(|| ctx.at_span(raw, format!("sli.threshold_ms is required for kind {what}")))?;
        if !(t.value > 0.0 && t.value.is_finite()) {
            return Err(ctx.at_span(t, format!("sli.threshold_ms must be > 0, got {}", t.value)));
        }
        Ok(t.value)
    };
    let outcomes = |o: &Option<Spanned<Vec<String>>>, what: &str| o.as_ref().map(|l| ctx.outcomes(l, what)).transpose();
    let mut s = match r.kind.value.as_str() {
        "success_rate" => Sli::success_rate(),
        "auth_failure_rate" => Sli::auth_failure_rate(),
        "latency" => Sli::Latency { threshold_ms: threshold("latency")?, outcomes: outcomes(&r.outcomes, "sli.outcomes")?.unwrap_or(OutcomeSet::ALL) },
        "latency_percentile" => {
            let p = r.percentile.as_ref().ok_or_else(|| ctx.at_span(raw, "sli.percentile is required for kind latency_percentile"))?;
            let percentile = p.value;
            if !(percentile > 0.0 && percentile <= 1.0) {
                return Err(ctx.at_span(p, format!("sli.percentile must be in (0, 1] (0.99 for p99), got {}", p.value)));
            }
            Sli::LatencyPercentile {
                percentile,
                threshold_ms: threshold("latency_percentile")?,
                outcomes: outcomes(&r.outcomes, "sli.outcomes")?.unwrap_or(OutcomeSet::ALL),
            }
        }
        "chain_latency" => Sli::ChainLatency {
            threshold_ms: threshold("chain_latency")?,
            min_depth: match &r.min_depth {
                Some(d) if d.value == 0 => return Err(ctx.at_span(d, "sli.min_depth must be at least 1")),
                Some(d) => d.value,
                None => 1,
            },
        },
        other => {
            return Err(ctx.at_span(
                &r.kind,
                format!("sli.kind `{other}` is unknown (known: success_rate, auth_failure_rate, latency, latency_percentile, chain_latency)"),
            ));
        }
    };
    if let Sli::Ratio { good, bad, .. } = &mut s {
        if let Some(g) = outcomes(&r.good_outcomes, "sli.good_outcomes")? {
            *good = g;
        }
        if let Some(b) = outcomes(&r.bad_outcomes, "sli.bad_outcomes")? {
            *bad = b;
        }
        if good.intersects(*bad) {
            return Err(ctx.at_span(raw, "sli.good_outcomes and sli.bad_outcomes overlap"));
        }
    } else if r.good_outcomes.is_some() || r.bad_outcomes.is_some() {
        return Err(ctx.at_span(raw, format!("sli.good_outcomes/bad_outcomes do not apply to kind {}; use sli.outcomes", r.kind.value)));
    }
    Ok(s)
}

fn budgeting(ctx: &Ctx<'_>, raw: &RawSlo, sli: &Sli, objective: f64) -> Result<Budgeting, SpecError> {
    let slice = match &raw.timeslice {
        Some(s) => timeslice(ctx, s)?,
        None => Duration::from_secs(60),
    };
    let target = raw.timeslice_target.as_ref().map(|t| ctx.objective(t, "timeslice_target")).transpose()?.unwrap_or(objective);
    let method = raw.budgeting.as_ref().map(|b| (b.value.as_str(), b));
    match (method, sli) {
        (Some(("timeslices", b)), Sli::ChainLatency { .. }) => {
            Err(ctx.at_span(b, "budgeting: chain_latency SLIs count chains; use `occurrences`"))
        }
        (None, Sli::LatencyPercentile { .. }) | (Some(("timeslices", _)), _) => Ok(Budgeting::Timeslices { slice, target }),
        (Some(("occurrences", b)), Sli::LatencyPercentile { .. }) => {
            Err(ctx.at_span(b, "budgeting: latency_percentile SLIs are judged per timeslice; use `timeslices`"))
        }
        (None | Some(("occurrences", _)), _) => Ok(Budgeting::Occurrences),
        (Some((other, b)), _) => Err(ctx.at_span(b, format!("budgeting `{other}` is unknown (occurrences or timeslices)"))),
    }
}

fn alerting(ctx: &Ctx<'_>, raw: RawAlerting) -> Result<Alerting, SpecError> {
    let mut a = Alerting::default();
    if let Some(f) = &raw.for_ {
        a.for_ = super::parse_util::parse_delay(&f.value).map_err(|e| ctx.at_span(f, format!("alerting.for: {e}")))?;
    }
    a.min_events = raw.min_events.unwrap_or(0);
    if let Some(ws) = raw.windows {
        a.windows = ws.iter().map(|w| window(ctx, w)).collect::<Result<_, _>>()?;
    }
    a.labels = raw.labels;
    a.annotations = raw.annotations;
    if let Some(b) = raw.budget_exhausted {
        a.budget_exhausted = match b.value {
            Toggle::Flag(false) => None,
            Toggle::Flag(true) => Some("ticket".into()),
            Toggle::Value(sev) => Some(sev),
        };
    }
    if let Some(n) = raw.no_data {
        a.no_data = match n.value {
            Toggle::Flag(false) => None,
            Toggle::Flag(true) => Some(NoData::default()),
            Toggle::Value(r) => Some(NoData {
                after: match &r.after {
                    Some(d) => whole_minutes(ctx, d, "alerting.no_data.after")?,
                    None => NoData::default().after,
                },
                severity: r.severity.unwrap_or_else(|| NoData::default().severity),
            }),
        };
    }
    Ok(a)
}

fn window(ctx: &Ctx<'_>, w: &Spanned<RawWindow>) -> Result<BurnWindow, SpecError> {
    let r = &w.value;
    let long = whole_minutes(ctx, &r.long, "alerting.windows.long")?;
    let short = whole_minutes(ctx, &r.short, "alerting.windows.short")?;
    if short >= long {
        return Err(ctx.at_span(&r.short, format!("alerting.windows: the short window ({}) must be shorter than the long one ({})", r.short.value, r.long.value)));
    }
    if !(r.factor.value > 0.0 && r.factor.value.is_finite()) {
        return Err(ctx.at_span(&r.factor, format!("alerting.windows.factor must be > 0, got {}", r.factor.value)));
    }
    if r.severity.trim().is_empty() {
        return Err(ctx.at_span(w, "alerting.windows.severity is empty"));
    }
    Ok(BurnWindow { severity: r.severity.clone(), long, short, factor: r.factor.value })
}

/// Window checks that need the whole spec: a window is longer than a slice, and
/// a pair's factor can be reached at all (burn rates top out at 1 / (1 - objective)).
pub(super) fn check_windows(ctx: &Ctx<'_>, spec: &SloSpec, line: u64) -> Result<(), SpecError> {
    let max_burn = 1.0 / spec.error_budget();
    for w in &spec.alerting.windows {
        if w.factor >= max_burn {
            return Err(ctx.at(
                line,
                format!(
                    "slo {}: burn-rate factor {} can never be reached with objective {} (the highest burn rate is {:.2})",
                    spec.name, w.factor, spec.objective, max_burn
                ),
            ));
        }
        if let Budgeting::Timeslices { slice, .. } = spec.budgeting
            && w.short < slice
        {
            return Err(ctx.at(line, format!("slo {}: window {:?} is shorter than the timeslice {:?}", spec.name, w.short, slice)));
        }
    }
    Ok(())
}
