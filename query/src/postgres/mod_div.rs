//! `mod(y, x)` and `div(y, x)`, PostgreSQL's names for the remainder (with the
//! sign of `y`) and the quotient truncated toward zero. They become the
//! operators themselves when planned: `y % x`, and `y / x` for integers or
//! `trunc(y / x)` for other numbers.

use datafusion::common::types::{NativeType, logical_float64, logical_int64};
use datafusion::error::{DataFusionError, Result};
use datafusion::functions::math::trunc;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, TypeSignatureClass, Volatility,
};
use datafusion::arrow::datatypes::DataType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Operation {
    Mod,
    Div,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct ModDiv {
    operation: Operation,
    signature: Signature,
}

impl ModDiv {
    pub(super) fn new(operation: Operation) -> Self {
        // Both integers (as BIGINT), or else both doubles.
        let integer = || Coercion::new_implicit(TypeSignatureClass::Native(logical_int64()), vec![TypeSignatureClass::Integer], NativeType::Int64);
        let number = || Coercion::new_implicit(TypeSignatureClass::Native(logical_float64()), vec![TypeSignatureClass::Numeric], NativeType::Float64);
        let signature = Signature::one_of(
            vec![TypeSignature::Coercible(vec![integer(), integer()]), TypeSignature::Coercible(vec![number(), number()])],
            Volatility::Immutable,
        );
        Self { operation, signature }
    }
}

impl ScalarUDFImpl for ModDiv {
    fn name(&self) -> &str {
        match self.operation {
            Operation::Mod => "mod",
            Operation::Div => "div",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let [y, x]: [Expr; 2] = args.try_into().map_err(|_| DataFusionError::Plan(format!("{} takes two numbers", self.name())))?;
        let integers = info.get_data_type(&y)?.is_integer();
        Ok(ExprSimplifyResult::Simplified(match self.operation {
            Operation::Mod => y % x,
            Operation::Div if integers => y / x,
            Operation::Div => trunc().call(vec![y / x]),
        }))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Internal(format!("{} is planned as an operator", self.name())))
    }
}
