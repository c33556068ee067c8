//! `format(template, value, …)`, PostgreSQL's printf: `%s` writes a value as
//! text (NULL as nothing), `%I` as an identifier (double-quoted unless it is a
//! plain lower-case name), `%L` as a literal (single-quoted, NULL as `NULL`),
//! `%%` a percent sign. A specifier may name its value (`%2$s`), be
//! left-justified (`%-10s`) and have a width (`%10s`, or `%*s` from a value).
//! Values are written as PostgreSQL writes them: `t`/`f`, `1` for a whole
//! double, timestamps as `2026-12-07 05:06:07.12+00`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use datafusion::scalar::ScalarValue;

use super::to_char::postgres_text;

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Format {
    signature: Signature,
}

impl Format {
    pub(super) fn new() -> Self {
        Self { signature: Signature::variadic_any(Volatility::Immutable) }
    }
}

fn error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(format!("format: {}", message.into()))
}

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Identifier,
    Literal,
}

/// A value's width: none, fixed, or taken from a value (by position, or the next).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Width {
    None,
    Fixed(usize),
    FromValue(Option<usize>),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Value { position: Option<usize>, left: bool, width: Width, kind: Kind },
}

/// A number at the start of `rest`, and what follows it.
fn number(rest: &str) -> Option<(usize, &str)> {
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok().map(|n| (n, &rest[end..]))
}

/// `n$` at the start of `rest`: a 1-based position.
fn position(rest: &str) -> Result<Option<(usize, &str)>> {
    match number(rest) {
        Some((0, r)) if r.starts_with('$') => Err(error("format specifies argument 0, but arguments are numbered from 1")),
        Some((n, r)) if r.starts_with('$') => Ok(Some((n, &r[1..]))),
        _ => Ok(None),
    }
}

fn parse(template: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        text.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('%') {
            text.push('%');
            rest = r;
            continue;
        }
        let mut value_position = None;
        if let Some((n, r)) = position(rest)? {
            value_position = Some(n);
            rest = r;
        }
        let left = rest.starts_with('-');
        if left {
            rest = &rest[1..];
        }
        let width = if let Some(r) = rest.strip_prefix('*') {
            match position(r)? {
                Some((n, r)) => {
                    rest = r;
                    Width::FromValue(Some(n))
                }
                None => {
                    rest = r;
                    Width::FromValue(None)
                }
            }
        } else if let Some((n, r)) = number(rest) {
            rest = r;
            Width::Fixed(n)
        } else {
            Width::None
        };
        let kind = match rest.chars().next() {
            Some('s') => Kind::Text,
            Some('I') => Kind::Identifier,
            Some('L') => Kind::Literal,
            Some(c) => return Err(error(format!("unrecognized format() type specifier \"{c}\""))),
            None => return Err(error("unterminated format() type specifier")),
        };
        rest = &rest[1..];
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Value { position: value_position, left, width, kind });
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// A double as PostgreSQL writes it: the shortest digits that read back the
/// same, in exponent form below 1e-4 or from 1e15 on (`1e+20`, `1.5e-07`).
fn double_text(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if v != 0.0 && !(-4..15).contains(&exponent) {
        format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
    } else {
        format!("{v}")
    }
}

