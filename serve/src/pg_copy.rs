//! `COPY (query) TO STDOUT` and `COPY table TO STDOUT` over the PostgreSQL
//! endpoint, in text, CSV or binary format: what psql's `\copy … TO 'file'`
//! sends to export a result. The rows stream to the client, encoded by
//! `arrow-pg` as they are for queries; no file on the server is touched
//! (`COPY` to or from a file, or from the client, stays refused).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Query, Statement,
};
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo, Response};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::copy::CopyData;
use futures::StreamExt as _;

use crate::pg_error::{api_error, user_error};
use crate::pg_types::{plan_statement, sendable};

/// Whether `s` is a `COPY … TO STDOUT` this module serves.
pub fn is_copy_to_stdout(s: &Statement) -> bool {
    matches!(s, Statement::Copy { to: true, target: CopyTarget::Stdout, .. })
}

/// How the rows are written, from the statement's options.
#[derive(Debug, Clone, PartialEq)]
enum CopyFormat {
    Text { delimiter: char, null: String },
    Csv { delimiter: char, null: String, header: bool, quote: char, escape: char },
    Binary,
}

impl CopyFormat {
    fn of(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self, String> {
        let (mut format, mut delimiter, mut null, mut header, mut quote, mut escape) = ("text".to_owned(), None, None, false, '"', None);
        for o in options {
            match o {
                CopyOption::Format(f) => format = f.value.to_ascii_lowercase(),
                CopyOption::Delimiter(d) => delimiter = Some(*d),
                CopyOption::Null(n) => null = Some(n.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(q) => quote = *q,
                CopyOption::Escape(e) => escape = Some(*e),
                CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => return Err(format!("COPY option {other} is not supported")),
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Binary => format = "binary".into(),
                CopyLegacyOption::Delimiter(d) => delimiter = Some(*d),
                CopyLegacyOption::Null(n) => null = Some(n.clone()),
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Csv(csv) => {
                    format = "csv".into();
                    for c in csv {
                        match c {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(q) => quote = *q,
                            CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                            other => return Err(format!("COPY option {other} is not supported")),
                        }
                    }
                }
                other => return Err(format!("COPY option {other} is not supported")),
            }
        }
        match format.as_str() {
            "text" => Ok(CopyFormat::Text { delimiter: delimiter.unwrap_or('\t'), null: null.unwrap_or_else(|| "\\N".into()) }),
            "csv" => Ok(CopyFormat::Csv { delimiter: delimiter.unwrap_or(','), null: null.unwrap_or_default(), header, quote, escape: escape.unwrap_or(quote) }),
            "binary" => Ok(CopyFormat::Binary),
            other => Err(format!("COPY format {other:?} is not supported (text, csv or binary)")),
        }
    }

    fn encoder(&self, fields: Arc<Vec<FieldInfo>>) -> CopyEncoder {
        match self {
            CopyFormat::Text { delimiter, null } => {
                CopyEncoder::new_text(fields, CopyTextOptions { delimiter: delimiter.to_string().into(), null_string: null.as_str().into() })
            }
            CopyFormat::Csv { delimiter, null, quote, escape, .. } => CopyEncoder::new_csv(
                fields,
                CopyCsvOptions { delimiter: delimiter.to_string().into(), quote: quote.to_string().into(), escape: escape.to_string().into(), null_string: null.as_str().into(), force_quote: vec![] },
            ),
            CopyFormat::Binary => CopyEncoder::new_binary(fields),
        }
    }
}

/// The query a `COPY` source reads: the query itself, or every (or the
/// listed) column of a table.
fn source_query(source: &CopySource) -> Query {
    match source {
        CopySource::Query(q) => (**q).clone(),
        CopySource::Table { table_name, columns } => {
            let columns = if columns.is_empty() { "*".to_owned() } else { columns.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ") };
            match parse_one(&format!("SELECT {columns} FROM {table_name}")) {
                Statement::Query(q) => *q,
                _ => unreachable!("a SELECT parses as a query"),
            }
        }
    }
}

/// Parses a statement built from a parsed one's parts (so it parses).
fn parse_one(sql: &str) -> Statement {
    use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
    Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("a statement built from parsed parts parses").remove(0)
}

/// The hook; it goes after the read-only check, which lets only
/// `COPY … TO STDOUT` through.
#[derive(Debug)]
pub struct CopyToStdout;

#[async_trait]
impl QueryHook for CopyToStdout {
    async fn handle_simple_query(&self, s: &Statement, ctx: &SessionContext, _: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        let Statement::Copy { source, to: true, target: CopyTarget::Stdout, options, legacy_options, .. } = s else { return None };
        Some(copy_out(source, options, legacy_options, ctx).await)
    }

    async fn handle_extended_parse_query(&self, s: &Statement, _: &SessionContext, _: &(dyn ClientInfo + Send + Sync)) -> Option<PgWireResult<LogicalPlan>> {
        is_copy_to_stdout(s).then(|| Err(user_error("0A000", "COPY … TO STDOUT runs over the simple query protocol only".into())))
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

async fn copy_out(source: &CopySource, options: &[CopyOption], legacy: &[CopyLegacyOption], ctx: &SessionContext) -> PgWireResult<Response> {
    let format = CopyFormat::of(options, legacy).map_err(|m| user_error("0A000", m))?;
    let query = Statement::Query(Box::new(source_query(source)));
    let plan = sendable(&query, plan_statement(&query, ctx).await.map_err(api_error)?).map_err(api_error)?;
    let df = ctx.execute_logical_plan(plan).await.map_err(api_error)?;
    let arrow_schema = Arc::new(df.schema().as_arrow().clone());
    let fields = Arc::new(arrow_schema_to_pg_fields(&arrow_schema, &Format::UnifiedText, None)?);
    let header = match &format {
        CopyFormat::Csv { header: true, delimiter, quote, .. } => Some(csv_header(arrow_schema.fields().iter().map(|f| f.name().as_str()), *delimiter, *quote)),
        _ => None,
    };
    let (code, columns) = (i8::from(format == CopyFormat::Binary), fields.len());
    // One encoder for the whole result: the binary format's header comes once.
    // A CSV header goes in front of the first row, as the client counts
    // messages for its `COPY n` (alone when there is no row).
    let mut encoder = format.encoder(fields.clone());
    let header = Arc::new(Mutex::new(header));
    let pending = header.clone();
    let mut first = true;
    let rows = df.execute_stream().await.map_err(api_error)?.flat_map(move |batch| {
        let rows: Vec<PgWireResult<CopyData>> = match batch {
            Err(e) => vec![Err(api_error(e))],
            Ok(batch) => (0..batch.num_rows())
                .map(|row| {
                    for (c, field) in arrow_schema.fields().iter().enumerate() {
                        encode_value(&mut encoder, batch.column(c), row, field, &fields[c])?;
                    }
                    let data = encoder.take_copy();
                    let header = if std::mem::take(&mut first) { pending.lock().ok().and_then(|mut h| h.take()) } else { None };
                    Ok(match header {
                        Some(h) => CopyData::new([h.data, data.data].concat().into()),
                        None => data,
                    })
                })
                .collect(),
        };
        futures::stream::iter(rows)
    });
    let lone_header = futures::stream::once(async move { header.lock().ok().and_then(|mut h| h.take()).map(Ok) }).filter_map(futures::future::ready);
    Ok(Response::CopyOut(CopyResponse::new(code, columns, rows.chain(lone_header))))
}

/// A CSV header line, each name quoted where it needs to be.
fn csv_header<'a>(names: impl Iterator<Item = &'a str>, delimiter: char, quote: char) -> CopyData {
    let cell = |n: &str| {
        if n.contains([delimiter, quote, '\n', '\r']) { format!("{quote}{}{quote}", n.replace(quote, &format!("{quote}{quote}"))) } else { n.to_owned() }
    };
    let line = names.map(cell).collect::<Vec<_>>().join(&delimiter.to_string()) + "\n";
    CopyData::new(line.into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_of(sql: &str) -> Result<CopyFormat, String> {
        match parse_one(sql) {
            Statement::Copy { options, legacy_options, .. } => CopyFormat::of(&options, &legacy_options),
            other => panic!("{other} is no COPY"),
        }
    }

    #[test]
    fn formats_from_new_and_legacy_options() {
        assert_eq!(format_of("COPY t TO STDOUT"), Ok(CopyFormat::Text { delimiter: '\t', null: "\\N".into() }));
        let csv = CopyFormat::Csv { delimiter: ',', null: String::new(), header: true, quote: '"', escape: '"' };
        assert_eq!(format_of("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)"), Ok(csv.clone()));
        assert_eq!(format_of("COPY (SELECT 1) TO STDOUT CSV HEADER"), Ok(csv));
        assert_eq!(format_of("COPY t TO STDOUT (FORMAT binary)"), Ok(CopyFormat::Binary));
        assert!(format_of("COPY t TO STDOUT (FORMAT parquet)").unwrap_err().contains("not supported"));
    }

    #[test]
    fn only_copy_to_stdout_is_served() {
        assert!(is_copy_to_stdout(&parse_one("COPY (SELECT 1) TO STDOUT")));
        assert!(!is_copy_to_stdout(&parse_one("COPY t TO '/tmp/x'")));
        assert!(!is_copy_to_stdout(&parse_one("COPY t FROM STDIN")));
    }

    #[test]
    fn a_table_source_reads_its_columns() {
        let q = |sql| match parse_one(sql) {
            Statement::Copy { source, .. } => source_query(&source).to_string(),
            _ => unreachable!(),
        };
        assert_eq!(q("COPY tool_calls TO STDOUT"), "SELECT * FROM tool_calls");
        assert_eq!(q("COPY tool_calls (server, tool) TO STDOUT"), "SELECT server, tool FROM tool_calls");
    }
}
