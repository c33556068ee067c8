//! `to_char(timestamp, template)` that understands PostgreSQL's templates
//! (`'YYYY-MM-DD HH24:MI'`, `'FMDay, DDth Month'`), which SQL written for
//! PostgreSQL and Grafana's PostgreSQL data source use. DataFusion's own
//! `to_char` reads strftime formats only and gives a PostgreSQL template back
//! as it is, so a template holding `%` still goes to it unchanged (`'%Y-%m-%d'`
//! keeps working); any other template is read as PostgreSQL reads it
//! ([`template`]) and written as PostgreSQL writes it ([`render`]), in the
//! value's time zone.

mod render;
mod template;

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Offset as _, TimeZone as _};
use chrono_tz::OffsetName as _;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use render::{Moment, render};
use template::{Part, parse};

/// Registers `to_char` (and its other name, `date_format`) in place of
/// DataFusion's, which it calls for strftime formats.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(ToChar::new()));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    strftime: Arc<ScalarUDF>,
    signature: Signature,
    aliases: Vec<String>,
}

impl ToChar {
    fn new() -> Self {
        let strftime = datafusion::functions::datetime::to_char();
        let signature = strftime.signature().clone();
        // DataFusion's function goes by both names: taking both leaves it in
        // no registry entry, so that a session copied from this one (whose
        // functions are registered again, in any order) cannot get it back
        // under `to_char`.
        let aliases = strftime.aliases().to_vec();
        Self { strftime, signature, aliases }
    }
}

/// Whether the templates are strftime formats (hold `%`), for DataFusion's `to_char`.
fn is_strftime(templates: &ColumnarValue) -> bool {
    match templates {
        ColumnarValue::Scalar(s) => matches!(s, ScalarValue::Utf8(Some(t)) if t.contains('%')),
        ColumnarValue::Array(a) => a.as_string_opt::<i32>().is_some_and(|a| a.iter().flatten().all(|t| t.contains('%'))),
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [values, templates] = args.args.as_slice() else {
            return Err(DataFusionError::Plan("to_char takes a value and a template".into()));
        };
        if is_strftime(templates) {
            return self.strftime.invoke_with_args(args);
        }
        let scalar = matches!((values, templates), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let formatted = format_all(&values.to_array(args.number_rows)?, &templates.to_array(args.number_rows)?)?;
        if scalar { ScalarValue::try_from_array(&formatted, 0).map(ColumnarValue::Scalar) } else { Ok(ColumnarValue::Array(formatted)) }
    }
}

/// The zone a timestamp column is written in: its offset at a moment, and
/// its abbreviation (`UTC`, `CET`, or the offset itself for a fixed one).
enum Zone {
    None,
    Named(chrono_tz::Tz),
    Fixed(FixedOffset, String),
}

impl Zone {
    fn of(data_type: &DataType) -> Result<Self> {
        let DataType::Timestamp(_, Some(name)) = data_type else { return Ok(Zone::None) };
        if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Named(tz));
        }
        let fixed = name.parse::<FixedOffset>().map_err(|e| DataFusionError::Execution(format!("to_char: time zone {name:?}: {e}")))?;
        Ok(Zone::Fixed(fixed, name.to_string()))
    }

    /// Writes the moment `micros` (µs since the epoch, UTC) in this zone.
    fn write(&self, parts: &[Part], micros: i64, out: &mut String) -> Result<()> {
        let utc = DateTime::from_timestamp_micros(micros).ok_or_else(|| DataFusionError::Execution(format!("to_char: timestamp {micros} µs is out of range")))?.naive_utc();
        let named;
        let (offset, zone) = match self {
            Zone::None => (FixedOffset::east_opt(0).expect("zero offset"), ""),
            Zone::Named(tz) => {
                named = tz.offset_from_utc_datetime(&utc);
                (named.fix(), named.abbreviation().unwrap_or_default())
            }
            Zone::Fixed(offset, name) => (*offset, name.as_str()),
        };
        let moment = Moment { local: utc + offset, offset_seconds: offset.local_minus_utc(), zone };
        render(parts, &moment, out);
        Ok(())
    }
}

/// Timestamps and dates as PostgreSQL writes them as text (`2026-12-07
/// 05:06:07.12+00`, `2026-12-07`), for functions that print values; `None`
/// for other types.
pub(super) fn postgres_text(values: &ArrayRef) -> Result<Option<Vec<Option<String>>>> {
    let template = match values.data_type() {
        DataType::Date32 | DataType::Date64 => "YYYY-MM-DD",
        DataType::Timestamp(_, None) => "YYYY-MM-DD HH24:MI:SS.US",
        DataType::Timestamp(_, Some(_)) => "YYYY-MM-DD HH24:MI:SS.US|OF",
        _ => return Ok(None),
    };
    let templates: ArrayRef = Arc::new(StringArray::from(vec![template; values.len()]));
    let written = format_all(values, &templates)?;
    let written = written.as_string::<i32>();
    // The fraction without trailing zeros, and without its point when nothing is left.
    let trimmed = |text: &str| {
        let (moment, offset) = text.split_once('|').unwrap_or((text, ""));
        let (clock, fraction) = moment.split_once('.').unwrap_or((moment, ""));
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() { format!("{clock}{offset}") } else { format!("{clock}.{fraction}{offset}") }
    };
    Ok(Some((0..written.len()).map(|i| written.is_valid(i).then(|| trimmed(written.value(i)))).collect()))
}

/// Each value written by its row's template.
fn format_all(values: &ArrayRef, templates: &ArrayRef) -> Result<ArrayRef> {
    let zone = Zone::of(values.data_type())?;
    let micros = match values.data_type() {
        DataType::Timestamp(_, tz) => cast(values, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?,
        DataType::Date32 | DataType::Date64 => cast(values, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
        other => {
            return Err(DataFusionError::Plan(format!(
                "to_char: a PostgreSQL template formats a timestamp or a date, not {other}; give a strftime format (with %) instead"
            )));
        }
    };
    let micros = micros.as_primitive::<TimestampMicrosecondType>();
    let templates = cast(templates, &DataType::Utf8)?;
    let templates = templates.as_string::<i32>();
    let mut out = StringBuilder::with_capacity(micros.len(), micros.len() * 24);
    let mut parsed: Option<(&str, Vec<Part>)> = None;
    let mut text = String::new();
    for i in 0..micros.len() {
        if micros.is_null(i) || templates.is_null(i) {
            out.append_null();
            continue;
        }
        let template = templates.value(i);
        if parsed.as_ref().is_none_or(|(t, _)| *t != template) {
            parsed = Some((template, parse(template)));
        }
        let parts = parsed.as_ref().map(|(_, p)| p.as_slice()).unwrap_or_default();
        text.clear();
        zone.write(parts, micros.value(i), &mut text)?;
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests;
