//! Function calls: range-vector functions (through [`super::range`]) over range
//! selectors and subqueries, math and trigonometry on instant vectors, the
//! calendar ([`super::calendar`]), `time`, `vector`, `scalar`, `label_replace`, `label_join`,
//! `absent`, `absent_over_time`, `histogram_quantile`, `sort`, `timestamp`.
//! Anything else is refused with a message naming it.

use std::borrow::Cow;

use promql_parser::parser::{AtModifier, Call, Expr, Offset};
use regex::Regex;

use super::range::{double_exponential_smoothing, extrapolated_rate, instant_delta, over_time, predict_linear, window};
use super::{Evaluator, calendar, subquery_range_vector};
use crate::promql::PromError;
use crate::promql::value::{Labels, METRIC_NAME, Series, StepSeries, Val, drop_name};

pub fn call(ev: &Evaluator<'_>, c: &Call) -> Result<Val, PromError> {
    let args = &c.args.args;
    let name = c.func.name;
    match name {
        "rate" | "increase" | "delta" | "irate" | "idelta" | "sum_over_time" | "count_over_time" | "avg_over_time" | "min_over_time"
        | "max_over_time" | "last_over_time" | "present_over_time" | "stddev_over_time" | "stdvar_over_time" | "changes" | "resets"
        | "deriv" => {
            let arg = range_arg(ev, args.first().map(|a| a.as_ref()), name)?;
            range_function(ev, name, arg, &[])
        }
        "quantile_over_time" => {
            let q = scalar_arg(ev, &args[0])?;
            let arg = range_arg(ev, args.get(1).map(|a| a.as_ref()), name)?;
            range_function(ev, name, arg, &[q])
        }
        "predict_linear" => {
            let arg = range_arg(ev, args.first().map(|a| a.as_ref()), name)?;
            let seconds = scalar_arg(ev, &args[1])?;
            range_function(ev, name, arg, &[seconds])
        }
        "holt_winters" | "double_exponential_smoothing" => {
            let arg = range_arg(ev, args.first().map(|a| a.as_ref()), name)?;
            let (smoothing, trend) = (scalar_arg(ev, &args[1])?, scalar_arg(ev, &args[2])?);
            // Prometheus's checks and words.
            for (what, short, factors) in [("smoothing", "sf", &smoothing), ("trend", "tf", &trend)] {
                if let Some(f) = factors.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
                    return Err(PromError::bad_data(format!("invalid {what} factor. Expected: 0 < {short} < 1, got: {f:.6}")));
                }
            }
            range_function(ev, "double_exponential_smoothing", arg, &[smoothing, trend])
        }
        "absent_over_time" => {
            let arg = range_arg(ev, args.first().map(|a| a.as_ref()), name)?;
            // As Prometheus: labels from a range selector's matchers, none from a subquery.
            let matchers = match args.first().map(|a| a.as_ref()) {
                Some(Expr::MatrixSelector(ms)) => ms.vs.matchers.matchers.clone(),
                _ => Vec::new(),
            };
            let present = range_function(ev, "present_over_time", arg, &[])?;
            Ok(absent(ev, present, &matchers))
        }
        "absent" => {
            let v = ev.eval(&args[0])?;
            let matchers = match args[0].as_ref() {
                Expr::VectorSelector(vs) => vs.matchers.matchers.clone(),
                _ => Vec::new(),
            };
            Ok(absent(ev, v, &matchers))
        }
        "time" => Ok(Val::Scalar(ev.steps.iter().map(|t| t as f64 / 1000.0).collect())),
        "vector" => {
            let s = scalar_arg(ev, &args[0])?;
            Ok(Val::Vector(vec![StepSeries { labels: Labels::new(), values: s.into_iter().map(Some).collect() }]))
        }
        "scalar" => {
            let v = vector_arg(ev, &args[0])?;
            let out = (0..ev.steps.len())
                .map(|i| {
                    let mut vals = v.iter().filter_map(|s| s.values[i]);
                    match (vals.next(), vals.next()) {
                        (Some(x), None) => x,
                        _ => f64::NAN,
                    }
                })
                .collect();
            Ok(Val::Scalar(out))
        }
        "abs" | "ceil" | "floor" | "exp" | "ln" | "log2" | "log10" | "sqrt" | "sgn" | "acos" | "acosh" | "asin" | "asinh" | "atan"
        | "atanh" | "cos" | "cosh" | "sin" | "sinh" | "tan" | "tanh" | "deg" | "rad" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                "sqrt" => f64::sqrt,
                "acos" => f64::acos,
                "acosh" => f64::acosh,
                "asin" => f64::asin,
                "asinh" => f64::asinh,
                "atan" => f64::atan,
                "atanh" => f64::atanh,
                "cos" => f64::cos,
                "cosh" => f64::cosh,
                "sin" => f64::sin,
                "sinh" => f64::sinh,
                "tan" => f64::tan,
                "tanh" => f64::tanh,
                "deg" => f64::to_degrees,
                "rad" => f64::to_radians,
                _ => |x: f64| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { x },
            };
            Ok(map_values(vector_arg(ev, &args[0])?, |_, x| f(x)))
        }
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; ev.steps.len()])),
        name if calendar::FUNCTIONS.contains(&name) => {
            // Without an argument, of `vector(time())`.
            let v = match args.first() {
                Some(a) => vector_arg(ev, a)?,
                None => vec![StepSeries { labels: Labels::new(), values: ev.steps.iter().map(|t| Some(t as f64 / 1000.0)).collect() }],
            };
            Ok(map_values(v, |_, x| calendar::field(name, x)))
        }
        "round" => {
            let to = match args.get(1) {
                Some(a) => scalar_arg(ev, a)?,
                None => vec![1.0; ev.steps.len()],
            };
            // Prometheus's formula: ties round up (-2.5 to -2), and through the
            // inverse of the step, which it finds more accurate.
            Ok(map_values(vector_arg(ev, &args[0])?, |i, x| {
                let inverse = 1.0 / to[i];
                (x * inverse + 0.5).floor() / inverse
            }))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let v = vector_arg(ev, &args[0])?;
            let a = scalar_arg(ev, &args[1])?;
            let b = if name == "clamp" { scalar_arg(ev, &args[2])? } else { a.clone() };
            // As in Prometheus, `clamp` answers nothing where min > max.
            Ok(map_present(v, |i, x| match name {
                "clamp" if a[i] > b[i] => None,
                "clamp" => Some(go_min(go_max(x, a[i]), b[i])),
                "clamp_min" => Some(go_max(x, a[i])),
                _ => Some(go_min(x, a[i])),
            }))
        }
        "label_replace" => label_replace(ev, args),
        "label_join" => label_join(ev, args),
        "histogram_quantile" => {
            let q = scalar_arg(ev, &args[0])?;
            let v = vector_arg(ev, &args[1])?;
            Ok(Val::Vector(super::histogram::histogram_quantile(&q, v)))
        }
        "sort" | "sort_desc" => {
            let mut v = vector_arg(ev, &args[0])?;
            let key = |s: &StepSeries| s.values.first().copied().flatten().unwrap_or(f64::NAN);
            v.sort_by(|a, b| key(a).total_cmp(&key(b)));
            if name == "sort_desc" {
                v.reverse();
            }
            Ok(Val::Vector(v))
        }
        "timestamp" => match args[0].as_ref() {
            Expr::VectorSelector(vs) => {
                let out = ev
                    .series_of(vs)
                    .iter()
                    .filter_map(|s| {
                        let values: Vec<Option<f64>> = (0..ev.steps.len())
                            .map(|i| {
                                let t = ev.eval_time(i, &vs.at, &vs.offset);
                                let idx = s.samples.partition_point(|(ts, _)| *ts <= t);
                                (idx > 0).then(|| s.samples[idx - 1].0).filter(|ts| *ts > t - ev.lookback).map(|ts| ts as f64 / 1000.0)
                            })
                            .collect();
                        values.iter().any(Option::is_some).then(|| StepSeries { labels: drop_name(s.labels.clone()), values })
                    })
                    .collect();
                Ok(Val::Vector(out))
            }
            _ => Ok(map_values(vector_arg(ev, &args[0])?, |i, _| ev.steps.at(i) as f64 / 1000.0)),
        },
        other => Err(PromError::unsupported(&format!("function {other}()"))),
    }
}

