//! `width_bucket(operand, low, high, count)`: which of `count` equal-width
//! buckets between `low` and `high` holds the operand, 0 below the range and
//! `count + 1` above it (the last bucket excludes `high`); with `low > high`
//! the buckets count down. PostgreSQL's float form, computed as it computes it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Builder};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::types::{NativeType, logical_float64, logical_int64};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignatureClass, Volatility,
};
use datafusion::scalar::ScalarValue;

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct WidthBucket {
    signature: Signature,
}

impl WidthBucket {
    pub(super) fn new() -> Self {
        let float = || Coercion::new_implicit(TypeSignatureClass::Native(logical_float64()), vec![TypeSignatureClass::Numeric], NativeType::Float64);
        let count = Coercion::new_implicit(TypeSignatureClass::Native(logical_int64()), vec![TypeSignatureClass::Integer], NativeType::Int64);
        Self { signature: Signature::coercible(vec![float(), float(), float(), count], Volatility::Immutable) }
    }
}

/// The bucket of `operand`, or why there is none.
fn bucket(operand: f64, low: f64, high: f64, count: i64) -> Result<i32, &'static str> {
    if count <= 0 || count >= i64::from(i32::MAX) {
        return Err("count must be greater than zero and below 2147483647");
    }
    if operand.is_nan() || low.is_nan() || high.is_nan() {
        return Err("operand, lower bound, and upper bound cannot be NaN");
    }
    if !low.is_finite() || !high.is_finite() {
        return Err("lower and upper bounds must be finite");
    }
    // In PostgreSQL's order: the fraction of the range times the count,
    // truncated, kept below the count where the quotient rounds to 1.
    let within = |fraction: f64| (((count as f64) * fraction) as i64).min(count - 1) as i32 + 1;
    let count = count as i32;
    Ok(match low.partial_cmp(&high) {
        Some(std::cmp::Ordering::Less) if operand < low => 0,
        Some(std::cmp::Ordering::Less) if operand >= high => count + 1,
        Some(std::cmp::Ordering::Less) => within((operand - low) / (high - low)),
        Some(std::cmp::Ordering::Greater) if operand > low => 0,
        Some(std::cmp::Ordering::Greater) if operand <= high => count + 1,
        Some(std::cmp::Ordering::Greater) => within((low - operand) / (low - high)),
        _ => return Err("lower bound cannot equal upper bound"),
    })
}

impl ScalarUDFImpl for WidthBucket {
    fn name(&self) -> &str {
        "width_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [operand, low, high] = [0, 1, 2].map(|i| arrays[i].as_primitive::<Float64Type>());
        let count = arrays[3].as_primitive::<Int64Type>();
        let mut out = Int32Builder::with_capacity(operand.len());
        for i in 0..operand.len() {
            if operand.is_null(i) || low.is_null(i) || high.is_null(i) || count.is_null(i) {
                out.append_null();
                continue;
            }
            let b = bucket(operand.value(i), low.value(i), high.value(i), count.value(i))
                .map_err(|reason| DataFusionError::Execution(format!("width_bucket: {reason}")))?;
            out.append_value(b);
        }
        let out: ArrayRef = Arc::new(out.finish());
        if scalar { ScalarValue::try_from_array(&out, 0).map(ColumnarValue::Scalar) } else { Ok(ColumnarValue::Array(out)) }
    }
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_as_postgresql_numbers_them() {
        // PostgreSQL's own examples, and the edges.
        assert_eq!(bucket(5.35, 0.024, 10.06, 5), Ok(3));
        assert_eq!(bucket(-1.0, 0.0, 10.0, 5), Ok(0));
        assert_eq!(bucket(0.0, 0.0, 10.0, 5), Ok(1));
        assert_eq!(bucket(9.999, 0.0, 10.0, 5), Ok(5));
        assert_eq!(bucket(10.0, 0.0, 10.0, 5), Ok(6));
        assert_eq!(bucket(8.0, 10.0, 0.0, 5), Ok(2));
        assert_eq!(bucket(10.0, 10.0, 0.0, 5), Ok(1));
        assert_eq!(bucket(0.0, 10.0, 0.0, 5), Ok(6));
        assert!(bucket(1.0, 2.0, 2.0, 5).is_err());
        assert!(bucket(1.0, 0.0, 2.0, 0).is_err());
        assert!(bucket(f64::NAN, 0.0, 2.0, 3).is_err());
    }
}
