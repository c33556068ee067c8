//! Evaluation of a parsed PromQL expression over the steps of a query, in two
//! phases: [`plan`] walks the expression once to find every selector, the time
//! range it needs and the labels the query keeps of it (so sources can merge
//! series early); the selections are fetched; then [`Evaluator`] computes each
//! node for all steps at once (a value per series per step).
//!
//! Semantics follow Prometheus 3: an instant selector takes the latest sample
//! in `(t - lookback, t]`, a range selector the samples in `(t - range, t]`,
//! both shifted by `offset`; steps run `start, start + step, …, ≤ end`; a
//! subquery evaluates its expression at multiples of its step ([`subquery`]).

mod aggregate;
mod binary;
mod calendar;
mod functions;
mod histogram;
mod plan;
mod range;
mod subquery;

use std::collections::HashMap;

use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

pub use plan::{Fetch, plan};
pub use range::window as range_window;
pub use subquery::range_vector as subquery_range_vector;

use super::PromError;
use super::value::{Series, StepSeries, Steps, Val, drop_name};

/// A selector's identity within one parsed expression.
pub type NodeKey = usize;

pub fn node_key(vs: &VectorSelector) -> NodeKey {
    vs as *const VectorSelector as usize
}

/// Evaluates nodes once their selections are fetched.
pub struct Evaluator<'a> {
    pub steps: &'a Steps,
    /// The query's own start and end (what `@ start()` and `@ end()` name,
    /// also inside a subquery, whose steps differ).
    pub bounds: (i64, i64),
    pub lookback: i64,
    pub data: &'a HashMap<NodeKey, Vec<Series>>,
}

/// Signed offset in ms (positive looks back).
pub fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
        None => 0,
    }
}

/// The time a node with `at` and `offset` is evaluated at for the step at `t`,
/// in a query running from `bounds.0` to `bounds.1`.
pub fn node_time(t: i64, at: &Option<AtModifier>, offset: &Option<Offset>, bounds: (i64, i64)) -> i64 {
    let t = match at {
        Some(AtModifier::Start) => bounds.0,
        Some(AtModifier::End) => bounds.1,
        Some(AtModifier::At(st)) => {
            st.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_else(|e| -(e.duration().as_millis() as i64))
        }
        None => t,
    };
    t - offset_ms(offset)
}

impl Evaluator<'_> {
    pub fn eval(&self, e: &Expr) -> Result<Val, PromError> {
        let n = self.steps.len();
        match e {
            Expr::NumberLiteral(l) => Ok(Val::Scalar(vec![l.val; n])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(v) => Ok(Val::Vector(
                    v.into_iter()
                        .map(|s| StepSeries { labels: drop_name(s.labels), values: s.values.into_iter().map(|x| x.map(|x| -x)).collect() })
                        .collect(),
                )),
                Val::String(_) => Err(PromError::bad_data("unary minus on a string")),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.instant_selector(vs))),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => Err(PromError::bad_data(
                "a range vector is only allowed as a function argument (or as the whole of an instant query)",
            )),
            Expr::Call(c) => functions::call(self, c),
            Expr::Aggregate(a) => aggregate::eval(self, a),
            Expr::Binary(b) => binary::eval(self, b),
            Expr::Extension(_) => Err(PromError::unsupported("extension expressions")),
        }
    }

    /// The evaluation time of step `i` for a selector (its `@` and `offset` applied).
    pub fn eval_time(&self, i: usize, at: &Option<AtModifier>, offset: &Option<Offset>) -> i64 {
        node_time(self.steps.at(i), at, offset, self.bounds)
    }

    pub fn series_of(&self, vs: &VectorSelector) -> &[Series] {
        self.data.get(&node_key(vs)).map_or(&[], Vec::as_slice)
    }

    /// Latest sample in `(t - lookback, t]` per step.
    fn instant_selector(&self, vs: &VectorSelector) -> Vec<StepSeries> {
        self.series_of(vs)
            .iter()
            .filter_map(|s| {
                let values: Vec<Option<f64>> = (0..self.steps.len())
                    .map(|i| {
                        let t = self.eval_time(i, &vs.at, &vs.offset);
                        let idx = s.samples.partition_point(|(ts, _)| *ts <= t);
                        (idx > 0).then(|| s.samples[idx - 1]).filter(|(ts, _)| *ts > t - self.lookback).map(|(_, v)| v)
                    })
                    .collect();
                values.iter().any(Option::is_some).then(|| StepSeries { labels: s.labels.clone(), values })
            })
            .collect()
    }
}
