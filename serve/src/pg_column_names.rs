//! Result column names as PostgreSQL gives them, for the PostgreSQL endpoint.
//! DataFusion names an unaliased expression by its text (`count(*)`,
//! `Int64(1)`); PostgreSQL by a rule of its own (`FigureColname`): a column
//! by its name, a function call by the function's name (`count`), a cast by
//! what it casts, `CASE` as `case`, anything else `?column?`. A client that
//! reads columns by name (psycopg's dict rows, pandas, Grafana) expects those.
//!
//! Only queries whose select list has no wildcard are renamed, and a name is
//! kept where the new one would repeat another column's (DataFusion's plans
//! need unique names, where PostgreSQL allows repeats). The projection that
//! applies the names is [`crate::pg_types`]'s.

use std::collections::HashSet;

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{self, Ident, ObjectNamePart, SelectItem, SetExpr, Statement};

/// PostgreSQL's name for each output column of query `s`, `None` where the
/// query names it itself (an alias); `None` overall when `s` is not a query
/// or its select list has a wildcard.
pub fn postgres_names(s: &Statement) -> Option<Vec<Option<String>>> {
    let Statement::Query(q) = s else { return None };
    select_items(&q.body)?
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) => Some(Some(figure(e).unwrap_or_else(|| "?column?".into()))),
            SelectItem::ExprWithAlias { .. } => Some(None),
            _ => None,
        })
        .collect()
}

/// The names `plan`'s output columns get: `names` where given, unless one
/// would repeat another column's name; `None` when no name changes.
pub fn output_names(plan: &LogicalPlan, names: &[Option<String>]) -> Option<Vec<String>> {
    let schema = plan.schema();
    if schema.fields().len() != names.len() {
        return None;
    }
    let current: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut chosen = Vec::with_capacity(names.len());
    for (now, wanted) in current.iter().zip(names) {
        let name = match wanted {
            Some(w) if !taken.contains(w) && !current.iter().any(|c| c == w && c != now) => w.clone(),
            _ => (*now).to_owned(),
        };
        taken.insert(name.clone());
        chosen.push(name);
    }
    (!chosen.iter().zip(&current).all(|(c, now)| c == now)).then_some(chosen)
}

/// The select list that names a query's columns (a set operation's first).
fn select_items(body: &SetExpr) -> Option<&[SelectItem]> {
    match body {
        SetExpr::Select(s) => Some(&s.projection),
        SetExpr::Query(q) => select_items(&q.body),
        SetExpr::SetOperation { left, .. } => select_items(left),
        _ => None,
    }
}

/// An identifier as PostgreSQL folds it: unquoted ones to lower case.
fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() { i.value.clone() } else { i.value.to_lowercase() }
}

/// `FigureColname`'s answer for `e`, `None` for `?column?`.
fn figure(e: &ast::Expr) -> Option<String> {
    use ast::Expr as E;
    match e {
        E::Identifier(i) => Some(folded(i)),
        E::CompoundIdentifier(parts) => parts.last().map(folded),
        E::Function(f) => match f.name.0.last()? {
            ObjectNamePart::Identifier(i) => Some(folded(i)),
            _ => None,
        },
        E::Cast { expr, data_type, .. } => figure(expr).or_else(|| Some(type_name(data_type))),
        E::Nested(inner) | E::Collate { expr: inner, .. } => figure(inner),
        E::Case { .. } => Some("case".into()),
        E::Exists { .. } => Some("exists".into()),
        E::Array(_) => Some("array".into()),
        E::Tuple(_) => Some("row".into()),
        E::Subquery(q) => match select_items(&q.body)?.first()? {
            SelectItem::UnnamedExpr(inner) => figure(inner),
            SelectItem::ExprWithAlias { alias, .. } => Some(folded(alias)),
            _ => None,
        },
        E::Extract { .. } => Some("extract".into()),
        E::Substring { .. } => Some("substring".into()),
        E::Position { .. } => Some("position".into()),
        E::Overlay { .. } => Some("overlay".into()),
        E::Trim { .. } => Some("btrim".into()),
        E::Ceil { .. } => Some("ceil".into()),
        E::Floor { .. } => Some("floor".into()),
        E::TypedString(t) => Some(type_name(&t.data_type)),
        E::Interval(_) => Some("interval".into()),
        E::AtTimeZone { .. } => Some("timezone".into()),
        _ => None,
    }
}

/// PostgreSQL's internal name of a cast's type, as `FigureColname` uses it.
fn type_name(t: &ast::DataType) -> String {
    use ast::DataType as T;
    match t {
        T::Int(_) | T::Integer(_) | T::Int4(_) => "int4".into(),
        T::BigInt(_) | T::Int8(_) => "int8".into(),
        T::SmallInt(_) | T::Int2(_) => "int2".into(),
        T::Double(_) | T::DoublePrecision | T::Float8 => "float8".into(),
        T::Real | T::Float4 => "float4".into(),
        T::Boolean | T::Bool => "bool".into(),
        T::Text => "text".into(),
        T::Varchar(_) | T::CharacterVarying(_) => "varchar".into(),
        T::Timestamp(_, ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz) => "timestamptz".into(),
        T::Timestamp(..) => "timestamp".into(),
        T::Numeric(_) | T::Decimal(_) => "numeric".into(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn names(sql: &str) -> Option<Vec<Option<String>>> {
        postgres_names(&Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap()[0])
    }

    fn some(v: &[&str]) -> Option<Vec<Option<String>>> {
        Some(v.iter().map(|s| Some((*s).to_owned())).collect())
    }

    #[test]
    fn names_follow_figure_colname() {
        assert_eq!(names("SELECT 1"), some(&["?column?"]));
        assert_eq!(names("SELECT server, COUNT(*), avg(t.duration_ms), max(x) + 1 FROM t GROUP BY 1"), some(&["server", "count", "avg", "?column?"]));
        assert_eq!(names("SELECT CAST(x AS INT), '1'::int, \"Mixed\", date_trunc('minute', ts), CASE WHEN a THEN 1 END FROM t"), some(&["x", "int4", "Mixed", "date_trunc", "case"]));
        assert_eq!(names("SELECT (SELECT max(v) FROM u), EXISTS (SELECT 1), now() AT TIME ZONE 'UTC'"), some(&["max", "exists", "timezone"]));
        assert_eq!(names("SELECT count(*) AS n, sum(v) FROM t"), Some(vec![None, Some("sum".into())]));
        assert_eq!(names("SELECT a FROM t UNION ALL SELECT b FROM u"), some(&["a"]));
        assert_eq!(names("SELECT * FROM t"), None);
        assert_eq!(names("SELECT t.*, count(*) FROM t"), None);
        assert_eq!(names("SHOW search_path"), None);
    }
}
