//! Import of OpenSLO v1 (`apiVersion: openslo/v1`): the `SLO`, `SLI`,
//! `AlertPolicy` and `AlertCondition` kinds, inline or by reference across the
//! files of a directory. What maps:
//!
//! - `SLI.ratioMetric` whose sources have `type: toolpulse` and list `outcomes`
//!   (good, bad or total) becomes a ratio SLI; `bad: [auth_failure]` is the
//!   auth-failure rate. The source spec's `server`, `tool`, `agent`, `tenant`
//!   select calls; the SLO's `service` is the default server.
//! - `SLI.thresholdMetric` with an objective `op: lte|lt` and `value` (ms) is a
//!   latency SLI; with `percentile` in the source spec, a per-timeslice percentile.
//! - `timeWindow`: rolling durations, or `calendar` with `duration: 1M` (calendar month).
//! - `budgetingMethod`: `Occurrences`, `Timeslices` (with `timeSliceTarget` and
//!   `timeSliceWindow`); `RatioTimeslices` is read as `Timeslices`.
//! - `AlertCondition` of `kind: burnrate`: `lookbackWindow` is the long window,
//!   a twelfth of it (at least 1m) the short one (as in the SRE workbook), `threshold`
//!   the factor, `alertAfter` the `for` delay; `alertWhenNoData` turns on the no-data alert.
//!
//! Several objectives in one SLO become one SLO each, named `<slo>-<objective>`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::native::{OneOrMany, RawSelector};
use super::parse_util::{Ctx, parse_duration};
use super::{Alerting, Budgeting, BurnWindow, NoData, OutcomeSet, Period, RatioKind, Sli, SloSpec};
use crate::spec::load::SpecError;

/// An OpenSLO object read from a file, not yet resolved.
pub struct Object {
    pub kind: String,
    pub name: String,
    pub file: String,
    pub line: u64,
    body: Body,
}

enum Body {
    Slo(Box<SloObj>),
    Sli(Box<SliSpec>),
    Policy(PolicySpec),
    Condition(ConditionSpec),
    Other,
}

#[derive(Deserialize)]
struct Envelope<S> {
    metadata: Metadata,
    spec: Option<S>,
}

