//! Binary operators: arithmetic (`+ - * / % ^ atan2`), comparisons (filtering,
//! or 0/1 with `bool`), and the set operators `and`, `or`, `unless`, between
//! scalars and vectors, with vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`) as Prometheus defines it.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::Evaluator;
use crate::promql::PromError;
use crate::promql::value::{Labels, METRIC_NAME, StepSeries, Val, drop_name, key_of};

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

fn is_set(op: TokenId) -> bool {
    matches!(op, T_LAND | T_LOR | T_LUNLESS)
}

/// `a op b` for numbers; comparisons give 1/0.
fn apply(op: TokenId, a: f64, b: f64) -> f64 {
    match op {
        T_ADD => a + b,
        T_SUB => a - b,
        T_MUL => a * b,
        T_DIV => a / b,
        T_MOD => a % b,
        T_POW => a.powf(b),
        T_ATAN2 => a.atan2(b),
        T_EQLC => (a == b) as u8 as f64,
        T_NEQ => (a != b) as u8 as f64,
        T_GTR => (a > b) as u8 as f64,
        T_LSS => (a < b) as u8 as f64,
        T_GTE => (a >= b) as u8 as f64,
        T_LTE => (a <= b) as u8 as f64,
        _ => f64::NAN,
    }
}

pub fn eval(ev: &Evaluator<'_>, b: &BinaryExpr) -> Result<Val, PromError> {
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs)?;
    let rhs = ev.eval(&b.rhs)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            if is_comparison(op) && !return_bool {
                return Err(PromError::bad_data("comparisons between scalars must use the bool modifier"));
            }
            Ok(Val::Scalar(l.iter().zip(&r).map(|(a, b)| apply(op, *a, *b)).collect()))
        }
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(op, v, &s, false, return_bool),
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(op, v, &s, true, return_bool),
        (Val::Vector(l), Val::Vector(r)) => {
            if is_set(op) {
                Ok(Val::Vector(set_op(op, l, r, b.modifier.as_ref(), ev.steps.len())))
            } else {
                vector_vector(op, l, r, b.modifier.as_ref(), return_bool, ev.steps.len()).map(Val::Vector)
            }
        }
        (l, r) => Err(PromError::bad_data(format!("binary operator {} is not defined between a {} and a {}", b.op, l.type_name(), r.type_name()))),
    }
}

fn vector_scalar(op: TokenId, v: Vec<StepSeries>, s: &[f64], scalar_left: bool, return_bool: bool) -> Result<Val, PromError> {
    if is_set(op) {
        return Err(PromError::bad_data("set operators need vectors on both sides"));
    }
    let cmp = is_comparison(op);
    let out = v
        .into_iter()
        .filter_map(|series| {
            let labels = if !cmp || return_bool { drop_name(series.labels) } else { series.labels };
            let values: Vec<Option<f64>> = series
                .values
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let x = (*x)?;
                    let (a, b) = if scalar_left { (s[i], x) } else { (x, s[i]) };
                    let r = apply(op, a, b);
                    match (cmp, return_bool) {
                        (false, _) => Some(r),
                        (true, true) => Some(r),
                        (true, false) => (r == 1.0).then_some(x),
                    }
                })
                .collect();
            values.iter().any(Option::is_some).then_some(StepSeries { labels, values })
        })
        .collect();
    Ok(Val::Vector(out))
}

/// The labels two series are matched on.
fn signature(labels: &Labels, m: Option<&BinModifier>) -> String {
    match m.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(on)) => key_of(labels.iter().filter(|(k, _)| on.labels.contains(k))),
        Some(LabelModifier::Exclude(ign)) => key_of(labels.iter().filter(|(k, _)| k.as_str() != METRIC_NAME && !ign.labels.contains(k))),
        None => key_of(labels.iter().filter(|(k, _)| k.as_str() != METRIC_NAME)),
    }
}

fn result_labels(op: TokenId, lhs: &Labels, rhs: &Labels, m: Option<&BinModifier>, return_bool: bool) -> Labels {
    let mut out = lhs.clone();
    if !is_comparison(op) || return_bool {
        out.remove(METRIC_NAME);
    }
    let card = m.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card);
    if matches!(card, VectorMatchCardinality::OneToOne) {
        match m.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(on)) => out.retain(|k, _| on.labels.contains(k)),
            Some(LabelModifier::Exclude(ign)) => out.retain(|k, _| !ign.labels.contains(k)),
            None => {}
        }
    }
    if let Some(include) = card.labels() {
        for l in &include.labels {
            match rhs.get(l) {
                Some(v) if !v.is_empty() => {
                    out.insert(l.clone(), v.clone());
                }
                _ => {
                    out.remove(l);
                }
            }
        }
    }
    out
}

