//! The PromQL engine: parses a query, plans its selections, fetches them from
//! the sources that serve each metric name, evaluates, and answers the
//! metadata questions (series, label names and values, metric metadata).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use promql_parser::label::Matcher;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr};

use super::eval::{Evaluator, Fetch, node_key, node_time, plan, subquery_range_vector};
use super::source::{MetricMeta, MetricSource, Projection, Selection, name_matches};
use super::value::{Labels, METRIC_NAME, Series, StepSeries, Steps, Val};
use super::{ErrorKind, PromError};

/// Most steps one range query may have (as Prometheus: 11,000).
pub const MAX_STEPS: i64 = 11_000;

/// The result of a query.
#[derive(Debug, Clone)]
pub enum QueryResult {
    Value(Val),
    /// An instant query of a bare range selector: raw samples.
    Matrix(Vec<Series>),
}

#[derive(Clone)]
pub struct PromEngine {
    sources: Vec<Arc<dyn MetricSource>>,
    pub lookback: i64,
    pub timeout: Duration,
}

/// A metric name and the source that serves it.
type SourcedMetric = (Arc<dyn MetricSource>, String);

impl PromEngine {
    pub fn new(sources: Vec<Arc<dyn MetricSource>>, timeout: Duration) -> Self {
        PromEngine { sources, lookback: 5 * 60_000, timeout }
    }