#[derive(Deserialize, Default, Clone)]
struct Metadata {
    name: String,
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, OneOrMany>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SloObj {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    service: Option<String>,
    indicator: Option<Envelope<SliSpec>>,
    indicator_ref: Option<String>,
    #[serde(default)]
    time_window: Vec<TimeWindow>,
    budgeting_method: Option<Spanned<String>>,
    #[serde(default)]
    objectives: Vec<Spanned<Objective>>,
    #[serde(default)]
    alert_policies: Vec<PolicyRefOrInline>,
    #[serde(skip)]
    metadata: Metadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeWindow {
    duration: Spanned<String>,
    #[serde(default)]
    is_rolling: Option<bool>,
    #[serde(default)]
    calendar: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Objective {
    #[serde(default)]
    display_name: Option<String>,
    target: Option<f64>,
    target_percent: Option<f64>,
    op: Option<String>,
    value: Option<f64>,
    time_slice_target: Option<f64>,
    time_slice_window: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct SliSpec {
    threshold_metric: Option<MetricSpec>,
    ratio_metric: Option<RatioMetric>,
}

#[derive(Deserialize, Clone)]
struct RatioMetric {
    good: Option<MetricSpec>,
    bad: Option<MetricSpec>,
    total: Option<MetricSpec>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct MetricSpec {
    metric_source: MetricSource,
}

#[derive(Deserialize, Clone)]
struct MetricSource {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    spec: SourceSpec,
}

#[derive(Deserialize, Clone, Default)]
struct SourceSpec {
    #[serde(default)]
    outcomes: Vec<String>,
    percentile: Option<f64>,
    server: Option<OneOrManyClone>,
    tool: Option<OneOrManyClone>,
    agent: Option<OneOrManyClone>,
    tenant: Option<OneOrManyClone>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum OneOrManyClone {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PolicyRefOrInline {
    Ref {
        #[serde(rename = "alertPolicyRef")]
        alert_policy_ref: String,
    },
    Inline(Envelope<PolicySpec>),
}

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
struct PolicySpec {
    #[serde(default)]
    alert_when_no_data: bool,
    #[serde(default)]
    conditions: Vec<ConditionRefOrInline>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum ConditionRefOrInline {
    Ref {
        #[serde(rename = "conditionRef")]
        condition_ref: String,
    },
    Inline(InlineCondition),
}

#[derive(Deserialize, Clone)]
struct InlineCondition {
    #[serde(default)]
    metadata: Option<Metadata>,
    spec: ConditionSpec,
}

#[derive(Deserialize, Clone)]
struct ConditionSpec {
    #[serde(default)]
    severity: Option<String>,
    condition: Condition,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Condition {
    kind: String,
    #[serde(default)]
    op: Option<String>,
    threshold: f64,
    lookback_window: String,
    #[serde(default)]
    alert_after: Option<String>,
}

#[derive(Deserialize)]
struct Probe {
    kind: Option<String>,
}

/// Reads one OpenSLO document into an unresolved object.
pub fn read(ctx: &Ctx<'_>, text: &str) -> Result<Object, SpecError> {
    let probe: Probe = ctx.parse(text)?;
    let kind = probe.kind.ok_or_else(|| ctx.at(1, "OpenSLO object without `kind`"))?;
    let (name, body) = match kind.as_str() {
        "SLO" => {
            let e: Envelope<SloObj> = ctx.parse(text)?;
            let mut spec = e.spec.ok_or_else(|| ctx.at(1, "SLO without `spec`"))?;
            spec.metadata = e.metadata.clone();
            (e.metadata.name, Body::Slo(Box::new(spec)))
        }
        "SLI" => {
            let e: Envelope<SliSpec> = ctx.parse(text)?;
            (e.metadata.name, Body::Sli(Box::new(e.spec.ok_or_else(|| ctx.at(1, "SLI without `spec`"))?)))
        }
        "AlertPolicy" => {
            let e: Envelope<PolicySpec> = ctx.parse(text)?;
            (e.metadata.name, Body::Policy(e.spec.unwrap_or_default()))
        }
        "AlertCondition" => {
            let e: Envelope<ConditionSpec> = ctx.parse(text)?;
            (e.metadata.name, Body::Condition(e.spec.ok_or_else(|| ctx.at(1, "AlertCondition without `spec`"))?))
        }
        _ => (String::new(), Body::Other),
    };
    Ok(Object { kind, name, file: ctx.file.to_owned(), line: ctx.first_line, body })
}

/// Resolves references between objects and turns each SLO into specs.
pub fn resolve(objects: &[Object]) -> Result<Vec<SloSpec>, Vec<SpecError>> {
    let by = |kind: &str| -> HashMap<&str, &Object> {
        objects.iter().filter(|o| o.kind == kind).map(|o| (o.name.as_str(), o)).collect()
    };
    let (slis, policies, conditions) = (by("SLI"), by("AlertPolicy"), by("AlertCondition"));
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for o in objects {
        let Body::Slo(slo) = &o.body else { continue };
        let ctx = Ctx { file: &o.file, first_line: o.line };
        match to_specs(&ctx, &o.name, slo, &slis, &policies, &conditions) {
            Ok(specs) => out.extend(specs),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn to_specs(
    ctx: &Ctx<'_>,
    name: &str,
    slo: &SloObj,
    slis: &HashMap<&str, &Object>,
    policies: &HashMap<&str, &Object>,
    conditions: &HashMap<&str, &Object>,
) -> Result<Vec<SloSpec>, SpecError> {
    let indicator = match (&slo.indicator, &slo.indicator_ref) {
        (Some(i), _) => i.spec.clone().ok_or_else(|| ctx.at(1, format!("SLO {name}: inline indicator without `spec`")))?,
        (None, Some(r)) => match slis.get(r.as_str()).map(|o| &o.body) {
            Some(Body::Sli(s)) => SliSpec::clone(s),
            _ => return Err(ctx.at(1, format!("SLO {name}: indicatorRef `{r}` names no SLI in this directory"))),
        },
        (None, None) => return Err(ctx.at(1, format!("SLO {name}: needs `indicator` or `indicatorRef`"))),
    };
    let period = period(ctx, name, &slo.time_window)?;
    let alerting = alerting(ctx, name, &slo.alert_policies, policies, conditions)?;
    let mut labels = BTreeMap::new();
    for (k, v) in &slo.metadata.labels {
        let vals = match v {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
            OneOrMany::None => vec![],
        };
        labels.insert(k.clone(), vals.join(","));
    }
    if slo.objectives.is_empty() {
        return Err(ctx.at(1, format!("SLO {name}: no objectives")));
    }
    let mut specs = Vec::new();
    for (i, obj) in slo.objectives.iter().enumerate() {
        let o = &obj.value;
        let target = o.target.or(o.target_percent.map(|p| p / 100.0));
        let objective = target.filter(|t| *t > 0.0 && *t < 1.0).ok_or_else(|| {
            ctx.at_span(obj, format!("SLO {name}: objective needs `target` in (0, 1) or `targetPercent` in (0, 100)"))
        })?;
        let (sli, selector) = sli(ctx, name, &indicator, o, slo.service.as_deref(), obj)?;
        let budgeting = budgeting(ctx, name, slo.budgeting_method.as_ref(), o, &sli, objective)?;
        let spec_name = if slo.objectives.len() == 1 {
            name.to_owned()
        } else {
            format!("{name}-{}", o.display_name.clone().unwrap_or_else(|| i.to_string()).replace(' ', "-").to_lowercase())
        };
        let spec = SloSpec {
            name: spec_name,
            description: slo.description.clone().or(slo.metadata.display_name.clone()).unwrap_or_default(),
            selector,
            sli,
            objective,
            period,
            budgeting,
            alerting: alerting.clone(),
            labels: labels.clone(),
            source: ctx.file.to_owned(),
        };
        super::native::check_windows(ctx, &spec, obj.referenced.line())?;
        specs.push(spec);
    }
    Ok(specs)
}

fn period(ctx: &Ctx<'_>, name: &str, windows: &[TimeWindow]) -> Result<Period, SpecError> {
    let Some(w) = windows.first() else { return Ok(Period::Rolling(Duration::from_secs(30 * 86_400))) };
    let text = w.duration.value.trim();
    if w.calendar.is_some() || w.is_rolling == Some(false) {
        if text == "1M" || text == "1mo" || text == "month" {
            return Ok(Period::CalendarMonth);
        }
        return Err(ctx.at_span(&w.duration, format!("SLO {name}: calendar windows other than one month (`1M`) are not supported")));
    }
    let days = text.strip_suffix('M').and_then(|n| n.parse::<u64>().ok()).map(|m| format!("{}d", m * 30));
    let d = parse_duration(days.as_deref().unwrap_or(text)).map_err(|e| ctx.at_span(&w.duration, format!("SLO {name}: timeWindow.duration: {e}")))?;
    Ok(Period::Rolling(d))
}

fn selector_of(spec: &SourceSpec, service: Option<&str>, ctx: &Ctx<'_>) -> Result<crate::selector::Selector, SpecError> {
    let conv = |v: &Option<OneOrManyClone>| -> Option<Spanned<OneOrMany>> {
        v.clone().map(|v| {
            let inner = match v {
                OneOrManyClone::One(s) => OneOrMany::One(s),
                OneOrManyClone::Many(m) => OneOrMany::Many(m),
            };
            Spanned::new(inner, Location::UNKNOWN, Location::UNKNOWN)
        })
    };
    let mut raw = RawSelector { server: conv(&spec.server), tool: conv(&spec.tool), agent: conv(&spec.agent), tenant: conv(&spec.tenant) };
    if raw.server.is_none() {
        raw.server = service.map(|s| Spanned::new(OneOrMany::One(s.to_owned()), Location::UNKNOWN, Location::UNKNOWN));
    }
    super::native::selector(ctx, raw)
}

fn outcome_set(ctx: &Ctx<'_>, list: &[String], what: &str, at: &Spanned<Objective>) -> Result<OutcomeSet, SpecError> {
    let spanned = Spanned::new(list.to_vec(), at.referenced, at.defined);
    ctx.outcomes(&spanned, what)
}

fn sli(
    ctx: &Ctx<'_>,
    name: &str,
    ind: &SliSpec,
    o: &Objective,
    service: Option<&str>,
    at: &Spanned<Objective>,
) -> Result<(Sli, crate::selector::Selector), SpecError> {
    let check_source = |m: &MetricSpec| -> Result<(), SpecError> {
        match m.metric_source.kind.as_deref() {
            Some("toolpulse") | None => Ok(()),
            Some(other) => Err(ctx.at_span(at, format!("SLO {name}: metricSource type `{other}` is not supported (use `toolpulse`)"))),
        }
    };
    if let Some(r) = &ind.ratio_metric {
        for m in [&r.good, &r.bad, &r.total].into_iter().flatten() {
            check_source(m)?;
        }
        let list = |m: &Option<MetricSpec>| m.as_ref().map(|m| m.metric_source.spec.outcomes.clone()).filter(|l| !l.is_empty());
        let good = list(&r.good).map(|l| outcome_set(ctx, &l, "ratioMetric.good.outcomes", at)).transpose()?;
        let bad = list(&r.bad).map(|l| outcome_set(ctx, &l, "ratioMetric.bad.outcomes", at)).transpose()?;
        let total = list(&r.total).map(|l| outcome_set(ctx, &l, "ratioMetric.total.outcomes", at)).transpose()?;
        let minus = |a: OutcomeSet, b: OutcomeSet| OutcomeSet::of(&a.iter().filter(|x| !b.contains(*x)).collect::<Vec<_>>());
        let (good, bad) = match (good, bad, total) {
            (Some(g), Some(b), _) => (g, b),
            (Some(g), None, Some(t)) => (g, minus(t, g)),
            (None, Some(b), Some(t)) => (minus(t, b), b),
            (None, Some(b), None) => (minus(OutcomeSet::ALL, b), b),
            _ => return Err(ctx.at_span(at, format!("SLO {name}: ratioMetric needs `outcomes` for two of good, bad, total"))),
        };
        let auth = bad == OutcomeSet::of(&[toolpulse_schemas::Outcome::AuthFailure]);
        let kind = if auth { RatioKind::AuthFailureRate } else { RatioKind::SuccessRate };
        let source = [&r.total, &r.good, &r.bad].into_iter().flatten().next().map(|m| m.metric_source.spec.clone()).unwrap_or_default();
        return Ok((Sli::Ratio { kind, good, bad }, selector_of(&source, service, ctx)?));
    }
    if let Some(t) = &ind.threshold_metric {
        check_source(t)?;
        let threshold = o.value.filter(|v| *v > 0.0).ok_or_else(|| ctx.at_span(at, format!("SLO {name}: thresholdMetric needs the objective's `value` (ms) > 0")))?;
        if !matches!(o.op.as_deref(), Some("lte" | "lt") | None) {
            return Err(ctx.at_span(at, format!("SLO {name}: objective op `{}` is not supported for latency (use lte)", o.op.as_deref().unwrap_or(""))));
        }
        let spec = &t.metric_source.spec;
        let outcomes = if spec.outcomes.is_empty() { OutcomeSet::ALL } else { outcome_set(ctx, &spec.outcomes, "thresholdMetric.outcomes", at)? };
        let sli = match spec.percentile {
            Some(p) => Sli::LatencyPercentile { percentile: if p > 1.0 { p / 100.0 } else { p }, threshold_ms: threshold, outcomes },
            None => Sli::Latency { threshold_ms: threshold, outcomes },
        };
        return Ok((sli, selector_of(spec, service, ctx)?));
    }
    Err(ctx.at_span(at, format!("SLO {name}: the indicator needs `ratioMetric` or `thresholdMetric`")))
}

fn budgeting(
    ctx: &Ctx<'_>,
    name: &str,
    method: Option<&Spanned<String>>,
    o: &Objective,
    sli: &Sli,
    objective: f64,
) -> Result<Budgeting, SpecError> {
    let slice = match &o.time_slice_window {
        Some(w) => super::parse_util::timeslice(ctx, &Spanned::new(w.clone(), Location::UNKNOWN, Location::UNKNOWN))
            .map_err(|e| ctx.at(1, format!("SLO {name}: timeSliceWindow: {}", e.reason)))?,
        None => Duration::from_secs(60),
    };
    let timeslices = Budgeting::Timeslices { slice, target: o.time_slice_target.unwrap_or(objective) };
    match method.map(|m| m.value.as_str()) {
        Some("Timeslices" | "RatioTimeslices") => Ok(timeslices),
        _ if matches!(sli, Sli::LatencyPercentile { .. }) => Ok(timeslices),
        None | Some("Occurrences") => Ok(Budgeting::Occurrences),
        Some(other) => Err(ctx.at_span(method.unwrap_or_else(|| unreachable!()), format!("SLO {name}: budgetingMethod `{other}` is unknown"))),
    }
}

fn alerting(
    ctx: &Ctx<'_>,
    name: &str,
    refs: &[PolicyRefOrInline],
    policies: &HashMap<&str, &Object>,
    conditions: &HashMap<&str, &Object>,
) -> Result<Alerting, SpecError> {
    if refs.is_empty() {
        return Ok(Alerting::default());
    }
    let mut a = Alerting { windows: Vec::new(), no_data: None, ..Alerting::default() };
    for r in refs {
        let policy = match r {
            PolicyRefOrInline::Inline(e) => e.spec.clone().unwrap_or_default(),
            PolicyRefOrInline::Ref { alert_policy_ref } => match policies.get(alert_policy_ref.as_str()).map(|o| &o.body) {
                Some(Body::Policy(p)) => p.clone(),
                _ => return Err(ctx.at(1, format!("SLO {name}: alertPolicyRef `{alert_policy_ref}` names no AlertPolicy"))),
            },
        };
        if policy.alert_when_no_data {
            a.no_data = Some(NoData::default());
        }
        for c in &policy.conditions {
            let cond = match c {
                ConditionRefOrInline::Inline(i) => {
                    let _ = &i.metadata;
                    i.spec.clone()
                }
                ConditionRefOrInline::Ref { condition_ref } => match conditions.get(condition_ref.as_str()).map(|o| &o.body) {
                    Some(Body::Condition(c)) => c.clone(),
                    _ => return Err(ctx.at(1, format!("SLO {name}: conditionRef `{condition_ref}` names no AlertCondition"))),
                },
            };
            if cond.condition.kind != "burnrate" {
                return Err(ctx.at(1, format!("SLO {name}: alert condition kind `{}` is not supported (burnrate)", cond.condition.kind)));
            }
            if !matches!(cond.condition.op.as_deref(), None | Some("gte" | "gt")) {
                return Err(ctx.at(1, format!("SLO {name}: burnrate op must be gt or gte")));
            }
            let long = parse_duration(&cond.condition.lookback_window).map_err(|e| ctx.at(1, format!("SLO {name}: lookbackWindow: {e}")))?;
            let short = Duration::from_secs((long.as_secs() / 12 / 60).max(1) * 60);
            if let Some(after) = &cond.condition.alert_after {
                let d = super::parse_util::parse_delay(after).map_err(|e| ctx.at(1, format!("SLO {name}: alertAfter: {e}")))?;
                a.for_ = a.for_.max(d);
            }
            a.windows.push(BurnWindow {
                severity: cond.severity.clone().unwrap_or_else(|| "page".into()),
                long: Duration::from_secs(long.as_secs() / 60 * 60),
                short,
                factor: cond.condition.threshold,
            });
        }
    }
    Ok(a)
}
