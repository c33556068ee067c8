//! The values PromQL works with: label sets, raw series (from a source), and
//! the per-step results of evaluation.

use std::collections::BTreeMap;

/// A label set, sorted by name. `__name__` is the metric name.
pub type Labels = BTreeMap<String, String>;

pub const METRIC_NAME: &str = "__name__";

/// A series as a source returns it: labels and samples (ms, value) in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// One series of an evaluated expression: a value (or none) per step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSeries {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
}

/// An evaluated expression over all steps of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<StepSeries>),
    String(String),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "vector",
            Val::String(_) => "string",
        }
    }
}

/// Labels without the metric name.
pub fn drop_name(mut l: Labels) -> Labels {
    l.remove(METRIC_NAME);
    l
}

/// A stable key for a label set (for grouping and matching).
pub fn key_of<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut s = String::new();
    for (k, v) in labels {
        s.push_str(k);
        s.push('\u{1}');
        s.push_str(v);
        s.push('\u{2}');
    }
    s
}

/// The steps of a query: `start, start + step, …, ≤ end`, in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Steps {
    pub fn instant(at: i64) -> Self {
        Steps { start: at, end: at, step: 1 }
    }

    pub fn len(&self) -> usize {
        ((self.end - self.start) / self.step.max(1) + 1) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn at(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    /// The time of the last step (at or before `end`).
    pub fn last(&self) -> i64 {
        self.at(self.len().max(1) - 1)
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.at(i))
    }
}
