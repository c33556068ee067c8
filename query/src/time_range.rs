//! The time range a query's filters allow on a table's time column, so that only
//! the hour partitions overlapping it are opened.

use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

/// `[lo, hi]` in ns since the epoch; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

impl TimeRange {
    /// Narrows the range by every conjunct of `filters` that compares `column`
    /// with a timestamp literal. Anything else is left to DataFusion.
    pub fn from_filters(filters: &[Expr], column: &str) -> Self {
        let mut r = TimeRange::default();
        for f in filters {
            r.narrow(f, column);
        }
        r
    }

    fn narrow(&mut self, e: &Expr, column: &str) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
                self.narrow(left, column);
                self.narrow(right, column);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, v) = match (is_column(left, column), is_column(right, column)) {
                    (true, false) => (*op, literal_ns(right)),
                    (false, true) => (op.swap().unwrap_or(*op), literal_ns(left)),
                    _ => return,
                };
                let Some(v) = v else { return };
                // Bounds are kept inclusive: `> v` is `>= v + 1` in whole nanoseconds.
                match op {
                    Operator::Gt => self.raise_lo(v.saturating_add(1)),
                    Operator::GtEq => self.raise_lo(v),
                    Operator::Lt => self.lower_hi(v.saturating_sub(1)),
                    Operator::LtEq => self.lower_hi(v),
                    Operator::Eq => {
                        self.raise_lo(v);
                        self.lower_hi(v);
                    }
                    _ => {}
                }
            }
            Expr::Between(b) if !b.negated && is_column(&b.expr, column) => {
                if let Some(v) = literal_ns(&b.low) {
                    self.raise_lo(v);
                }
                if let Some(v) = literal_ns(&b.high) {
                    self.lower_hi(v);
                }
            }
            _ => {}
        }
    }

    fn raise_lo(&mut self, v: i64) {
        self.lo = Some(self.lo.map_or(v, |lo| lo.max(v)));
    }

    fn lower_hi(&mut self, v: i64) {
        self.hi = Some(self.hi.map_or(v, |hi| hi.min(v)));
    }

    /// Whether `[start, end)` overlaps the range.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.lo.is_none_or(|lo| end > lo) && self.hi.is_none_or(|hi| start <= hi)
    }
}

fn is_column(e: &Expr, column: &str) -> bool {
    match e {
        Expr::Column(c) => c.name == column,
        Expr::Cast(c) => is_column(&c.expr, column),
        Expr::TryCast(c) => is_column(&c.expr, column),
        _ => false,
    }
}

fn literal_ns(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(v), Some("UTC".into())))
    }

    #[test]
    fn conjuncts_narrow_the_range() {
        let f = col("timestamp").gt_eq(ts(100)).and(col("timestamp").lt(ts(500))).and(col("server").eq(lit("x")));
        let r = TimeRange::from_filters(&[f, ts(200).lt(col("timestamp"))], "timestamp");
        assert_eq!(r, TimeRange { lo: Some(201), hi: Some(499) });
        assert!(r.overlaps(400, 600) && !r.overlaps(600, 700) && !r.overlaps(0, 201) && !r.overlaps(499 + 1, 600));
    }

    #[test]
    fn disjunctions_leave_it_open() {
        let f = col("timestamp").gt(ts(100)).or(col("server").eq(lit("x")));
        assert_eq!(TimeRange::from_filters(&[f], "timestamp"), TimeRange::default());
    }
}
