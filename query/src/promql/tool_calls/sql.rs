//! Turning a selection into a DataFusion query: which table can answer it, its
//! label matchers as predicates, and the grouping and sums it needs.

use std::collections::BTreeSet;

use datafusion::execution::FunctionRegistry;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, Operator, binary_expr, col, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::scalar::ScalarValue;
use promql_parser::label::{MatchOp, Matcher};
use toolpulse_schemas::rollup_schema::{LATENCY_BUCKETS_SECONDS, bucket_column};

use crate::promql::PromError;

/// Where a selection's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Rollups,
    AgentRollups,
    Raw,
}

impl Source {
    /// The smallest table holding every label in `needed` (and buckets when asked).
    pub fn for_labels(needed: &BTreeSet<String>, buckets: bool) -> Source {
        let within = |allowed: &[&str]| needed.iter().all(|l| allowed.contains(&l.as_str()));
        if within(&["server", "tool", "outcome", "server_version"]) {
            Source::Rollups
        } else if !buckets && within(&["server", "agent", "tenant", "outcome"]) {
            Source::AgentRollups
        } else {
            Source::Raw
        }
    }

    fn table(self) -> &'static str {
        match self {
            Source::Rollups => "rollups_1m",
            Source::AgentRollups => "rollups_agents_1m",
            Source::Raw => "tool_calls",
        }
    }

    fn time_column(self) -> &'static str {
        if self == Source::Raw { "timestamp" } else { "minute" }
    }
}

/// The column behind a label.
pub fn column(label: &str) -> &str {
    if label == "agent" { "agent_id" } else { label }
}

fn ts(ms: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(ms * 1_000_000), Some("UTC".into())))
}

/// A matcher as a predicate; a missing (null) label value is the empty string.
fn predicate(m: &Matcher) -> Expr {
    let c = datafusion::functions::core::expr_fn::coalesce(vec![col(column(&m.name)), lit("")]);
    match &m.op {
        MatchOp::Equal => c.eq(lit(m.value.clone())),
        MatchOp::NotEqual => c.not_eq(lit(m.value.clone())),
        MatchOp::Re(_) => binary_expr(c, Operator::RegexMatch, lit(format!("^(?:{})$", m.value))),
        MatchOp::NotRe(_) => binary_expr(c, Operator::RegexNotMatch, lit(format!("^(?:{})$", m.value))),
    }
}

/// Rows of `source` for minutes `[from_minute, to_minute)` passing `matchers`
/// (those on labels the table has), grouped by minute and `keep` columns.
pub async fn grouped(
    ctx: &SessionContext,
    source: Source,
    from_minute: i64,
    to_minute: i64,
    matchers: &[&Matcher],
    keep: &[&str],
    want: Want,
) -> Result<DataFrame, PromError> {
    let tc = source.time_column();
    let mut df = ctx
        .table(source.table())
        .await?
        .filter(col(tc).gt_eq(ts(from_minute * 60_000)).and(col(tc).lt(ts(to_minute * 60_000))))?;
    for m in matchers {
        df = df.filter(predicate(m))?;
    }
    let minute = if source == Source::Raw {
        datafusion::functions::datetime::expr_fn::date_trunc(lit("minute"), col("timestamp"))
    } else {
        col("minute")
    };
    let mut group = vec![minute.alias("minute")];
    group.extend(keep.iter().map(|l| col(column(l)).alias(*l)));
    let raw = source == Source::Raw;
    let mut aggs = vec![if raw { count(lit(1)).alias("calls") } else { sum(col("calls")).alias("calls") }];
    match want {
        Want::Calls => {}
        Want::Sum => aggs.push(sum(col(if raw { "duration_ms" } else { "duration_ms_sum" })).alias("duration_ms_sum")),
        Want::Buckets => {
            for (i, bound) in LATENCY_BUCKETS_SECONDS.iter().enumerate() {
                let agg = if raw {
                    sum(datafusion::logical_expr::when(col("duration_ms").lt_eq(lit(bound * 1000.0)), lit(1u64)).otherwise(lit(0u64))?)
                } else {
                    sum(col(bucket_column(i)))
                };
                aggs.push(agg.alias(bucket_column(i)));
            }
        }
        Want::Histogram => {
            let merge = ctx.udaf(if raw { "hdr_histogram" } else { "hdr_merge" })?;
            aggs.push(merge.call(vec![col(if raw { "duration_ms" } else { "duration_hist" })]).alias("hist"));
        }
    }
    Ok(df.aggregate(group, aggs)?)
}

/// The distinct values of `keep` among rows of `[from_ms, to_ms]` passing `matchers`.
pub async fn distinct(
    ctx: &SessionContext,
    source: Source,
    from_ms: i64,
    to_ms: i64,
    matchers: &[&Matcher],
    keep: &[&str],
) -> Result<DataFrame, PromError> {
    let tc = source.time_column();
    // Rollup rows are stamped with the start of their minute.
    let from = if source == Source::Raw { from_ms } else { from_ms.div_euclid(60_000) * 60_000 - 60_000 };
    let mut df = ctx.table(source.table()).await?.filter(col(tc).gt_eq(ts(from)).and(col(tc).lt_eq(ts(to_ms))))?;
    for m in matchers {
        df = df.filter(predicate(m))?;
    }
    let group: Vec<Expr> = keep.iter().map(|l| col(column(l)).alias(*l)).collect();
    Ok(df.aggregate(group, vec![])?)
}

/// What to sum per minute besides the call count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Calls,
    Sum,
    Buckets,
    Histogram,
}
