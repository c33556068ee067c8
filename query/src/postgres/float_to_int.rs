//! Casts from a float to an integer round as PostgreSQL rounds them: to the
//! nearest integer, ties to even (`rint`), where Arrow's cast truncates. So
//! `avg(duration_ms)::int` of 179.6 is 180, as PostgreSQL answers, not 179,
//! and `2.5::int` is 2. An analyzer rule of the sessions that run user SQL
//! (after type coercion) rounds the float before the cast; the column keeps
//! the name it had.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ExprSchema};
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::scalar::ScalarValue;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct FloatToIntRounds;

impl AnalyzerRule for FloatToIntRounds {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let round = Arc::new(ScalarUDF::from(RoundTiesEven::new()));
        plan.transform_up_with_subqueries(|plan| {
            let schema: Arc<DFSchema> =
                if plan.inputs().is_empty() { Arc::clone(plan.schema()) } else { Arc::new(merge_schema(&plan.inputs())) };
            let names = NamePreserver::new(&plan);
            let rewritten = plan.map_expressions(|expr| {
                let name = names.save(&expr);
                let rewritten = expr.transform_up(|e| round_before_cast(e, schema.as_ref(), &round))?;
                Ok(rewritten.update_data(|e| name.restore(e)))
            })?;
            if !rewritten.transformed {
                return Ok(rewritten);
            }
            rewritten.map_data(|p| p.recompute_schema()).map(|t| Transformed::yes(t.data))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "float_to_int_rounds"
    }
}

fn from_float_to_integer(from: &DataType, to: &DataType) -> bool {
    from.is_floating() && to.is_integer()
}

fn round_before_cast(expr: Expr, schema: &dyn ExprSchema, round: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
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
struct RoundTiesEven {
    signature: Signature,
}

impl RoundTiesEven {
    fn new() -> Self {
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
