//! Lets user SQL compare the binary id columns with the text users hold:
//! `event_id = '3f635fd3-ae03-4b08-898b-c27541fc61c7'` (an id as it was sent,
//! a UUID or any other text, matched through the 16-byte key it is stored
//! under) and `trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'` or `span_id IN
//! (…)` (W3C ids in hex). DataFusion's type coercion cannot compare
//! fixed-size binary with text, so this analyzer rule runs before it and turns
//! such string literals into the stored bytes: the comparison is exact, and
//! the Parquet reader prunes with it.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator, lit};
use datafusion::optimizer::AnalyzerRule;
use datafusion::arrow::datatypes::DataType;
use toolpulse_schemas::EventId;
use toolpulse_schemas::ids::parse_hex;
use toolpulse_schemas::arrow_schema::col::EVENT_ID;

use crate::plan_rewrite::rewrite_expressions;

/// The analyzer rule; it belongs before type coercion.
#[derive(Debug, Default)]
pub struct IdLiterals;

impl AnalyzerRule for IdLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, id_literals)
    }

    fn name(&self) -> &str {
        "id_literals"
    }
}

/// `e` with the text literals it compares an id column with as that column's bytes.
fn id_literals(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            match (id_column(&left, schema), id_column(&right, schema), text(&left), text(&right)) {
                (Some((name, width)), _, _, Some(t)) => {
                    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(left, op, Box::new(id_bytes(&name, width, &t)?)))))
                }
                (_, Some((name, width)), Some(t), _) => {
                    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(Box::new(id_bytes(&name, width, &t)?), op, right))))
                }
                _ => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
            }
        }
        Expr::InList(InList { expr, list, negated }) => match id_column(&expr, schema) {
            Some((name, width)) if !list.is_empty() && list.iter().all(|i| text(i).is_some()) => {
                let list = list.iter().filter_map(text).map(|t| id_bytes(&name, width, &t)).collect::<Result<Vec<_>>>()?;
                Ok(Transformed::yes(Expr::InList(InList { expr, list, negated })))
            }
            _ => Ok(Transformed::no(Expr::InList(InList { expr, list, negated }))),
        },
        other => Ok(Transformed::no(other)),
    }
}

fn is_comparison(op: Operator) -> bool {
    use Operator::*;
    matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom)
}

/// The name and width of a fixed-size binary column.
fn id_column(e: &Expr, schema: &DFSchema) -> Option<(String, i32)> {
    let Expr::Column(c) = e else { return None };
    match schema.qualified_field_from_column(c).ok()?.1.data_type() {
        DataType::FixedSizeBinary(width) => Some((c.name.clone(), *width)),
        _ => None,
    }
}

/// The text of a non-null string literal.
fn text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(t)) | ScalarValue::Utf8View(Some(t)) | ScalarValue::LargeUtf8(Some(t)), _) => Some(t.clone()),
        _ => None,
    }
}

/// The stored bytes of the id `text` in column `name`: an event id's key, or
/// the bytes of a W3C id written in hex.
fn id_bytes(name: &str, width: i32, text: &str) -> Result<Expr> {
    let bytes = match width {
        16 if name == EVENT_ID => Some(EventId::parse(text).key().to_vec()),
        16 => parse_hex::<16>(text.trim()).map(Vec::from),
        8 => parse_hex::<8>(text.trim()).map(Vec::from),
        _ => None,
    };
    match bytes {
        Some(b) => Ok(lit(ScalarValue::FixedSizeBinary(width, Some(b)))),
        None => plan_err!("{name} holds {width}-byte ids: compare it with {} hex digits, not {text:?}", 2 * width),
    }
}
