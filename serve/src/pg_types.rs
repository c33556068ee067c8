//! Result columns that the PostgreSQL encoder (`arrow-pg`) cannot send, made
//! into ones it can: fixed-size binary ids (event, trace and span ids) become
//! `bytea`, maps (`attributes`) JSON text. A query hook plans each query; when
//! its result holds such a column, or a column PostgreSQL would name otherwise
//! ([`crate::pg_column_names`]), it runs the plan under a projection that
//! converts and renames them (simple protocol), hands that plan back to be run
//! (extended protocol, which gets every query's plan from here, so it is
//! planned once), or opens a cursor on it (`DECLARE … CURSOR`, converted
//! only). Other statements pass through untouched.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions as DisplayOptions};
use datafusion::common::{Column, ParamValues, Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Declare, DeclareType, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::api::stmt::StoredStatement;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::types::format::FormatOptions;

use crate::pg_column_names::{output_names, postgres_names};
use crate::pg_error::api_error;

/// The hook; it goes after the read-only check.
#[derive(Debug)]
pub struct SendableTypes;

#[async_trait]
impl QueryHook for SendableTypes {
    async fn handle_simple_query(&self, s: &Statement, ctx: &SessionContext, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        if let Statement::Declare { stmts } = s {
            return declare_cursors(stmts, ctx, client).await;
        }
        // Queries with nothing to convert or rename are left to the library.
        let plan = query_plan(s, ctx).await?;
        let plan = match shaped(s, plan) {
            Ok((plan, true)) => plan,
            Ok((_, false)) => return None,
            Err(e) => return Some(Err(api_error(e))),
        };
        let run = async {
            let df = ctx.execute_logical_plan(plan).await.map_err(api_error)?;
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            encode_dataframe(df, &Format::UnifiedText, Some(options)).await.map(Response::Query)
        };
        Some(run.await)
    }

    async fn handle_extended_parse_query(
        &self,
        s: &Statement,
        ctx: &SessionContext,
        _: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Every query's plan is handed back (the library would plan it the same
        // way), converted and renamed where it needs to be.
        let plan = query_plan(s, ctx).await?;
        Some(sendable(s, plan).map_err(api_error))
    }

    async fn handle_extended_query(
        &self,
        _: &Statement,
        _: &LogicalPlan,
        _: &ParamValues,
        _: &SessionContext,
        _: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }
}

/// `DECLARE … CURSOR FOR query` when a query's result needs converting (else
/// `None`: the library's cursor hook declares it): each cursor is opened on
/// the converted plan, as that hook would open it on the plain one.
async fn declare_cursors(stmts: &[Declare], ctx: &SessionContext, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
    let mut cursors = Vec::with_capacity(stmts.len());
    for d in stmts {
        let (Some(DeclareType::Cursor), Some(name), Some(query)) = (&d.declare_type, d.names.first(), &d.for_query) else { return None };
        let plan = plan_statement(&Statement::Query(query.clone()), ctx).await.ok()?;
        cursors.push((name.value.clone(), query.to_string(), plan));
    }
    if !cursors.iter().any(|(_, _, plan)| needs_conversion(plan)) {
        return None;
    }
    let open = async {
        for (name, sql, plan) in cursors {
            let plan = if needs_conversion(&plan) { projected(plan, None).map_err(api_error)? } else { plan };
            let df = ctx.execute_logical_plan(plan).await.map_err(api_error)?;
            let rows = encode_dataframe(df, &Format::UnifiedText, None).await?;
            let portal = Portal::new_cursor(name.clone(), Arc::new(StoredStatement::new(name, (sql, None), vec![])));
            portal.start(rows).await;
            client.portal_store().put_portal(Arc::new(portal));
        }
        Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
    };
    Some(open.await)
}

/// The plan of statement `s` in `ctx`.
pub async fn plan_statement(s: &Statement, ctx: &SessionContext) -> DfResult<LogicalPlan> {
    ctx.state().statement_to_plan(DfStatement::Statement(Box::new(s.clone()))).await
}

/// The plan of query `s`; `None` when `s` is no query or does not plan (the
/// library then plans it again and reports why).
async fn query_plan(s: &Statement, ctx: &SessionContext) -> Option<LogicalPlan> {
    let Statement::Query(_) = s else { return None };
    plan_statement(s, ctx).await.ok()
}

/// `plan` with its columns named as PostgreSQL names them and converted where
/// the encoder cannot send them, and whether either changed anything (if
/// not, `plan` comes back as it was).
fn shaped(s: &Statement, plan: LogicalPlan) -> DfResult<(LogicalPlan, bool)> {
    let names = postgres_names(s).and_then(|wanted| output_names(&plan, &wanted));
    if names.is_none() && !needs_conversion(&plan) {
        return Ok((plan, false));
    }
    Ok((projected(plan, names)?, true))
}

/// `plan`, shaped (as [`shaped`]) where it needs to be: what any front end of
/// this endpoint runs for query `s`.
pub fn sendable(s: &Statement, plan: LogicalPlan) -> DfResult<LogicalPlan> {
    shaped(s, plan).map(|(plan, _)| plan)
}

/// Whether `plan`'s result holds a column the encoder cannot send.
fn needs_conversion(plan: &LogicalPlan) -> bool {
    plan.schema().fields().iter().any(|f| unsendable(f.data_type()))
}

/// `plan` under one projection converting its unsendable output columns and,
/// with `names`, naming every column.
fn projected(plan: LogicalPlan, names: Option<Vec<String>>) -> DfResult<LogicalPlan> {
    let schema = plan.schema().clone();
    let json = ScalarUDF::from(MapToJson::new());
    let exprs: Vec<Expr> = schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            let column = Expr::Column(Column::from((qualifier, field)));
            let name = names.as_ref().map_or(field.name(), |n| &n[i]);
            match field.data_type() {
                DataType::FixedSizeBinary(_) => cast(column, DataType::Binary).alias(name),
                DataType::Map(..) => json.call(vec![column]).alias(name),
                _ if names.is_some() => column.alias(name),
                _ => column,
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

fn unsendable(t: &DataType) -> bool {
    matches!(t, DataType::FixedSizeBinary(_) | DataType::Map(..))
}

/// A map as a JSON object: each key and value as a JSON string (values as
/// their text), a null value as `null`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MapToJson {
    signature: Signature,
}

impl MapToJson {
    fn new() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for MapToJson {
    fn name(&self) -> &str {
        "map_to_json"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [arg] = args.args.as_slice() else { return exec_err!("map_to_json takes one map") };
        let array = arg.to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(maps_to_json(&array)?))
    }
}

fn maps_to_json(array: &ArrayRef) -> DfResult<ArrayRef> {
    let DataType::Map(..) = array.data_type() else { return exec_err!("map_to_json takes a map, not {}", array.data_type()) };
    let maps = array.as_map();
    let options = DisplayOptions::default();
    let (keys, values) = (ArrayFormatter::try_new(maps.keys(), &options)?, ArrayFormatter::try_new(maps.values(), &options)?);
    let mut out = StringBuilder::with_capacity(maps.len(), maps.len() * 32);
    for row in 0..maps.len() {
        if maps.is_null(row) {
            out.append_null();
            continue;
        }
        let mut object = serde_json::Map::new();
        for entry in maps.value_offsets()[row] as usize..maps.value_offsets()[row + 1] as usize {
            let value = match maps.values().is_null(entry) {
                true => serde_json::Value::Null,
                false => serde_json::Value::String(values.value(entry).to_string()),
            };
            object.insert(keys.value(entry).to_string(), value);
        }
        out.append_value(serde_json::Value::Object(object).to_string());
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{MapBuilder, StringArray};

    use super::*;

    #[test]
    fn maps_become_json_objects() {
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        b.keys().append_value("region");
        b.values().append_value("eu \"west\"");
        b.keys().append_value("retry");
        b.values().append_null();
        b.append(true).unwrap();
        b.append(false).unwrap();
        b.append(true).unwrap();
        let array: ArrayRef = Arc::new(b.finish());
        let json = maps_to_json(&array).unwrap();
        let json = json.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(json.value(0), r#"{"region":"eu \"west\"","retry":null}"#);
        assert!(json.is_null(1));
        assert_eq!(json.value(2), "{}");
    }
}