/// A range-vector argument: its series, the length of its windows, and the
/// `@` and `offset` that place each step's window.
struct RangeArg<'e> {
    series: Cow<'e, [Series]>,
    range: i64,
    at: &'e Option<AtModifier>,
    offset: &'e Option<Offset>,
}

fn range_arg<'e>(ev: &'e Evaluator<'_>, e: Option<&'e Expr>, name: &str) -> Result<RangeArg<'e>, PromError> {
    match e {
        Some(Expr::MatrixSelector(ms)) => Ok(RangeArg {
            series: Cow::Borrowed(ev.series_of(&ms.vs)),
            range: ms.range.as_millis() as i64,
            at: &ms.vs.at,
            offset: &ms.vs.offset,
        }),
        Some(Expr::Paren(p)) => range_arg(ev, Some(&p.expr), name),
        Some(Expr::Subquery(sq)) => Ok(RangeArg {
            series: Cow::Owned(subquery_range_vector(ev, sq)?),
            range: sq.range.as_millis() as i64,
            at: &sq.at,
            offset: &sq.offset,
        }),
        _ => Err(PromError::bad_data(format!("{name}() expects a range vector such as x[5m] or a subquery such as x[1h:5m]"))),
    }
}

pub fn scalar_arg(ev: &Evaluator<'_>, e: &Expr) -> Result<Vec<f64>, PromError> {
    match ev.eval(e)? {
        Val::Scalar(s) => Ok(s),
        other => Err(PromError::bad_data(format!("expected a scalar, got a {}", other.type_name()))),
    }
}

