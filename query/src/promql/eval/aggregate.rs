//! Aggregation operators: `sum`, `avg`, `min`, `max`, `count`, `group`,
//! `stddev`, `stdvar`, `quantile`, `topk`, `bottomk`, `count_values`, with
//! `by (…)` or `without (…)`.

use std::collections::BTreeMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::Evaluator;
use super::functions::{scalar_arg, vector_arg};
use super::range::quantile;
use crate::promql::PromError;
use crate::promql::value::{Labels, METRIC_NAME, StepSeries, Val, key_of};

/// The group a series falls in, and the labels the result keeps.
fn group_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(l)) => labels.iter().filter(|(k, _)| l.labels.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(LabelModifier::Exclude(l)) => {
            labels.iter().filter(|(k, _)| k.as_str() != METRIC_NAME && !l.labels.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        None => Labels::new(),
    }
}

pub fn eval(ev: &Evaluator<'_>, a: &AggregateExpr) -> Result<Val, PromError> {
    let input = vector_arg(ev, &a.expr)?;
    let n = ev.steps.len();
    let id = a.op.id();
    if id == T_TOPK || id == T_BOTTOMK {
        let k = scalar_arg(ev, param(a)?)?;
        return Ok(Val::Vector(top_k(input, &k, id == T_TOPK, &a.modifier, n)));
    }
    if id == T_COUNT_VALUES {
        let label = match param(a)? {
            Expr::StringLiteral(s) => s.val.clone(),
            _ => return Err(PromError::bad_data("count_values needs a label name")),
        };
        if !super::functions::valid_label_name(&label) {
            return Err(PromError::bad_data(format!("invalid label name {label:?}")));
        }
        return Ok(Val::Vector(count_values(input, &label, &a.modifier, n)));
    }
    if !matches!(id, T_SUM | T_AVG | T_COUNT | T_GROUP | T_MIN | T_MAX | T_STDDEV | T_STDVAR | T_QUANTILE) {
        return Err(PromError::unsupported(&format!("aggregation {}", a.op)));
    }
    let q = if id == T_QUANTILE { Some(scalar_arg(ev, param(a)?)?) } else { None };
    let mut groups: BTreeMap<String, (Labels, Vec<&StepSeries>)> = BTreeMap::new();
    for s in &input {
        let g = group_labels(&s.labels, &a.modifier);
        groups.entry(key_of(&g)).or_insert_with(|| (g, Vec::new())).1.push(s);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (_, (labels, members)) in groups {
        let values: Vec<Option<f64>> = (0..n)
            .map(|i| {
                let vals: Vec<f64> = members.iter().filter_map(|s| s.values[i]).collect();
                if vals.is_empty() {
                    return None;
                }
                let c = vals.len() as f64;
                Some(match id {
                    T_SUM => vals.iter().sum(),
                    T_AVG => vals.iter().sum::<f64>() / c,
                    T_COUNT => c,
                    T_GROUP => 1.0,
                    T_MIN => vals.iter().copied().fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a }),
                    T_MAX => vals.iter().copied().fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a }),
                    T_STDDEV | T_STDVAR => {
                        let mean = vals.iter().sum::<f64>() / c;
                        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c;
                        if id == T_STDDEV { var.sqrt() } else { var }
                    }
                    T_QUANTILE => {
                        let mut v = vals;
                        v.sort_by(f64::total_cmp);
                        quantile(q.as_ref().map_or(f64::NAN, |q| q[i]), &v)
                    }
                    _ => f64::NAN,
                })
            })
            .collect();
        if values.iter().any(Option::is_some) {
            out.push(StepSeries { labels, values });
        }
    }
    Ok(Val::Vector(out))
}

fn param(a: &AggregateExpr) -> Result<&Expr, PromError> {
    a.param.as_deref().ok_or_else(|| PromError::bad_data(format!("{} needs a parameter", a.op)))
}

/// The k largest (or smallest) series of each group, per step; series keep their labels.
fn top_k(input: Vec<StepSeries>, k: &[f64], largest: bool, modifier: &Option<LabelModifier>, n: usize) -> Vec<StepSeries> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (idx, s) in input.iter().enumerate() {
        groups.entry(key_of(&group_labels(&s.labels, modifier))).or_default().push(idx);
    }
    let mut keep: Vec<Vec<Option<f64>>> = input.iter().map(|_| vec![None; n]).collect();
    for members in groups.values() {
        for i in 0..n {
            let kk = k[i].max(0.0) as usize;
            let mut present: Vec<(usize, f64)> = members.iter().filter_map(|&m| input[m].values[i].map(|v| (m, v))).collect();
            present.sort_by(|a, b| if largest { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) });
            for (m, v) in present.into_iter().take(kk) {
                keep[m][i] = Some(v);
            }
        }
    }
    input
        .into_iter()
        .zip(keep)
        .filter(|(_, v)| v.iter().any(Option::is_some))
        .map(|(s, values)| StepSeries { labels: s.labels, values })
        .collect()
}

/// A value as `count_values` writes it into its label: Go's
/// `FormatFloat(v, 'f', -1, 64)`, never in exponent form (as Rust's Display).
fn count_values_label(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        f64::INFINITY => "+Inf".into(),
        f64::NEG_INFINITY => "-Inf".into(),
        v => format!("{v}"),
    }
}

fn count_values(input: Vec<StepSeries>, label: &str, modifier: &Option<LabelModifier>, n: usize) -> Vec<StepSeries> {
    let mut out: BTreeMap<String, StepSeries> = BTreeMap::new();
    for s in &input {
        let g = group_labels(&s.labels, modifier);
        for i in 0..n {
            if let Some(v) = s.values[i] {
                let mut l = g.clone();
                l.insert(label.to_owned(), count_values_label(v));
                let e = out.entry(key_of(&l)).or_insert_with(|| StepSeries { labels: l, values: vec![None; n] });
                e.values[i] = Some(e.values[i].unwrap_or(0.0) + 1.0);
            }
        }
    }
    out.into_values().collect()
}
