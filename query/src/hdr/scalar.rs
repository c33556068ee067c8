//! `hdr_quantile(hist, q)`: the q-quantile (ms) of a serialized histogram, row
//! by row; with `hdr_merge` it reads percentiles from merged rollups.

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;

use toolpulse_schemas::hdr::decode;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HdrQuantile {
    signature: Signature,
}

pub fn register(ctx: &SessionContext) {
    let signature = Signature::exact(vec![DataType::Binary, DataType::Float64], Volatility::Immutable);
    ctx.register_udf(ScalarUDF::from(HdrQuantile { signature }));
}

impl ScalarUDFImpl for HdrQuantile {
    fn name(&self) -> &str {
        "hdr_quantile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (hists, qs) = (arrays[0].as_binary::<i32>(), arrays[1].as_primitive::<Float64Type>());
        let out: Float64Array = hists
            .iter()
            .zip(qs.iter())
            .map(|(h, q)| match (h, q) {
                (Some(h), Some(q)) => {
                    if !(0.0..=1.0).contains(&q) {
                        return Err(DataFusionError::Execution(format!("hdr_quantile: the quantile must be within 0 and 1, got {q}")));
                    }
                    let h = decode(h).map_err(|e| DataFusionError::Execution(format!("hdr_quantile: {e}")))?;
                    Ok(h.quantile_ms(q))
                }
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        Ok(ColumnarValue::Array(std::sync::Arc::new(out) as ArrayRef))
    }
}