fn vector_vector(
    op: TokenId,
    lhs: Vec<StepSeries>,
    rhs: Vec<StepSeries>,
    m: Option<&BinModifier>,
    return_bool: bool,
    n: usize,
) -> Result<Vec<StepSeries>, PromError> {
    // group_right is group_left with the sides swapped.
    let right = matches!(m.map(|m| &m.card), Some(VectorMatchCardinality::OneToMany(_)));
    let (many, one) = if right { (rhs, lhs) } else { (lhs, rhs) };
    let mut ones: HashMap<String, Vec<&StepSeries>> = HashMap::new();
    for s in &one {
        ones.entry(signature(&s.labels, m)).or_default().push(s);
    }
    let one_to_one = matches!(m.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card), VectorMatchCardinality::OneToOne);
    let mut seen_many: HashMap<String, Vec<usize>> = HashMap::new();
    let mut out: HashMap<String, StepSeries> = HashMap::new();
    let cmp = is_comparison(op);
    for (idx, s) in many.iter().enumerate() {
        let sig = signature(&s.labels, m);
        let Some(candidates) = ones.get(&sig) else { continue };
        if one_to_one {
            seen_many.entry(sig.clone()).or_default().push(idx);
        }
        for i in 0..n {
            let Some(x) = s.values[i] else { continue };
            let mut matched = candidates.iter().filter(|c| c.values[i].is_some());
            let Some(o) = matched.next() else { continue };
            if matched.next().is_some() {
                return Err(PromError::execution(format!(
                    "found duplicate series for the match group {} on the {} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                    sig.replace(['\u{1}'], "=").replace('\u{2}', ","),
                    if right { "left" } else { "right" }
                )));
            }
            if one_to_one && seen_many[&sig].iter().filter(|j| many[**j].values[i].is_some()).count() > 1 {
                return Err(PromError::execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".to_owned()));
            }
            let y = o.values[i].unwrap_or(f64::NAN);
            let (a, b) = if right { (y, x) } else { (x, y) };
            let r = apply(op, a, b);
            let value = match (cmp, return_bool) {
                (false, _) | (true, true) => r,
                (true, false) if r == 1.0 => {
                    if right { y } else { x }
                }
                _ => continue,
            };
            let (l_labels, r_labels) = if right { (&o.labels, &s.labels) } else { (&s.labels, &o.labels) };
            let labels = if right {
                result_labels(op, r_labels, l_labels, m, return_bool)
            } else {
                result_labels(op, l_labels, r_labels, m, return_bool)
            };
            let key = key_of(&labels);
            let e = out.entry(key).or_insert_with(|| StepSeries { labels, values: vec![None; n] });
            if e.values[i].is_some() {
                return Err(PromError::execution("vector matching produced duplicate series on the result side".to_owned()));
            }
            e.values[i] = Some(value);
        }
    }
    let mut v: Vec<StepSeries> = out.into_values().collect();
    v.sort_by_key(|a| key_of(&a.labels));
    Ok(v)
}

fn set_op(op: TokenId, lhs: Vec<StepSeries>, rhs: Vec<StepSeries>, m: Option<&BinModifier>, n: usize) -> Vec<StepSeries> {
    let mut present: HashMap<String, Vec<bool>> = HashMap::new();
    for s in &rhs {
        let e = present.entry(signature(&s.labels, m)).or_insert_with(|| vec![false; n]);
        for (seen, v) in e.iter_mut().zip(&s.values) {
            *seen |= v.is_some();
        }
    }
    let has = |sig: &str, i: usize| present.get(sig).is_some_and(|v| v[i]);
    match op {
        T_LAND | T_LUNLESS => lhs
            .into_iter()
            .filter_map(|mut s| {
                let sig = signature(&s.labels, m);
                for i in 0..n {
                    if has(&sig, i) != (op == T_LAND) {
                        s.values[i] = None;
                    }
                }
                s.values.iter().any(Option::is_some).then_some(s)
            })
            .collect(),
        _ => {
            let mut left_present: HashMap<String, Vec<bool>> = HashMap::new();
            for s in &lhs {
                let e = left_present.entry(signature(&s.labels, m)).or_insert_with(|| vec![false; n]);
                for (seen, v) in e.iter_mut().zip(&s.values) {
                    *seen |= v.is_some();
                }
            }
            let mut out = lhs;
            for mut s in rhs {
                let sig = signature(&s.labels, m);
                for i in 0..n {
                    if left_present.get(&sig).is_some_and(|v| v[i]) {
                        s.values[i] = None;
                    }
                }
                if s.values.iter().any(Option::is_some) {
                    out.push(s);
                }
            }
            out
        }
    }
}
