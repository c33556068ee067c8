//! Rewriting every expression of a logical plan, the walk shared by the
//! analyzer rules of user SQL ([`crate::id_literals`] and
//! [`crate::postgres::PostgresSemantics`]).

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// `plan` (its subqueries too) with `rewrite` applied bottom-up to every
/// expression, given the schema the expression reads (its node's inputs).
/// Expressions keep the names they had, so columns are named as written.
pub fn rewrite_expressions(plan: LogicalPlan, rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|plan| {
        let schema: Arc<DFSchema> =
            if plan.inputs().is_empty() { Arc::clone(plan.schema()) } else { Arc::new(merge_schema(&plan.inputs())) };
        let names = NamePreserver::new(&plan);
        let rewritten = plan.map_expressions(|expr| {
            let name = names.save(&expr);
            let rewritten = expr.transform_up(|e| rewrite(e, &schema))?;
            Ok(rewritten.update_data(|e| name.restore(e)))
        })?;
        if !rewritten.transformed {
            return Ok(rewritten);
        }
        rewritten.map_data(|p| p.recompute_schema()).map(|t| Transformed::yes(t.data))
    })
    .map(|t| t.data)
}
