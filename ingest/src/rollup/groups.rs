//! The groups of a rollup: one aggregate per minute and dimension values, in
//! the order their keys first came.
//!
//! Each dimension's strings are numbered as they come ([`Interner`]), so a
//! group is found by hashing and comparing a minute and four small numbers
//! rather than four strings. Rows sorted by server, tool and time (as the
//! writer rolls them up) mostly repeat the row before in several dimensions
//! and in the group, and those are compared before anything is hashed.

use toolpulse_schemas::hdr::HistogramBuilder;
use toolpulse_schemas::rollup_schema::LATENCY_BUCKETS_SECONDS;

pub(crate) const BUCKETS: usize = LATENCY_BUCKETS_SECONDS.len();

/// A minute and dimension values, borrowed from the batches being rolled up
/// (unused trailing dimensions are `None`).
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub minute: i64,
    pub dims: [Option<&'a str>; 4],
}

pub(crate) struct Agg {
    pub calls: u64,
    pub sum: f64,
    pub max: f64,
    /// Histogram and cumulative buckets (calls at or under each bound), when kept.
    pub latency: Option<(HistogramBuilder, [u64; BUCKETS])>,
}

impl Agg {
    fn new(latency: bool) -> Self {
        Agg { calls: 0, sum: 0.0, max: 0.0, latency: latency.then(|| (HistogramBuilder::new(), [0; BUCKETS])) }
    }

    pub(crate) fn add(&mut self, ms: f64) {
        self.calls += 1;
        self.sum += ms;
        self.max = self.max.max(ms);
        if let Some((hist, le)) = &mut self.latency {
            hist.record_ms(ms);
            let secs = ms / 1000.0;
            for (count, bound) in le.iter_mut().zip(LATENCY_BUCKETS_SECONDS).rev() {
                if secs > bound {
                    break;
                }
                *count += 1;
            }
        }
    }
}

/// Numbers the values of one dimension from 1 as they come (0 is null).
#[derive(Default)]
struct Interner<'a> {
    ids: foldhash::HashMap<&'a str, u32>,
    /// The value asked for last, and its number.
    last: Option<(&'a str, u32)>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, value: Option<&'a str>) -> u32 {
        let Some(value) = value else { return 0 };
        if let Some((last, id)) = self.last
            && last == value
        {
            return id;
        }
        let next = self.ids.len() as u32 + 1;
        let id = *self.ids.entry(value).or_insert(next);
        self.last = Some((value, id));
        id
    }
}

/// A group's key as numbers: the minute and each dimension's value number.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Ids {
    minute: i64,
    dims: [u32; 4],
}

/// The groups of a rollup and the numbering of its dimensions' values.
pub(crate) struct Groups<'a> {
    /// Whether each group keeps a latency histogram and buckets.
    latency: bool,
    dims: [Interner<'a>; 4],
    slots: foldhash::HashMap<Ids, usize>,
    groups: Vec<(Key<'a>, Agg)>,
    /// The key and slot of the group found last.
    last: Option<(Ids, usize)>,
}

impl<'a> Groups<'a> {
    /// No groups yet; each will keep latency when `latency`.
    pub(crate) fn new(latency: bool) -> Self {
        Groups { latency, dims: Default::default(), slots: Default::default(), groups: Vec::new(), last: None }
    }

    /// The aggregate of `key`, new if unseen.
    pub(crate) fn agg(&mut self, key: Key<'a>) -> &mut Agg {
        let mut dims = [0; 4];
        for ((id, interner), value) in dims.iter_mut().zip(&mut self.dims).zip(key.dims) {
            *id = interner.id(value);
        }
        let ids = Ids { minute: key.minute, dims };
        let slot = match self.last {
            Some((last, slot)) if last == ids => slot,
            _ => {
                let (groups, latency) = (&mut self.groups, self.latency);
                let slot = *self.slots.entry(ids).or_insert_with(|| {
                    groups.push((key, Agg::new(latency)));
                    groups.len() - 1
                });
                self.last = Some((ids, slot));
                slot
            }
        };
        &mut self.groups[slot].1
    }

    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl<'a> IntoIterator for Groups<'a> {
    type Item = (Key<'a>, Agg);
    type IntoIter = std::vec::IntoIter<(Key<'a>, Agg)>;

    fn into_iter(self) -> Self::IntoIter {
        self.groups.into_iter()
    }
}
