//! [`SparseHistogram`]: an HDR histogram kept as its non-empty bins only, and
//! [`HistogramBuilder`], which gathers values and other histograms cheaply and
//! sorts them into bins once.
//!
//! A dense HdrHistogram of durations up to a minute holds ~16k counters
//! (128 KB); a minute of one tool's calls fills a few dozen bins. Grouped
//! queries build one histogram per group, so they keep the few bins instead.

use super::layout::{highest_in, index_for, lowest_in};

/// Non-empty bins `(index, count)` in increasing index order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseHistogram {
    bins: Vec<(u32, u64)>,
    total: u64,
}

impl SparseHistogram {
    /// From bins in increasing index order with non-zero counts (checked by the caller).
    pub(super) fn from_sorted_bins(bins: Vec<(u32, u64)>) -> Self {
        debug_assert!(bins.windows(2).all(|w| w[0].0 < w[1].0) && bins.iter().all(|b| b.1 > 0));
        let total = bins.iter().fold(0u64, |t, b| t.saturating_add(b.1));
        Self { bins, total }
    }

    pub fn bins(&self) -> &[(u32, u64)] {
        &self.bins
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The q-quantile (q within 0..=1) as HdrHistogram reads it: the highest
    /// value equivalent to the value at rank ⌈q·n⌉ (the lowest, for q = 0).
    pub fn value_at_quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        let index = self
            .bins
            .iter()
            .find(|(_, count)| {
                seen = seen.saturating_add(*count);
                seen >= rank
            })
            .or(self.bins.last())
            .map(|b| b.0)?;
        Some(if q == 0.0 { lowest_in(index) } else { highest_in(index) })
    }

    /// How many values were recorded in the bins up to `value`'s (as
    /// HdrHistogram's `count_between(0, value)`).
    pub fn count_at_or_below(&self, value: u64) -> u64 {
        let last = index_for(value);
        self.bins.iter().take_while(|b| b.0 <= last).fold(0u64, |t, b| t.saturating_add(b.1))
    }

    /// The largest value recorded (to the histogram's precision).
    pub fn max(&self) -> Option<u64> {
        self.bins.last().map(|b| highest_in(b.0))
    }
}

/// Gathers values and histograms; [`HistogramBuilder::finish`] sorts them into
/// one [`SparseHistogram`]. Pending input is folded in once it grows past a
/// bound, so memory stays within the number of distinct bins.
#[derive(Debug, Default, Clone)]
pub struct HistogramBuilder {
    folded: SparseHistogram,
    values: Vec<u32>,
    bins: Vec<(u32, u64)>,
}

/// Pending entries that trigger a fold (a few hundred KB).
const FOLD_AT: usize = 1 << 16;

impl HistogramBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.values.push(index_for(value));
        self.fold_if_large();
    }

    /// Adds `count` to bin `index` (bins need not come in order).
    pub fn add_bin(&mut self, index: u32, count: u64) {
        if count > 0 {
            self.bins.push((index, count));
            self.fold_if_large();
        }
    }

    pub fn add(&mut self, h: &SparseHistogram) {
        self.add_sorted(&h.bins, &mut Vec::new());
    }

    /// Adds bins sorted by index (as [`super::decode_bins`] gives them) with a
    /// linear merge; `scratch` is any reusable vector (it gets the old bins'
    /// allocation back, so merging many groups allocates little).
    pub fn add_sorted(&mut self, sorted: &[(u32, u64)], scratch: &mut Vec<(u32, u64)>) {
        if sorted.is_empty() {
            return;
        }
        let added = sorted.iter().fold(0u64, |t, b| t.saturating_add(b.1));
        if self.folded.bins.is_empty() {
            self.folded.bins.extend_from_slice(sorted);
        } else {
            scratch.clear();
            scratch.reserve(self.folded.bins.len() + sorted.len());
            merge_sorted(scratch, merge_iter(self.folded.bins.iter().copied(), sorted.iter().copied()));
            std::mem::swap(&mut self.folded.bins, scratch);
        }
        self.folded.total = self.folded.total.saturating_add(added);
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty() && self.values.is_empty() && self.bins.is_empty()
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.folded.bins.capacity() * 16 + self.values.capacity() * 4 + self.bins.capacity() * 16
    }

    fn fold_if_large(&mut self) {
        if self.values.len() + self.bins.len() >= FOLD_AT {
            self.fold();
        }
    }

    fn fold(&mut self) {
        if self.values.is_empty() && self.bins.is_empty() {
            return;
        }
        self.values.sort_unstable();
        self.bins.sort_unstable_by_key(|b| b.0);
        let mut runs: Vec<(u32, u64)> = Vec::with_capacity(self.folded.bins.len() + self.bins.len() + 16);
        let values = self.values.chunk_by(|a, b| a == b).map(|run| (run[0], run.len() as u64));
        merge_sorted(&mut runs, merge_iter(self.folded.bins.iter().copied(), merge_iter(values, self.bins.iter().copied())));
        self.values.clear();
        self.bins.clear();
        self.folded = SparseHistogram::from_sorted_bins(runs);
    }

    /// The histogram of everything gathered; the builder is left empty.
    pub fn finish(&mut self) -> SparseHistogram {
        self.fold();
        self.values = Vec::new();
        self.bins = Vec::new();
        std::mem::take(&mut self.folded)
    }
}

/// Appends `(index, count)` pairs sorted by index into `out`, adding up equal indexes.
fn merge_sorted(out: &mut Vec<(u32, u64)>, sorted: impl Iterator<Item = (u32, u64)>) {
    for (i, c) in sorted {
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 = last.1.saturating_add(c),
            _ => out.push((i, c)),
        }
    }
}

/// Two index-sorted streams as one index-sorted stream.
fn merge_iter(a: impl Iterator<Item = (u32, u64)>, b: impl Iterator<Item = (u32, u64)>) -> impl Iterator<Item = (u32, u64)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
        (Some(_), Some(_)) => b.next(),
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}
