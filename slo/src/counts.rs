//! Per-minute good/bad/event counts of one SLO, kept in memory for the longest
//! look-back the SLO needs, so that any window's sums are a short loop instead
//! of a query. Minutes are indexed since the Unix epoch.

use std::collections::VecDeque;

/// What one minute (or, for timeslice budgeting, one slice starting at that minute) holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    /// Good events (occurrences) or good slices.
    pub good: u64,
    /// Bad events or bad slices.
    pub bad: u64,
    /// Calls of the selection, whatever their outcome (for the traffic guard and no-data).
    pub events: u64,
}

impl Slot {
    pub fn add(&mut self, o: Slot) {
        self.good += o.good;
        self.bad += o.bad;
        self.events += o.events;
    }

    pub fn total(&self) -> u64 {
        self.good + self.bad
    }
}

pub const MS_PER_MINUTE: i64 = 60_000;

/// The minute that contains `ms`.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_MINUTE)
}

/// Dense per-minute slots from `first` on, with running totals so that any
/// window's sum is one subtraction.
#[derive(Debug, Clone, Default)]
pub struct MinuteSeries {
    first: i64,
    slots: VecDeque<Slot>,
    /// `prefix[i]` sums `slots[..i]`; rebuilt after each change.
    prefix: Vec<Slot>,
}

impl MinuteSeries {
    /// Replaces the slots of `[from, to)` by `values` (missing minutes become empty).
    pub fn replace(&mut self, from: i64, to: i64, values: impl IntoIterator<Item = (i64, Slot)>) {
        if to <= from {
            return;
        }
        if self.slots.is_empty() {
            self.first = from;
        }
        self.grow_to_cover(from, to);
        for m in from..to {
            self.slots[(m - self.first) as usize] = Slot::default();
        }
        for (m, s) in values {
            if (from..to).contains(&m) {
                self.slots[(m - self.first) as usize] = s;
            }
        }
        self.rebuild_prefix();
    }

    fn rebuild_prefix(&mut self) {
        self.prefix.clear();
        self.prefix.reserve(self.slots.len() + 1);
        let mut acc = Slot::default();
        self.prefix.push(acc);
        for s in &self.slots {
            acc.add(*s);
            self.prefix.push(acc);
        }
    }

    fn grow_to_cover(&mut self, from: i64, to: i64) {
        while from < self.first {
            self.slots.push_front(Slot::default());
            self.first -= 1;
        }
        let end = self.first + self.slots.len() as i64;
        for _ in end..to {
            self.slots.push_back(Slot::default());
        }
    }

    /// Drops minutes before `keep_from`.
    pub fn trim_before(&mut self, keep_from: i64) {
        let before = self.slots.len();
        while self.first < keep_from && !self.slots.is_empty() {
            self.slots.pop_front();
            self.first += 1;
        }
        if self.slots.is_empty() {
            self.first = self.first.max(keep_from);
        }
        if self.slots.len() != before {
            self.rebuild_prefix();
        }
    }

    /// Sums the minutes of `[from, to)`.
    pub fn sum(&self, from: i64, to: i64) -> Slot {
        let mut out = Slot::default();
        let end = self.first + self.slots.len() as i64;
        let (lo, hi) = (from.max(self.first), to.min(end));
        if lo < hi {
            let (a, b) = (self.prefix[(lo - self.first) as usize], self.prefix[(hi - self.first) as usize]);
            out = Slot { good: b.good - a.good, bad: b.bad - a.bad, events: b.events - a.events };
        }
        out
    }

    /// The latest minute before `to` that had any event.
    pub fn last_event_before(&self, to: i64) -> Option<i64> {
        let end = (self.first + self.slots.len() as i64).min(to);
        (self.first..end).rev().find(|m| self.slots[(m - self.first) as usize].events > 0)
    }

    pub fn first_minute(&self) -> Option<i64> {
        (!self.slots.is_empty()).then_some(self.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(good: u64, bad: u64) -> Slot {
        Slot { good, bad, events: good + bad }
    }

    #[test]
    fn replace_sum_trim() {
        let mut m = MinuteSeries::default();
        m.replace(100, 110, [(100, s(1, 0)), (105, s(2, 1)), (109, s(0, 3))]);
        assert_eq!(m.sum(100, 110), s(3, 4));
        assert_eq!(m.sum(101, 109), s(2, 1));
        assert_eq!(m.sum(0, 1000), s(3, 4), "ranges beyond the data are clipped");
        // Recomputing a range replaces it (109 is now empty), it does not add.
        m.replace(105, 112, [(105, s(5, 0)), (111, s(1, 0))]);
        assert_eq!(m.sum(100, 112), s(7, 0));
        // Earlier minutes extend the series at the front.
        m.replace(95, 97, [(96, s(0, 1))]);
        assert_eq!(m.sum(0, 1000), s(7, 1));
        assert_eq!(m.last_event_before(111), Some(105));
        m.trim_before(106);
        assert_eq!(m.sum(0, 1000), s(1, 0));
        assert_eq!(m.first_minute(), Some(106));
    }
}
