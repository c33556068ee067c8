//! PostgreSQL's SQL where DataFusion lacks it or answers otherwise, so that SQL
//! written for PostgreSQL (psql, Grafana's PostgreSQL data source) gives
//! PostgreSQL's answers over HTTP and the PostgreSQL protocol alike:
//!
//! - the ordered-set aggregates `percentile_disc` and `mode` ([`ordered_set`]);
//! - `to_char` with PostgreSQL's date/time templates ([`to_char`]);
//! - `width_bucket` ([`width_bucket`]), `format` ([`format`]), `mod` and `div`
//!   ([`mod_div`]), and the names `variance` (`var_samp`) and `every` (`bool_and`);
//! - casts from floats to integers that round rather than truncate
//!   ([`float_to_int`]), and `SIMILAR TO` that matches the whole string with
//!   SQL's wildcards ([`similar_to`]): rewrites of [`PostgresSemantics`], a rule
//!   of the sessions running user SQL.
//!
//! Each is checked against a real PostgreSQL server holding the same rows
//! (`tests/pg_functions.rs`).

mod float_to_int;
mod format;
mod mod_div;
mod ordered_set;
mod semantics;
mod similar_to;
mod to_char;
mod width_bucket;

use datafusion::functions_aggregate::bool_and_or::bool_and_udaf;
use datafusion::functions_aggregate::variance::var_samp_udaf;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use semantics::PostgresSemantics;

/// Registers the functions.
pub fn register(ctx: &SessionContext) {
    ordered_set::register(ctx);
    to_char::register(ctx);
    ctx.register_udf(ScalarUDF::from(width_bucket::WidthBucket::new()));
    ctx.register_udf(ScalarUDF::from(format::Format::new()));
    for operation in [mod_div::Operation::Mod, mod_div::Operation::Div] {
        ctx.register_udf(ScalarUDF::from(mod_div::ModDiv::new(operation)));
    }
    let renamed = |udaf: std::sync::Arc<AggregateUDF>, alias: &'static str| udaf.as_ref().clone().with_aliases([alias]);
    ctx.register_udaf(renamed(var_samp_udaf(), "variance"));
    ctx.register_udaf(renamed(bool_and_udaf(), "every"));
}
