//! Casts from a float to an integer round as PostgreSQL rounds them: to the
//! nearest integer, ties to even (`rint`), where Arrow's cast truncates. So
//! `avg(duration_ms)::int` of 179.6 is 180, as PostgreSQL answers, not 179,
//! and `2.5::int` is 2: the float is rounded before the cast.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::ExprSchema;
use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::{ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::scalar::ScalarValue;

fn from_float_to_integer(from: &DataType, to: &DataType) -> bool {
    from.is_floating() && to.is_integer()
}

pub(super) fn round_before_cast(expr: Expr, schema: &dyn ExprSchema, round: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
    let rounded = |inner: Box<Expr>| Box::new(round.call(vec![Expr::Cast(Cast::new(inner, DataType::Float64))]));
    Ok(match expr {
        Expr::Cast(Cast { expr, field }) if from_float_to_integer(&expr.get_type(schema)?, field.data_type()) => {
            Transformed::yes(Expr::Cast(Cast { expr: rounded(expr), field }))
        }
        Expr::TryCast(TryCast { expr, field }) if from_float_to_integer(&expr.get_type(schema)?, field.data_type()) => {
            Transformed::yes(Expr::TryCast(TryCast { expr: rounded(expr), field }))
        }
        other => Transformed::no(other),
    })
}

/// A double rounded to the nearest integer, ties to even.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct RoundTiesEven {
    signature: Signature,
}

impl RoundTiesEven {
    pub(super) fn new() -> Self {
        Self { signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for RoundTiesEven {
    fn name(&self) -> &str {
        "round_ties_even"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Float64(v)) => ColumnarValue::Scalar(ScalarValue::Float64(v.map(f64::round_ties_even))),
            ColumnarValue::Scalar(other) => ColumnarValue::Scalar(other.clone()),
            ColumnarValue::Array(a) => {
                let rounded: Float64Array = a.as_primitive::<Float64Type>().unary(f64::round_ties_even);
                ColumnarValue::Array(Arc::new(rounded) as ArrayRef)
            }
        })
    }
}