pub fn vector_arg(ev: &Evaluator<'_>, e: &Expr) -> Result<Vec<StepSeries>, PromError> {
    match ev.eval(e)? {
        Val::Vector(v) => Ok(v),
        other => Err(PromError::bad_data(format!("expected an instant vector, got a {}", other.type_name()))),
    }
}

fn string_arg(e: &Expr) -> Result<String, PromError> {
    match e {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        Expr::Paren(p) => string_arg(&p.expr),
        _ => Err(PromError::bad_data("expected a string literal")),
    }
}

/// Applies `f(step, value)` to every value, dropping the metric name.
fn map_values(v: Vec<StepSeries>, f: impl Fn(usize, f64) -> f64) -> Val {
    map_present(v, |i, x| Some(f(i, x)))
}

/// The larger of two values, NaN if either is (Go's `math.Max`, which
/// Prometheus uses; Rust's `max` would ignore the NaN).
fn go_max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() { f64::NAN } else { x.max(y) }
}

/// The smaller of two values, NaN if either is (Go's `math.Min`).
fn go_min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() { f64::NAN } else { x.min(y) }
}

/// [`map_values`] where `f` may also leave a step without a sample.
fn map_present(v: Vec<StepSeries>, f: impl Fn(usize, f64) -> Option<f64>) -> Val {
    Val::Vector(
        v.into_iter()
            .map(|s| StepSeries {
                labels: drop_name(s.labels),
                values: s.values.into_iter().enumerate().map(|(i, x)| x.and_then(|x| f(i, x))).collect(),
            })
            .collect(),
    )
}

