//! The analyzer rule of the sessions that run user SQL (HTTP, CLI,
//! PostgreSQL), after type coercion: where DataFusion's meaning of an
//! expression differs from PostgreSQL's, the expression is rewritten to
//! PostgreSQL's ([`super::float_to_int`], [`super::similar_to`]). Columns keep
//! the names they had.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::{LogicalPlan, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;

use super::float_to_int::{RoundTiesEven, round_before_cast};
use super::similar_to::{SimilarToRegex, anchored};
use crate::plan_rewrite::rewrite_expressions;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct PostgresSemantics;

impl AnalyzerRule for PostgresSemantics {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let round = Arc::new(ScalarUDF::from(RoundTiesEven::new()));
        let translate = Arc::new(ScalarUDF::from(SimilarToRegex::new()));
        rewrite_expressions(plan, |e, schema| round_before_cast(e, schema, &round)?.transform_data(|e| anchored(e, &translate)))
    }

    fn name(&self) -> &str {
        "postgres_semantics"
    }
}
