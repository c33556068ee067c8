//! Where series come from. A [`MetricSource`] serves some metric names (the
//! tool-call metrics over the store, the SLO metrics of the SLO engine) and
//! answers selections: matchers, a time range, and which labels the query will
//! keep (so that a source can merge series early, e.g. for `sum by (server)`).

use std::collections::BTreeSet;

use async_trait::async_trait;
use promql_parser::label::{MatchOp, Matcher};

use super::PromError;
use super::value::{Labels, Series};

/// What a metric is, for `/api/v1/metadata` and for deciding what a query may do.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricMeta {
    pub name: String,
    /// `counter`, `gauge`, `histogram` or `summary`.
    pub kind: &'static str,
    pub help: String,
    pub unit: &'static str,
    /// Every label its series may carry (besides `__name__`).
    pub labels: Vec<&'static str>,
    /// The histogram this series is part of (as its `_bucket`, `_sum` or
    /// `_count`): `/api/v1/metadata` lists a histogram once, by that name, as
    /// Prometheus does.
    pub family: Option<Family>,
}

/// A histogram's metric family: its name without suffix, and its help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
}

/// Which labels the query keeps of a selection.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// Every label: series as they are.
    All,
    /// Only these labels survive (the query sums over the rest), so a source may
    /// sum series that agree on them.
    Keep(BTreeSet<String>),
    /// These labels are summed away.
    Drop(BTreeSet<String>),
}

impl Projection {
    /// The labels of `all` that survive.
    pub fn kept<'a>(&self, all: &[&'a str]) -> Vec<&'a str> {
        match self {
            Projection::All => all.to_vec(),
            Projection::Keep(k) => all.iter().copied().filter(|l| k.contains(*l)).collect(),
            Projection::Drop(d) => all.iter().copied().filter(|l| !d.contains(*l)).collect(),
        }
    }
}

/// One selection: a metric, matchers on its labels (not `__name__`), the time
/// range of samples wanted (inclusive, ms) and the projection.
#[derive(Debug, Clone)]
pub struct Selection {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub start: i64,
    pub end: i64,
    pub projection: Projection,
}

impl Selection {
    /// Whether a label set passes every matcher (a missing label is the empty string).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.is_match(labels.get(&m.name).map_or("", String::as_str)))
    }

    /// The labels the matchers mention.
    pub fn matcher_labels(&self) -> BTreeSet<String> {
        self.matchers.iter().map(|m| m.name.clone()).collect()
    }
}

/// A provider of series.
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// The metrics this source serves.
    fn metrics(&self) -> Vec<MetricMeta>;

    /// The series of a selection, with samples in `[start, end]`.
    async fn select(&self, sel: &Selection) -> Result<Vec<Series>, PromError>;

    /// The label sets of the series a selection would return (for the
    /// metadata endpoints); by default, from [`MetricSource::select`].
    async fn label_sets(&self, sel: &Selection) -> Result<Vec<Labels>, PromError> {
        Ok(self.select(sel).await?.into_iter().filter(|s| !s.samples.is_empty()).map(|s| s.labels).collect())
    }
}

/// Whether a `__name__` matcher (or the selector's name) accepts `name`.
pub fn name_matches(m: &Matcher, name: &str) -> bool {
    match &m.op {
        MatchOp::Equal => m.value == name,
        MatchOp::NotEqual => m.value != name,
        MatchOp::Re(_) | MatchOp::NotRe(_) => m.is_match(name),
    }
}
