//! The accumulator of the ordered-set aggregates: a group's non-NULL values as
//! they arrive, sorted once at the end to pick the answer.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array, new_empty_array};
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::compute::{SortOptions, concat, filter, is_not_null, sort, sort_to_indices, take};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::error::Result;
use datafusion::logical_expr::Accumulator;
use datafusion::scalar::ScalarValue;

/// Which value of the ordering is the answer.
#[derive(Debug, Clone)]
pub(super) enum Pick {
    /// The value at position ⌈f·n⌉ (at least the first) of the n values, as
    /// PostgreSQL's `percentile_disc`; `None` answers NULL.
    Fraction(Option<f64>),
    /// The values at several fractions, as an array.
    Fractions(Vec<Option<f64>>),
    /// The first value of the longest run of equal values.
    Mode,
}

#[derive(Debug)]
pub(super) struct Gathered {
    data_type: DataType,
    descending: bool,
    pick: Pick,
    /// The values so far, NULLs dropped, as they came.
    arrays: Vec<ArrayRef>,
    bytes: usize,
}

impl Gathered {
    pub(super) fn new(data_type: DataType, descending: bool, pick: Pick) -> Self {
        Self { data_type, descending, pick, arrays: Vec::new(), bytes: 0 }
    }

    fn push(&mut self, values: &ArrayRef) -> Result<()> {
        let values = if values.null_count() > 0 { filter(values, &is_not_null(values)?)? } else { Arc::clone(values) };
        if !values.is_empty() {
            self.bytes += values.get_array_memory_size();
            self.arrays.push(values);
        }
        Ok(())
    }

    /// Every value so far in one array (kept so, for the next call).
    fn values(&mut self) -> Result<ArrayRef> {
        if self.arrays.len() > 1 {
            let parts: Vec<&dyn Array> = self.arrays.iter().map(|a| a.as_ref()).collect();
            let all = concat(&parts)?;
            self.bytes = all.get_array_memory_size();
            self.arrays = vec![all];
        }
        Ok(self.arrays.first().cloned().unwrap_or_else(|| new_empty_array(&self.data_type)))
    }

    fn options(&self) -> SortOptions {
        SortOptions { descending: self.descending, nulls_first: false }
    }
}

impl Accumulator for Gathered {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.push(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.push(&lists.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = self.values()?;
        Ok(vec![ScalarValue::List(Arc::new(SingleRowListArrayBuilder::new(values).build_list_array()))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values = self.values()?;
        let n = values.len();
        // PostgreSQL's position, computed in doubles as it does.
        let position = |f: f64| ((f * n as f64).ceil() as usize).clamp(1, n);
        match &self.pick {
            Pick::Fractions(_) if n == 0 => ScalarValue::try_from(&DataType::List(Arc::new(Field::new_list_field(self.data_type.clone(), true)))),
            _ if n == 0 => ScalarValue::try_from(&self.data_type),
            Pick::Fraction(None) => ScalarValue::try_from(&self.data_type),
            Pick::Fraction(Some(f)) => {
                let first = sort_to_indices(&values, Some(self.options()), Some(position(*f)))?;
                ScalarValue::try_from_array(&values, first.value(position(*f) - 1) as usize)
            }
            Pick::Fractions(fractions) => {
                let last = fractions.iter().flatten().map(|&f| position(f)).max().unwrap_or(1);
                let first = sort_to_indices(&values, Some(self.options()), Some(last))?;
                let picked: UInt32Array = fractions.iter().map(|f| f.map(|f| first.value(position(f) - 1))).collect();
                let answers = take(&values, &picked, None)?;
                Ok(ScalarValue::List(Arc::new(SingleRowListArrayBuilder::new(answers).build_list_array())))
            }
            Pick::Mode => {
                let sorted = sort(&values, Some(self.options()))?;
                let mut longest = 0..0;
                for run in partition(std::slice::from_ref(&sorted))?.ranges() {
                    if run.len() > longest.len() {
                        longest = run;
                    }
                }
                ScalarValue::try_from_array(&sorted, longest.start)
            }
        }
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.bytes
    }
}