/// A function of range vectors, by `name`, with its scalar parameters per step.
fn range_function(ev: &Evaluator<'_>, name: &str, arg: RangeArg<'_>, params: &[Vec<f64>]) -> Result<Val, PromError> {
    let param = params.first();
    let range = arg.range;
    let mut out = Vec::new();
    for s in arg.series.iter() {
        let mut values = Vec::with_capacity(ev.steps.len());
        for i in 0..ev.steps.len() {
            let t = ev.eval_time(i, arg.at, arg.offset);
            let w = window(&s.samples, t, range);
            values.push(match name {
                "rate" => extrapolated_rate(w, t - range, t, true, true),
                "increase" => extrapolated_rate(w, t - range, t, true, false),
                "delta" => extrapolated_rate(w, t - range, t, false, false),
                "irate" => instant_delta(w, true),
                "idelta" => instant_delta(w, false),
                // Predicted from the step's own time, before its offset.
                "predict_linear" => predict_linear(w, ev.eval_time(i, arg.at, &None), param.map_or(0.0, |p| p[i])),
                "double_exponential_smoothing" => double_exponential_smoothing(w, params[0][i], params[1][i]),
                _ => over_time(name, w, param.map(|p| p[i]))?,
            });
        }
        if values.iter().any(Option::is_some) {
            let keep_name = name == "last_over_time";
            let labels = if keep_name { s.labels.clone() } else { drop_name(s.labels.clone()) };
            out.push(StepSeries { labels, values });
        }
    }
    Ok(Val::Vector(out))
}

/// 1 at steps where `v` has no value, with the labels of the selector's equality matchers.
fn absent(ev: &Evaluator<'_>, v: Val, matchers: &[promql_parser::label::Matcher]) -> Val {
    let Val::Vector(v) = v else { return Val::Vector(Vec::new()) };
    let values: Vec<Option<f64>> = (0..ev.steps.len()).map(|i| (!v.iter().any(|s| s.values[i].is_some())).then_some(1.0)).collect();
    if values.iter().all(Option::is_none) {
        return Val::Vector(Vec::new());
    }
    let mut labels = Labels::new();
    for m in matchers {
        if matches!(m.op, promql_parser::label::MatchOp::Equal) && m.name != METRIC_NAME {
            labels.insert(m.name.clone(), m.value.clone());
        }
    }
    Val::Vector(vec![StepSeries { labels, values }])
}

pub(super) fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn label_replace(ev: &Evaluator<'_>, args: &[Box<Expr>]) -> Result<Val, PromError> {
    let v = vector_arg(ev, &args[0])?;
    let (dst, repl, src, re) = (string_arg(&args[1])?, string_arg(&args[2])?, string_arg(&args[3])?, string_arg(&args[4])?);
    if !valid_label_name(&dst) {
        return Err(PromError::bad_data(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let regex = Regex::new(&format!("^(?s:{re})$")).map_err(|e| PromError::bad_data(format!("invalid regular expression in label_replace(): {e}")))?;
    let out = v
        .into_iter()
        .map(|mut s| {
            let value = s.labels.get(&src).cloned().unwrap_or_default();
            if let Some(caps) = regex.captures(&value) {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                if res.is_empty() {
                    s.labels.remove(&dst);
                } else {
                    s.labels.insert(dst.clone(), res);
                }
            }
            s
        })
        .collect();
    Ok(Val::Vector(out))
}

fn label_join(ev: &Evaluator<'_>, args: &[Box<Expr>]) -> Result<Val, PromError> {
    let v = vector_arg(ev, &args[0])?;
    let (dst, sep) = (string_arg(&args[1])?, string_arg(&args[2])?);
    if !valid_label_name(&dst) {
        return Err(PromError::bad_data(format!("invalid destination label name in label_join(): {dst}")));
    }
    let srcs: Vec<String> = args[3..].iter().map(|a| string_arg(a)).collect::<Result<_, _>>()?;
    let out = v
        .into_iter()
        .map(|mut s| {
            let joined: Vec<String> = srcs.iter().map(|l| s.labels.get(l).cloned().unwrap_or_default()).collect();
            let joined = joined.join(&sep);
            if joined.is_empty() {
                s.labels.remove(&dst);
            } else {
                s.labels.insert(dst.clone(), joined);
            }
            s
        })
        .collect();
    Ok(Val::Vector(out))
}
