//! The three HDR aggregate functions, as one DataFusion UDAF implementation
//! parameterised by what it reads and what it returns (`hdr_percentile` reads
//! durations, or histograms such as `rollups_1m.duration_hist`, which spares
//! the `hdr_quantile(hdr_merge(…))` round trip). Each group's histogram
//! is a [`HistogramBuilder`] (sparse), so a query grouping by minute × tool
//! holds a few bins per group rather than a dense 128 KB array; the partial
//! state between aggregation phases is the V2 serialization.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use toolpulse_schemas::hdr::{HistogramBuilder, decode_bins, encode_into};

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
            Kind::Percentile => Signature::one_of(
                vec![TypeSignature::Exact(vec![DataType::Binary, DataType::Float64]), TypeSignature::Uniform(2, vec![DataType::Float64])],
                Volatility::Immutable,
            ),
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

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(HdrAccumulator { groups: HdrGroups::new(self.kind, &args) }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(HdrGroups::new(self.kind, &args)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Field::new(format!("{}[hist]", args.name), DataType::Binary, true).into(),
            Field::new(format!("{}[q]", args.name), DataType::Float64, true).into(),
        ])
    }
}

/// The histograms of all groups, and the quantile asked for.
#[derive(Debug)]
struct HdrGroups {
    kind: Kind,
    /// The first argument is durations (else serialized histograms).
    reads_durations: bool,
    groups: Vec<HistogramBuilder>,
    /// Reused buffers: one histogram's bins as decoded, and merge space.
    decoded: Vec<(u32, u64)>,
    scratch: Vec<(u32, u64)>,
    q: Option<f64>,
    /// Heap bytes, estimated as values and bins arrive (folding only lowers it).
    heap_bytes: usize,
}

impl HdrGroups {
    fn new(kind: Kind, args: &AccumulatorArgs) -> Self {
        let reads_durations = args.expr_fields.first().is_some_and(|f| f.data_type() != &DataType::Binary);
        Self { kind, reads_durations, groups: Vec::new(), decoded: Vec::new(), scratch: Vec::new(), q: None, heap_bytes: 0 }
    }

    fn take_q(&mut self, values: Option<&ArrayRef>) -> Result<()> {
        let Some(qs) = values else { return Ok(()) };
        if let Some(q) = qs.as_primitive::<Float64Type>().iter().flatten().next() {
            if !(0.0..=1.0).contains(&q) {
                return Err(DataFusionError::Plan(format!("{}: the quantile must be within 0 and 1, got {q}", self.kind.name())));
            }
            self.q = Some(q);
        }
        Ok(())
    }

    fn grow(&mut self, total_groups: usize) {
        if self.groups.len() < total_groups {
            self.groups.resize_with(total_groups, HistogramBuilder::new);
        }
    }

    /// Records each duration in `values` into its row's group.
    fn add_durations(&mut self, values: &ArrayRef, group_indices: &[usize], filter: Option<&BooleanArray>) {
        let durations = values.as_primitive::<Float64Type>();
        for (i, &g) in group_indices.iter().enumerate() {
            if durations.is_valid(i) && selected(filter, i) {
                self.groups[g].record_ms(durations.value(i));
            }
        }
        self.heap_bytes += 4 * group_indices.len();
    }

