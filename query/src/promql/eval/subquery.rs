//! Subqueries, `expr[range:step]`: the inner expression evaluated as an
//! instant query would be, at the multiples of `step` (counted from the Unix
//! epoch, as Prometheus aligns them) that fall in an outer step's window
//! `(t - range, t]`; those values are the range vector of the function around
//! the subquery.

use promql_parser::parser::SubqueryExpr;

use super::{Evaluator, node_time};
use crate::promql::PromError;
use crate::promql::value::{Series, Steps, Val};

/// The resolution of a subquery that names none: Prometheus's default global
/// evaluation interval.
pub const DEFAULT_STEP_MS: i64 = 60_000;

/// The steps at which the inner expression of `sq` is evaluated, for a query
/// over `steps` running from `bounds.0` to `bounds.1`: the multiples of its
/// step from the start of the first step's window to the end of the last's;
/// `None` when no multiple falls in between.
pub fn inner_steps(sq: &SubqueryExpr, steps: &Steps, bounds: (i64, i64)) -> Option<Steps> {
    let step = sq.step.map_or(DEFAULT_STEP_MS, |d| d.as_millis() as i64).max(1);
    let range = sq.range.as_millis() as i64;
    let (first, last) = (node_time(steps.start, &sq.at, &sq.offset, bounds), node_time(steps.last(), &sq.at, &sq.offset, bounds));
    let (from, to) = (first.min(last) - range, first.max(last));
    let aligned = from.div_euclid(step) * step;
    let start = if aligned < from { aligned + step } else { aligned };
    (start <= to).then_some(Steps { start, end: to, step })
}

/// The range vector of `sq` over all steps of `ev`: each series of the inner
/// expression, with its values at the inner steps as samples. A function
/// takes each outer step's window of them.
pub fn range_vector(ev: &Evaluator<'_>, sq: &SubqueryExpr) -> Result<Vec<Series>, PromError> {
    let Some(steps) = inner_steps(sq, ev.steps, ev.bounds) else { return Ok(Vec::new()) };
    let inner = Evaluator { steps: &steps, bounds: ev.bounds, lookback: ev.lookback, data: ev.data };
    match inner.eval(&sq.expr)? {
        Val::Vector(v) => Ok(v
            .into_iter()
            .map(|s| {
                let samples = s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (steps.at(i), v))).collect();
                Series { labels: s.labels, samples }
            })
            .collect()),
        other => Err(PromError::bad_data(format!("subquery is only allowed on an instant vector, got a {} instead", other.type_name()))),
    }
}

#[cfg(test)]
mod tests {
    use promql_parser::parser::{Expr, parse};

    use super::*;

    fn subquery(q: &str) -> SubqueryExpr {
        match parse(q).unwrap() {
            Expr::Subquery(sq) => sq,
            other => panic!("{q} is not a subquery: {other:?}"),
        }
    }

    #[test]
    fn inner_steps_are_multiples_of_the_step_within_every_window() {
        // Steps at 1000 s and 1030 s, a 5m window at 1m: multiples of 60 s
        // from 700 s (the first window's start) to 1030 s.
        let outer = Steps { start: 1_000_000, end: 1_030_000, step: 30_000 };
        let s = inner_steps(&subquery("x[5m:1m]"), &outer, (outer.start, outer.end)).unwrap();
        assert_eq!((s.start, s.step, s.iter().last()), (720_000, 60_000, Some(1_020_000)));
        // An offset moves the windows back; an `@` pins them to one time.
        let s = inner_steps(&subquery("x[5m:1m] offset 10m"), &outer, (outer.start, outer.end)).unwrap();
        assert_eq!((s.start, s.iter().last()), (120_000, Some(420_000)));
        let s = inner_steps(&subquery("x[2m:1m] @ 600"), &outer, (outer.start, outer.end)).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [480_000, 540_000, 600_000]);
        // Without a step, Prometheus's default evaluation interval (1m).
        assert_eq!(inner_steps(&subquery("x[3m:]"), &outer, (outer.start, outer.end)).unwrap().step, 60_000);
        // A window shorter than the step may hold no multiple at all.
        let one = Steps::instant(1_050_000);
        assert_eq!(inner_steps(&subquery("x[10s:1m]"), &one, (one.start, one.end)), None);
    }
}
