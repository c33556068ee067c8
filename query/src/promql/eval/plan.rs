//! Phase one: every selector of an expression, the time range of samples it
//! needs over the query's steps, and the labels the query keeps of it.
//!
//! A selector under `sum by (…)` (directly, or through functions that are
//! linear in their input: `rate`, `increase`, `irate`, `delta`, `idelta`,
//! `sum_over_time`, unary minus, parentheses) only needs the labels the sum
//! keeps, so its source may sum series that agree on them before evaluation.

use std::collections::BTreeSet;

use promql_parser::label::Matcher;
use promql_parser::parser::token::T_SUM;
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};

use super::subquery::inner_steps;
use super::{NodeKey, node_key, node_time};
use crate::promql::PromError;
use crate::promql::source::Projection;
use crate::promql::value::{METRIC_NAME, Steps};

/// What one selector needs.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub key: NodeKey,
    /// The selector's metric name, if written as a name.
    pub name: Option<String>,
    /// Matchers on `__name__`.
    pub name_matchers: Vec<Matcher>,
    /// Matchers on other labels.
    pub matchers: Vec<Matcher>,
    pub start: i64,
    pub end: i64,
    pub projection: Projection,
}

const LINEAR_RANGE_FUNCTIONS: [&str; 6] = ["rate", "increase", "irate", "delta", "idelta", "sum_over_time"];

/// The selections `e` needs over `steps`.
pub fn plan(e: &Expr, steps: &Steps, lookback: i64) -> Result<Vec<Fetch>, PromError> {
    let mut out = Vec::new();
    let query = Query { bounds: (steps.start, steps.end), lookback };
    query.walk(e, Projection::All, steps, &mut out)?;
    Ok(out)
}

/// What holds for every node of one query.
struct Query {
    /// The query's start and end (`@ start()`, `@ end()`).
    bounds: (i64, i64),
    lookback: i64,
}

impl Query {
    /// The selections of `e`, evaluated at `steps` (the query's, or a subquery's).
    fn walk(&self, e: &Expr, hint: Projection, steps: &Steps, out: &mut Vec<Fetch>) -> Result<(), PromError> {
        match e {
            Expr::Paren(p) => self.walk(&p.expr, hint, steps, out),
            Expr::Unary(u) => self.walk(&u.expr, hint, steps, out),
            Expr::VectorSelector(vs) => {
                out.push(self.fetch(vs, 0, self.lookback, hint, steps)?);
                Ok(())
            }
            Expr::MatrixSelector(ms) => {
                out.push(self.fetch(&ms.vs, ms.range.as_millis() as i64, 0, hint, steps)?);
                Ok(())
            }
            Expr::Aggregate(a) => {
                let child = if a.op.id() == T_SUM {
                    match &a.modifier {
                        Some(LabelModifier::Include(l)) => Projection::Keep(l.labels.iter().cloned().collect()),
                        Some(LabelModifier::Exclude(l)) => Projection::Drop(l.labels.iter().cloned().collect()),
                        None => Projection::Keep(BTreeSet::new()),
                    }
                } else {
                    Projection::All
                };
                if let Some(p) = &a.param {
                    self.walk(p, Projection::All, steps, out)?;
                }
                self.walk(&a.expr, child, steps, out)
            }
            Expr::Call(c) => {
                let linear = LINEAR_RANGE_FUNCTIONS.contains(&c.func.name);
                for arg in &c.args.args {
                    let h = if linear { hint.clone() } else { Projection::All };
                    self.walk(arg, h, steps, out)?;
                }
                Ok(())
            }
            Expr::Binary(b) => {
                self.walk(&b.lhs, Projection::All, steps, out)?;
                self.walk(&b.rhs, Projection::All, steps, out)
            }
            Expr::Subquery(sq) => match inner_steps(sq, steps, self.bounds) {
                Some(inner) => self.walk(&sq.expr, Projection::All, &inner, out),
                None => Ok(()),
            },
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::Extension(_) => Err(PromError::unsupported("extension expressions")),
        }
    }

    fn fetch(&self, vs: &VectorSelector, range: i64, lookback: i64, projection: Projection, steps: &Steps) -> Result<Fetch, PromError> {
        if !vs.matchers.or_matchers.is_empty() {
            return Err(PromError::unsupported("`or` inside label matchers"));
        }
        let (first, last) = (node_time(steps.start, &vs.at, &vs.offset, self.bounds), node_time(steps.last(), &vs.at, &vs.offset, self.bounds));
        let (mut name_matchers, mut matchers) = (Vec::new(), Vec::new());
        for m in &vs.matchers.matchers {
            if m.name == METRIC_NAME { name_matchers.push(m.clone()) } else { matchers.push(m.clone()) }
        }
        Ok(Fetch {
            key: node_key(vs),
            name: vs.name.clone(),
            name_matchers,
            matchers,
            start: first.min(last) - range.max(lookback),
            end: first.max(last),
            projection,
        })
    }
}