    /// Merges each serialized histogram in `values` into its row's group.
    fn add_histograms(&mut self, values: &ArrayRef, group_indices: &[usize], filter: Option<&BooleanArray>) -> Result<()> {
        let hists = values.as_binary::<i32>();
        for (i, &g) in group_indices.iter().enumerate() {
            if hists.is_valid(i) && selected(filter, i) {
                decode_bins(hists.value(i), &mut self.decoded).map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.kind.name())))?;
                self.groups[g].add_sorted(&self.decoded, &mut self.scratch);
                self.heap_bytes += 16 * self.decoded.len();
            }
        }
        Ok(())
    }

    fn emit(&mut self, emit_to: EmitTo) -> Vec<HistogramBuilder> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.heap_bytes = self.groups.iter().map(HistogramBuilder::heap_size).sum();
        taken
    }

    fn histograms(&self, groups: Vec<HistogramBuilder>, empty_as_null: bool) -> ArrayRef {
        let mut out = BinaryBuilder::with_capacity(groups.len(), groups.len() * 64);
        let mut buf = Vec::new();
        for mut g in groups {
            let h = g.finish();
            if empty_as_null && h.is_empty() {
                out.append_null();
            } else {
                buf.clear();
                encode_into(&h, &mut buf);
                out.append_value(&buf);
            }
        }
        Arc::new(out.finish())
    }

    fn quantiles(&self, groups: Vec<HistogramBuilder>) -> ArrayRef {
        let q = self.q.unwrap_or(0.5);
        Arc::new(groups.into_iter().map(|mut g| g.finish().quantile_ms(q)).collect::<Float64Array>())
    }
}

impl GroupsAccumulator for HdrGroups {
    fn update_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], opt_filter: Option<&BooleanArray>, total_num_groups: usize) -> Result<()> {
        self.grow(total_num_groups);
        if self.reads_durations {
            self.add_durations(&values[0], group_indices, opt_filter);
        } else {
            self.add_histograms(&values[0], group_indices, opt_filter)?;
        }
        self.take_q(values.get(1))
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        // States are histograms whatever the function reads.
        self.grow(total_num_groups);
        self.add_histograms(&values[0], group_indices, None)?;
        self.take_q(values.get(1))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.emit(emit_to);
        Ok(if self.kind.returns_quantile() { self.quantiles(groups) } else { self.histograms(groups, true) })
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.emit(emit_to);
        let n = groups.len();
        Ok(vec![self.histograms(groups, false), Arc::new(Float64Array::from(vec![self.q; n]))])
    }

    /// Each row as a partial state of its own (when DataFusion skips partial
    /// aggregation for many small groups).
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let n = values[0].len();
        let mut hists = BinaryBuilder::with_capacity(n, n * 48);
        if self.reads_durations {
            let durations = values[0].as_primitive::<Float64Type>();
            let mut buf = Vec::new();
            for i in 0..n {
                if durations.is_valid(i) && selected(opt_filter, i) {
                    let mut one = HistogramBuilder::new();
                    one.record_ms(durations.value(i));
                    buf.clear();
                    encode_into(&one.finish(), &mut buf);
                    hists.append_value(&buf);
                } else {
                    hists.append_null();
                }
            }
        } else {
            let given = values[0].as_binary::<i32>();
            for i in 0..n {
                hists.append_option((given.is_valid(i) && selected(opt_filter, i)).then(|| given.value(i)));
            }
        }
        let qs: ArrayRef = match values.get(1) {
            Some(q) => q.clone(),
            None => Arc::new(Float64Array::new_null(n)),
        };
        Ok(vec![Arc::new(hists.finish()), qs])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.groups.capacity() * std::mem::size_of::<HistogramBuilder>() + self.heap_bytes
    }
}

/// Whether row `i` passes the aggregate's FILTER clause, if any.
fn selected(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

/// The ungrouped form (`SELECT hdr_percentile(...) FROM t`): one group.
#[derive(Debug)]
struct HdrAccumulator {
    groups: HdrGroups,
}

impl HdrAccumulator {
    fn one(&self) -> ArrayRef {
        let groups = vec![self.groups.groups.first().cloned().unwrap_or_default()];
        if self.groups.kind.returns_quantile() { self.groups.quantiles(groups) } else { self.groups.histograms(groups, true) }
    }
}

impl Accumulator for HdrAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.groups.update_batch(values, &vec![0; values[0].len()], None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.groups.merge_batch(states, &vec![0; states[0].len()], 1)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut builder = self.groups.groups.first().cloned().unwrap_or_default();
        let mut bytes = Vec::new();
        encode_into(&builder.finish(), &mut bytes);
        Ok(vec![ScalarValue::Binary(Some(bytes)), ScalarValue::Float64(self.groups.q)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&self.one(), 0)
    }

    fn size(&self) -> usize {
        self.groups.size()
    }
}
