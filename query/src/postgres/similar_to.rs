//! `x SIMILAR TO pattern` as SQL defines it: the pattern matches the whole
//! string, `%` is any text and `_` any character, `.`, `^` and `$` stand for
//! themselves, and the escape character (`\` unless `ESCAPE` names another)
//! makes the next character literal. DataFusion hands the pattern to the
//! regular-expression engine as it is, so `'abc' SIMILAR TO 'a%'` was false;
//! a constant pattern is translated here into the regular expression
//! PostgreSQL builds from it.

use datafusion::common::tree_node::Transformed;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::Like;
use datafusion::logical_expr::{Expr, lit};
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

/// `SIMILAR TO` with a constant pattern, made to match as SQL says.
pub(super) fn anchored(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::SimilarTo(like) = expr else { return Ok(Transformed::no(expr)) };
    let pattern = match like.pattern.as_ref() {
        Expr::Literal(ScalarValue::Utf8(Some(p)) | ScalarValue::LargeUtf8(Some(p)) | ScalarValue::Utf8View(Some(p)), _) => p.clone(),
        _ => return Ok(Transformed::no(Expr::SimilarTo(like))),
    };
    let escape = like.escape_char.or(Some('\\'));
    let regex = regex_of(&pattern, escape)?;
    Ok(Transformed::yes(Expr::SimilarTo(Like { pattern: Box::new(lit(regex)), escape_char: None, ..like })))
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