/// Each value of `values` as PostgreSQL's text.
fn texts(values: &ArrayRef) -> Result<Vec<Option<String>>> {
    if let Some(t) = postgres_text(values)? {
        return Ok(t);
    }
    let n = values.len();
    // Logical nulls: a NULL literal is a null-typed array, which has no null buffer.
    let nulls = values.logical_nulls();
    let valid = |i: usize| nulls.as_ref().is_none_or(|nulls| nulls.is_valid(i));
    Ok(match values.data_type() {
        DataType::Boolean => (0..n).map(|i| valid(i).then(|| if values.as_boolean().value(i) { "t" } else { "f" }.to_owned())).collect(),
        DataType::Float64 => (0..n).map(|i| valid(i).then(|| double_text(values.as_primitive::<Float64Type>().value(i)))).collect(),
        DataType::Float32 => (0..n).map(|i| valid(i).then(|| double_text(f64::from(values.as_primitive::<Float32Type>().value(i))))).collect(),
        _ => {
            let text = cast(values, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            (0..n).map(|i| valid(i).then(|| text.value(i).to_owned())).collect()
        }
    })
}

/// `name` as an SQL identifier: as it is when it is a plain lower-case name.
fn quote_identifier(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { name.to_owned() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// `text` as an SQL literal, in PostgreSQL's escape form when it holds a backslash.
fn quote_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') { format!("E'{}'", quoted.replace('\\', "\\\\")) } else { format!("'{quoted}'") }
}

/// One row: the template's pieces with that row's values.
fn row(pieces: &[Piece], values: &[Vec<Option<String>>], i: usize, out: &mut String) -> Result<()> {
    let mut next = 0;
    let mut take = |position: Option<usize>| -> Result<Option<&str>> {
        let index = position.map_or(next, |p| p - 1);
        next = index + 1;
        values.get(index).map(|v| v[i].as_deref()).ok_or_else(|| error("too few arguments for format()"))
    };
    for piece in pieces {
        let (position, left, width, kind) = match piece {
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Value { position, left, width, kind } => (*position, *left, *width, *kind),
        };
        let (width, left) = match width {
            Width::None => (0, left),
            Width::Fixed(n) => (n, left),
            Width::FromValue(p) => {
                let w: i64 = take(p)?.unwrap_or("0").parse().map_err(|_| error("the width argument must be an integer"))?;
                (w.unsigned_abs() as usize, left || w < 0)
            }
        };
        let value = take(position)?;
        let text = match (kind, value) {
            (Kind::Text, v) => v.unwrap_or_default().to_owned(),
            (Kind::Identifier, Some(v)) => quote_identifier(v),
            (Kind::Identifier, None) => return Err(error("null values cannot be formatted as an SQL identifier")),
            (Kind::Literal, Some(v)) => quote_literal(v),
            (Kind::Literal, None) => "NULL".to_owned(),
        };
        let pad = width.saturating_sub(text.chars().count());
        if !left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(&text);
        if left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
    }
    Ok(())
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some((templates, values)) = arrays.split_first() else { return Err(error("a template is needed")) };
        let templates = cast(templates, &DataType::Utf8)?;
        let templates = templates.as_string::<i32>();
        let values = values.iter().map(texts).collect::<Result<Vec<_>>>()?;
        let mut out = StringBuilder::with_capacity(templates.len(), templates.len() * 16);
        let mut parsed: Option<(&str, Vec<Piece>)> = None;
        let mut text = String::new();
        for i in 0..templates.len() {
            if templates.is_null(i) {
                out.append_null();
                continue;
            }
            let template = templates.value(i);
            if parsed.as_ref().is_none_or(|(t, _)| *t != template) {
                parsed = Some((template, parse(template)?));
            }
            text.clear();
            row(parsed.as_ref().map(|(_, p)| p.as_slice()).unwrap_or_default(), &values, i, &mut text)?;
            out.append_value(&text);
        }
        let out: ArrayRef = Arc::new(out.finish());
        if scalar { ScalarValue::try_from_array(&out, 0).map(ColumnarValue::Scalar) } else { Ok(ColumnarValue::Array(out)) }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::display::array_value_to_string;
    use datafusion::prelude::SessionContext;

    /// PostgreSQL 15's answers to the same calls.
    #[tokio::test]
    async fn formats_as_postgresql_does() {
        let ctx = SessionContext::new();
        super::super::register(&ctx);
        let sql = "SELECT format('%s-%s', 'a', 2), format('%I.%I', 'Abc', 'x y'), format('%L %L', 'it''s', NULL), \
                   format('|%5s|%-5s|', 'ab', 'cd'), format('%2$s %1$s', 'a', 'b'), format('%s%%', 3.5), format('%s', NULL), \
                   format('[%*s]', 4, 'x'), format('%L', 'a\\b'), format('%s %s', true, 1.0), \
                   format('%s', TIMESTAMP '2026-12-07 05:06:07.120' AT TIME ZONE 'UTC')";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let got: Vec<String> = (0..batches[0].num_columns()).map(|c| array_value_to_string(batches[0].column(c), 0).unwrap()).collect();
        let postgres = ["a-2", "\"Abc\".\"x y\"", "'it''s' NULL", "|   ab|cd   |", "b a", "3.5%", "", "[   x]", "E'a\\\\b'", "t 1", "2026-12-07 05:06:07.12+00"];
        assert_eq!(got, postgres);
        let doubles: Vec<String> = [1e14, 1e15, 1e16, 123456789012345678.0, 0.0001, 0.00001, 1.5e-7, 12345.678, -1e15, 1.2345e15].map(super::double_text).into();
        assert_eq!(doubles, ["100000000000000", "1e+15", "1e+16", "1.2345678901234568e+17", "0.0001", "1e-05", "1.5e-07", "12345.678", "-1e+15", "1.2345e+15"]);
        let err = ctx.sql("SELECT format('%s %s', 'a')").await.unwrap().collect().await.unwrap_err();
        assert!(err.to_string().contains("too few arguments for format()"), "{err}");
        let err = ctx.sql("SELECT format('%x', 'a')").await.unwrap().collect().await.unwrap_err();
        assert!(err.to_string().contains("unrecognized format() type specifier \"x\""), "{err}");
    }
}