    pub fn parse(query: &str) -> Result<Expr, PromError> {
        static HOLT_WINTERS: std::sync::Once = std::sync::Once::new();
        HOLT_WINTERS.call_once(|| {
            // Prometheus 2.x's name of `double_exponential_smoothing` (the parser
            // knows only the 3.x name); Grafana offers it to 2.x servers, as this
            // one says it is. Registering cannot clash: the name is not built in.
            let holt_winters =
                parser::Function::new("holt_winters", vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar], 0, ValueType::Vector, false);
            let _ = parser::register_extra_functions(vec![holt_winters]);
        });
        parser::parse(query).map_err(|e| PromError::bad_data(format!("invalid parameter \"query\": {e}")))
    }

    /// Every metric every source serves.
    pub fn metrics(&self) -> Vec<MetricMeta> {
        self.sources.iter().flat_map(|s| s.metrics()).collect()
    }

    /// Evaluates `query` at the instant `at` (ms).
    #[tracing::instrument(name = "promql.instant", skip(self))]
    pub async fn instant(&self, query: &str, at: i64) -> Result<QueryResult, PromError> {
        let expr = Self::parse(query)?;
        if matches!(expr, Expr::MatrixSelector(_) | Expr::Subquery(_)) {
            return self.timed(self.range_vector_at(&expr, at)).await.map(QueryResult::Matrix);
        }
        self.run(&expr, Steps::instant(at)).await.map(QueryResult::Value)
    }

    /// A range selector or subquery as a whole instant query: each series'
    /// samples in the window that ends at `at` (after its `@` and `offset`).
    async fn range_vector_at(&self, expr: &Expr, at: i64) -> Result<Vec<Series>, PromError> {
        let steps = Steps::instant(at);
        let mut data = self.fetch_all(&plan(expr, &steps, self.lookback)?).await?;
        let (series, range, end) = match expr {
            // The selector's fetched series themselves.
            Expr::MatrixSelector(ms) => {
                (data.remove(&node_key(&ms.vs)).unwrap_or_default(), ms.range, node_time(at, &ms.vs.at, &ms.vs.offset, (at, at)))
            }
            Expr::Subquery(sq) => {
                let ev = Evaluator { steps: &steps, bounds: (at, at), lookback: self.lookback, data: &data };
                (subquery_range_vector(&ev, sq)?, sq.range, ev.eval_time(0, &sq.at, &sq.offset))
            }
            _ => return Err(PromError::bad_data("not a range vector")),
        };
        let range = range.as_millis() as i64;
        Ok(series
            .into_iter()
            .filter_map(|s| {
                let w = super::eval::range_window(&s.samples, end, range).to_vec();
                (!w.is_empty()).then_some(Series { labels: s.labels, samples: w })
            })
            .collect())
    }

    /// Evaluates `query` at every step of `[start, end]`.
    #[tracing::instrument(name = "promql.range", skip(self))]
    pub async fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Val, PromError> {
        if step <= 0 {
            return Err(PromError::bad_data("zero or negative query resolution step widths are not accepted. Try a positive integer"));
        }
        if end < start {
            return Err(PromError::bad_data("end timestamp must not be before start time"));
        }
        if (end - start) / step > MAX_STEPS {
            return Err(PromError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let expr = Self::parse(query)?;
        if matches!(expr, Expr::MatrixSelector(_) | Expr::Subquery(_)) {
            return Err(PromError::bad_data("invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"));
        }
        self.run(&expr, Steps { start, end, step }).await
    }

    async fn run(&self, expr: &Expr, steps: Steps) -> Result<Val, PromError> {
        let work = async {
            let fetches = plan(expr, &steps, self.lookback)?;
            let data = self.fetch_all(&fetches).await?;
            let ev = Evaluator { steps: &steps, bounds: (steps.start, steps.end), lookback: self.lookback, data: &data };
            ev.eval(expr)
        };
        self.timed(work).await
    }

    /// `work`, or a timeout error once it has run longer than the query timeout.
    async fn timed<T>(&self, work: impl Future<Output = Result<T, PromError>>) -> Result<T, PromError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| PromError { kind: ErrorKind::Timeout, message: format!("query timed out in query execution after {:?}", self.timeout) })?
    }

    /// Fetches every selection, tagging series with their metric name.
    async fn fetch_all(&self, fetches: &[Fetch]) -> Result<HashMap<usize, Vec<Series>>, PromError> {
        let mut out = HashMap::new();
        for f in fetches {
            let mut series = Vec::new();
            for (source, name) in self.resolve(f.name.as_deref(), &f.name_matchers)? {
                let sel = Selection { name: name.clone(), matchers: f.matchers.clone(), start: f.start, end: f.end, projection: f.projection.clone() };
                for mut s in source.select(&sel).await? {
                    s.labels.insert(METRIC_NAME.to_owned(), name.clone());
                    series.push(s);
                }
            }
            out.insert(f.key, series);
        }
        Ok(out)
    }

    /// The (source, metric name) pairs a selector's name and `__name__` matchers accept.
    fn resolve(&self, name: Option<&str>, name_matchers: &[Matcher]) -> Result<Vec<SourcedMetric>, PromError> {
        let mut out = Vec::new();
        for s in &self.sources {
            for m in s.metrics() {
                if name.is_none_or(|n| n == m.name) && name_matchers.iter().all(|x| name_matches(x, &m.name)) {
                    out.push((s.clone(), m.name.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Label sets of the series that match any of `selectors` in `[start, end]`.
    pub async fn series(&self, selectors: &[String], start: i64, end: i64) -> Result<Vec<Labels>, PromError> {
        let mut seen: BTreeMap<String, Labels> = BTreeMap::new();
        for sel in selectors {
            let expr = Self::parse(sel)?;
            let Expr::VectorSelector(vs) = &expr else {
                return Err(PromError::bad_data(format!("invalid parameter \"match[]\": {sel} is not a series selector")));
            };
            if vs.name.is_none() && vs.matchers.matchers.iter().all(|m| m.is_match("")) {
                return Err(PromError::bad_data("match[] must contain at least one non-empty matcher"));
            }
            let steps = Steps { start, end, step: (end - start).max(1) };
            for f in plan(&expr, &steps, 0)? {
                for (source, name) in self.resolve(f.name.as_deref(), &f.name_matchers)? {
                    let sel = Selection { name: name.clone(), matchers: f.matchers.clone(), start, end, projection: Projection::All };
                    for mut l in source.label_sets(&sel).await? {
                        l.insert(METRIC_NAME.to_owned(), name.clone());
                        seen.insert(super::value::key_of(&l), l);
                    }
                }
            }
        }
        Ok(seen.into_values().collect())
    }

    /// Label names, from the series matching `selectors` (or every metric's declared labels).
    pub async fn label_names(&self, selectors: &[String], start: i64, end: i64) -> Result<Vec<String>, PromError> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        if selectors.is_empty() {
            names.insert(METRIC_NAME.to_owned());
            for m in self.metrics() {
                names.extend(m.labels.iter().map(|l| l.to_string()));
            }
        } else {
            for l in self.series(selectors, start, end).await? {
                names.extend(l.into_keys());
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Values of one label, from the series matching `selectors` (or every series).
    pub async fn label_values(&self, label: &str, selectors: &[String], start: i64, end: i64) -> Result<Vec<String>, PromError> {
        if label == METRIC_NAME && selectors.is_empty() {
            let mut names: Vec<String> = self.metrics().into_iter().map(|m| m.name).collect();
            names.sort();
            names.dedup();
            return Ok(names);
        }
        let selectors: Vec<String> = if selectors.is_empty() {
            self.metrics().into_iter().filter(|m| m.labels.contains(&label)).map(|m| m.name).collect()
        } else {
            selectors.to_vec()
        };
        let mut values: BTreeSet<String> = BTreeSet::new();
        for l in self.series(&selectors, start, end).await? {
            if let Some(v) = l.get(label) {
                values.insert(v.clone());
            }
        }
        Ok(values.into_iter().collect())
    }
}

/// Series of an evaluated vector with their values (for tests and tools).
pub fn vector_at(v: &Val, step: usize) -> Vec<(Labels, f64)> {
    match v {
        Val::Vector(series) => series.iter().filter_map(|s: &StepSeries| s.values.get(step).copied().flatten().map(|x| (s.labels.clone(), x))).collect(),
        Val::Scalar(s) => vec![(Labels::new(), s[step])],
        Val::String(_) => Vec::new(),
    }
}
