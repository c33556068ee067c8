//! PostgreSQL's ordered-set aggregates that DataFusion lacks, so that SQL
//! written for PostgreSQL (psql, Grafana's PostgreSQL data source) runs as it is:
//!
//! - `percentile_disc(f) WITHIN GROUP (ORDER BY x)`: the first value whose
//!   position in the ordering reaches the fraction `f` of the rows, an exact
//!   percentile that is one of the values (DataFusion's own `percentile_cont`
//!   interpolates between two); with an array of fractions
//!   (`ARRAY[0.5, 0.99, 0.999]`), an array of them from one sort;
//! - `mode() WITHIN GROUP (ORDER BY x)`: the most frequent value, the first in
//!   the ordering among equally frequent ones.
//!
//! As in PostgreSQL, both take any sortable type (numbers, timestamps, text),
//! skip NULLs, follow the direction of the ordering, and keep a group's values
//! in memory until the end (so they count against the query's memory limit).
//! `percentile_disc(x, f)`, without `WITHIN GROUP`, is the ascending form.

mod gathered;

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Signature, Volatility};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use gathered::{Gathered, Pick};

/// Registers `percentile_disc` and `mode`.
pub fn register(ctx: &SessionContext) {
    for kind in [Kind::PercentileDisc, Kind::Mode] {
        ctx.register_udaf(AggregateUDF::from(OrderedSetAggregate::new(kind)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PercentileDisc,
    Mode,
}

/// One of the ordered-set aggregates.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OrderedSetAggregate {
    kind: Kind,
    signature: Signature,
}

impl OrderedSetAggregate {
    fn new(kind: Kind) -> Self {
        // `WITHIN GROUP (ORDER BY x)` arrives as a first argument `x`.
        let arguments = match kind {
            Kind::PercentileDisc => 2,
            Kind::Mode => 1,
        };
        Self { kind, signature: Signature::any(arguments, Volatility::Immutable) }
    }

    /// The fractions of a `percentile_disc`: one constant, or an array of them
    /// (`ARRAY[0.5, 0.99]`, answered by an array), each within 0 and 1 or NULL
    /// (whose answer is NULL, as in PostgreSQL).
    fn fractions(args: &AccumulatorArgs) -> Result<Pick> {
        // A constant evaluates without input rows; a column cannot.
        let no_rows = RecordBatch::new_empty(Arc::new(Schema::empty()));
        let constant = match args.exprs.get(1).map(|e| e.evaluate(&no_rows)) {
            Some(Ok(ColumnarValue::Scalar(value))) => value,
            _ => return Err(DataFusionError::Plan("percentile_disc: the fraction must be a constant".into())),
        };
        let checked = |value: ScalarValue| match value.cast_to(&DataType::Float64)? {
            ScalarValue::Float64(Some(f)) if (0.0..=1.0).contains(&f) => Ok(Some(f)),
            ScalarValue::Float64(Some(f)) => {
                Err(DataFusionError::Plan(format!("percentile_disc: percentile value {f} is not between 0 and 1")))
            }
            _ => Ok(None),
        };
        match constant {
            ScalarValue::List(list) if !list.is_null(0) => {
                let items = list.value(0);
                (0..items.len()).map(|i| checked(ScalarValue::try_from_array(&items, i)?)).collect::<Result<_>>().map(Pick::Fractions)
            }
            other => checked(other).map(Pick::Fraction),
        }
    }
}

/// Whether `percentile_disc` was given an array of fractions.
fn is_array(fraction: Option<&DataType>) -> bool {
    matches!(fraction, Some(DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)))
}

impl AggregateUDFImpl for OrderedSetAggregate {
    fn name(&self) -> &str {
        match self.kind {
            Kind::PercentileDisc => "percentile_disc",
            Kind::Mode => "mode",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if is_array(args.get(1)) {
            return Ok(DataType::List(Arc::new(Field::new_list_field(args[0].clone(), true))));
        }
        Ok(args[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let pick = match self.kind {
            Kind::PercentileDisc => Self::fractions(&args)?,
            Kind::Mode => Pick::Mode,
        };
        let descending = args.order_bys.first().is_some_and(|s| s.options.descending);
        Ok(Box::new(Gathered::new(args.expr_fields[0].data_type().clone(), descending, pick)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let values = Field::new_list_field(args.input_fields[0].data_type().clone(), true);
        Ok(vec![Field::new(format!("{}[values]", args.name), DataType::List(Arc::new(values)), true).into()])
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    /// The accumulator sorts a group's values itself, in the direction it is
    /// given: the rows need not arrive in order.
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

#[cfg(test)]
mod tests;
