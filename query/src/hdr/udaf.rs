//! The three HDR aggregate functions, as one DataFusion UDAF implementation
//! parameterised by what it reads and what it returns.

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use hdrhistogram::Histogram;

use toolpulse_schemas::hdr::{decode, encode, new_histogram, quantile_ms, record_ms};

/// Which of the three aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Percentile,
    Histogram,
    Merge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Percentile => "hdr_percentile",
            Kind::Histogram => "hdr_histogram",
            Kind::Merge => "hdr_merge",
        }
    }

    /// Reads durations (not serialized histograms).
    fn reads_durations(self) -> bool {
        matches!(self, Kind::Percentile | Kind::Histogram)
    }

    /// Returns a quantile (not a histogram).
    fn returns_quantile(self) -> bool {
        self == Kind::Percentile
    }
}

/// One HDR aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HdrFunction {
    kind: Kind,
    signature: Signature,
}

impl HdrFunction {
    fn new(kind: Kind) -> Self {
        let signature = match kind {
            Kind::Percentile => Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
            Kind::Histogram => Signature::uniform(1, vec![DataType::Float64], Volatility::Immutable),
            Kind::Merge => Signature::exact(vec![DataType::Binary], Volatility::Immutable),
        };
        Self { kind, signature }
    }
}

/// Registers `hdr_percentile`, `hdr_histogram` and `hdr_merge`.
pub fn register(ctx: &SessionContext) {
    for kind in [Kind::Percentile, Kind::Histogram, Kind::Merge] {
        ctx.register_udaf(AggregateUDF::from(HdrFunction::new(kind)));
    }
}

impl AggregateUDFImpl for HdrFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(if self.kind.returns_quantile() { DataType::Float64 } else { DataType::Binary })
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(HdrAccumulator { kind: self.kind, hist: new_histogram(), q: None }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Field::new(format!("{}[hist]", args.name), DataType::Binary, true).into(),
            Field::new(format!("{}[q]", args.name), DataType::Float64, true).into(),
        ])
    }
}

#[derive(Debug)]
struct HdrAccumulator {
    kind: Kind,
    hist: Histogram<u64>,
    q: Option<f64>,
}

impl HdrAccumulator {
    fn take_q(&mut self, values: Option<&ArrayRef>) -> Result<()> {
        let Some(qs) = values else { return Ok(()) };
        let qs = qs.as_primitive::<Float64Type>();
        if let Some(q) = qs.iter().flatten().next() {
            if !(0.0..=1.0).contains(&q) {
                return Err(DataFusionError::Plan(format!("{}: the quantile must be within 0 and 1, got {q}", self.kind.name())));
            }
            self.q = Some(q);
        }
        Ok(())
    }

    fn add_serialized(&mut self, values: &ArrayRef) -> Result<()> {
        let hists = values.as_binary::<i32>();
        for bytes in hists.iter().flatten() {
            let h = decode(bytes).map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.kind.name())))?;
            self.hist.add(&h).map_err(|e| DataFusionError::Execution(format!("{}: {e:?}", self.kind.name())))?;
        }
        Ok(())
    }
}

impl Accumulator for HdrAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.kind.reads_durations() {
            for v in values[0].as_primitive::<Float64Type>().iter().flatten() {
                record_ms(&mut self.hist, v);
            }
        } else {
            self.add_serialized(&values[0])?;
        }
        self.take_q(values.get(1))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.add_serialized(&states[0])?;
        self.take_q(states.get(1))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(encode(&self.hist))), ScalarValue::Float64(self.q)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.kind.returns_quantile() {
            let q = self.q.unwrap_or(0.5);
            Ok(ScalarValue::Float64(quantile_ms(&self.hist, q)))
        } else if self.hist.is_empty() {
            Ok(ScalarValue::Binary(None))
        } else {
            Ok(ScalarValue::Binary(Some(encode(&self.hist))))
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.hist.distinct_values() * std::mem::size_of::<u64>()
    }
}
