//! PostgreSQL's `information_schema` for the PostgreSQL endpoint: `tables`,
//! `columns`, `views` and `schemata` as views over `pg_catalog`, so that column
//! types read as PostgreSQL names them (`timestamp with time zone`, `double
//! precision`, `text`) rather than as Arrow types. Grafana's PostgreSQL query
//! builder picks time columns and numeric aggregations by these names.
//!
//! DataFusion's own `information_schema` (Arrow type names) is turned off in
//! this session only; the HTTP SQL endpoint and the CLI keep it.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

/// The views, in PostgreSQL's column names (the part of them clients read);
/// the catalog is the database `pg_catalog` names, as in PostgreSQL.
const VIEWS: &[(&str, &str)] = &[
    (
        "schemata",
        "SELECT current_database() AS catalog_name, n.nspname AS schema_name, CAST('postgres' AS VARCHAR) AS schema_owner \
         FROM pg_catalog.pg_namespace n",
    ),
    (
        "tables",
        "SELECT current_database() AS table_catalog, n.nspname AS table_schema, c.relname AS table_name, \
         CASE WHEN c.relkind = 'v' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
         WHERE c.relkind IN ('r', 'v')",
    ),
    (
        "views",
        "SELECT current_database() AS table_catalog, n.nspname AS table_schema, c.relname AS table_name \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
         WHERE c.relkind = 'v'",
    ),
    (
        "columns",
        "SELECT current_database() AS table_catalog, n.nspname AS table_schema, c.relname AS table_name, \
         a.attname AS column_name, a.attnum AS ordinal_position, CAST(NULL AS VARCHAR) AS column_default, \
         CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable, \
         CASE WHEN left(t.typname, 1) = '_' THEN 'ARRAY' ELSE format_type(a.atttypid, a.atttypmod) END AS data_type, \
         t.typname AS udt_name \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
         JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         WHERE a.attnum > 0 AND c.relkind IN ('r', 'v')",
    ),
];

/// Replaces DataFusion's `information_schema` in `ctx` (which must already
/// hold `pg_catalog`) with PostgreSQL's.
pub async fn install(ctx: &SessionContext) -> Result<()> {
    ctx.sql("SET datafusion.catalog.information_schema = false").await?;
    ctx.sql("CREATE SCHEMA IF NOT EXISTS information_schema").await?;
    for (name, body) in VIEWS {
        ctx.sql(&format!("CREATE OR REPLACE VIEW information_schema.{name} AS {body}")).await?;
    }
    Ok(())
}
