//! The analyzer rule of the sessions that run user SQL (HTTP, CLI,
//! PostgreSQL), after type coercion: where DataFusion's meaning of an
//! expression differs from PostgreSQL's, the expression is rewritten to
//! PostgreSQL's ([`super::float_to_int`], [`super::similar_to`]). Columns keep
//! the names they had.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{LogicalPlan, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;

use super::float_to_int::{RoundTiesEven, round_before_cast};
use super::similar_to::{SimilarToRegex, anchored};

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct PostgresSemantics;

impl AnalyzerRule for PostgresSemantics {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let round = Arc::new(ScalarUDF::from(RoundTiesEven::new()));
        let translate = Arc::new(ScalarUDF::from(SimilarToRegex::new()));
        plan.transform_up_with_subqueries(|plan| {
            let schema: Arc<DFSchema> =
                if plan.inputs().is_empty() { Arc::clone(plan.schema()) } else { Arc::new(merge_schema(&plan.inputs())) };
            let names = NamePreserver::new(&plan);
            let rewritten = plan.map_expressions(|expr| {
                let name = names.save(&expr);
                let rewritten = expr.transform_up(|e| round_before_cast(e, schema.as_ref(), &round)?.transform_data(|e| anchored(e, &translate)))?;
                Ok(rewritten.update_data(|e| name.restore(e)))
            })?;
            if !rewritten.transformed {
                return Ok(rewritten);
            }
            rewritten.map_data(|p| p.recompute_schema()).map(|t| Transformed::yes(t.data))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "postgres_semantics"
    }
}
