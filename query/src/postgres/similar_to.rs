//! `x SIMILAR TO pattern` as SQL defines it: the pattern matches the whole
//! string, `%` is any text and `_` any character, `.`, `^` and `$` stand for
//! themselves, and the escape character (`\` unless `ESCAPE` names another)
//! makes the next character literal. DataFusion hands the pattern to the
//! regular-expression engine as it is, so `'abc' SIMILAR TO 'a%'` was false;
//! here the pattern is translated into the regular expression PostgreSQL
//! builds from it, which `regexp_like` then matches.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::error::{DataFusionError, Result};
use datafusion::functions::regex::regexp_like;
use datafusion::logical_expr::expr::Like;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit};
use datafusion::scalar::ScalarValue;

/// The anchored regular expression of a SQL `SIMILAR TO` pattern.
fn regex_of(pattern: &str, escape: Option<char>) -> Result<String> {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_brackets = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            let Some(literal) = chars.next() else {
                return Err(DataFusionError::Plan("SIMILAR TO: the pattern must not end with the escape character".into()));
            };
            out.push_str(&regex::escape(&literal.to_string()));
            continue;
        }
        if in_brackets {
            in_brackets = c != ']';
            out.push(c);
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '[' => {
                in_brackets = true;
                out.push(c);
            }
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// `SIMILAR TO`, made to match as SQL says: `regexp_like(x,
/// similar_to_regex(pattern, escape))`, so that a pattern bound after planning
/// (a parameter of the extended protocol) is translated too, and the rewrite
/// cannot apply twice when the plan is analyzed again once the parameters
/// are bound.
pub(super) fn anchored(expr: Expr, translate: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
    let Expr::SimilarTo(Like { negated, expr, pattern, escape_char, case_insensitive }) = expr else { return Ok(Transformed::no(expr)) };
    let escape = escape_char.unwrap_or('\\').to_string();
    let mut args = vec![*expr, translate.call(vec![*pattern, lit(escape)])];
    if case_insensitive {
        args.push(lit("i"));
    }
    let matches = regexp_like().call(args);
    Ok(Transformed::yes(if negated { !matches } else { matches }))
}

/// `similar_to_regex(pattern, escape)`: the regular expression of a SQL
/// pattern (folded into a constant when the pattern is one).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct SimilarToRegex {
    signature: Signature,
}

impl SimilarToRegex {
    pub(super) fn new() -> Self {
        Self { signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for SimilarToRegex {
    fn name(&self) -> &str {
        "similar_to_regex"
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
        let (patterns, escapes) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
        let mut out = StringBuilder::with_capacity(patterns.len(), patterns.len() * 16);
        for i in 0..patterns.len() {
            if patterns.is_null(i) {
                out.append_null();
                continue;
            }
            let escape = if escapes.is_null(i) { None } else { escapes.value(i).chars().next() };
            out.append_value(regex_of(patterns.value(i), escape)?);
        }
        let out: ArrayRef = Arc::new(out.finish());
        if scalar { ScalarValue::try_from_array(&out, 0).map(ColumnarValue::Scalar) } else { Ok(ColumnarValue::Array(out)) }
    }
}

#[cfg(test)]
mod tests {
    use super::regex_of;

    #[test]
    fn patterns_become_anchored_regular_expressions() {
        assert_eq!(regex_of("a%", None).unwrap(), "^(?:a.*)$");
        assert_eq!(regex_of("a.c_", None).unwrap(), r"^(?:a\.c.)$");
        assert_eq!(regex_of("(get|list)\\_%[0-9]", Some('\\')).unwrap(), r"^(?:(get|list)_.*[0-9])$");
        assert_eq!(regex_of("a#_c", Some('#')).unwrap(), "^(?:a_c)$");
        assert!(regex_of("a\\", Some('\\')).is_err());
    }
}
