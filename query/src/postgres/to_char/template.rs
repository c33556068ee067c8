//! PostgreSQL's template patterns for formatting dates and times (PostgreSQL
//! manual, "Data Type Formatting Functions"): a template read once into
//! [`Part`]s. As in PostgreSQL, the longest pattern at a position wins, the
//! numeric patterns are accepted in upper or lower case while the case of a text
//! pattern (`Month`, `MON`, `day`) is the case of its output, `FM` before a
//! pattern drops its padding, `TH`/`th` after a number adds its ordinal suffix,
//! double-quoted text is copied as it is, and anything else is copied too.

/// How a name is written: `MONTH`, `Month` or `month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Case {
    Upper,
    Capital,
    Lower,
}

/// What a pattern stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Hour12,
    Hour24,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    /// `FF1`…`FF6`: the first n digits of the fraction of a second.
    Fraction(u8),
    SecondOfDay,
    /// AM/PM, with dots (`A.M.`) or without.
    Meridiem(Case, bool),
    /// `Y,YYY`.
    YearWithComma,
    /// The last n digits of the year (4: at least four).
    Year(u8),
    /// The last n digits of the ISO 8601 week-numbering year.
    IsoYear(u8),
    /// AD/BC, with dots or without.
    Era(Case, bool),
    MonthName(Case),
    MonthAbbreviation(Case),
    Month,
    DayName(Case),
    DayAbbreviation(Case),
    DayOfYear,
    IsoDayOfYear,
    DayOfMonth,
    /// `D`: Sunday is 1.
    DayOfWeek,
    /// `ID`: Monday is 1.
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    JulianDay,
    Quarter,
    RomanMonth(Case),
    TimeZone(Case),
    TimeZoneHours,
    TimeZoneMinutes,
    Offset,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    Text(String),
    Field {
        field: Field,
        /// `FM`: no leading zeros or trailing blanks.
        fill_mode: bool,
        /// `TH` (upper) or `th` (lower): an ordinal suffix.
        ordinal: Option<Case>,
    },
}

/// The patterns, the longer before the shorter that starts them.
const PATTERNS: &[(&str, Field)] = {
    use Case::{Capital, Lower, Upper};
    use Field::*;
    &[
        ("A.D.", Era(Upper, true)),
        ("A.M.", Meridiem(Upper, true)),
        ("AD", Era(Upper, false)),
        ("AM", Meridiem(Upper, false)),
        ("B.C.", Era(Upper, true)),
        ("BC", Era(Upper, false)),
        ("DAY", DayName(Upper)),
        ("DY", DayAbbreviation(Upper)),
        ("Day", DayName(Capital)),
        ("Dy", DayAbbreviation(Capital)),
        ("MONTH", MonthName(Upper)),
        ("MON", MonthAbbreviation(Upper)),
        ("Month", MonthName(Capital)),
        ("Mon", MonthAbbreviation(Capital)),
        ("P.M.", Meridiem(Upper, true)),
        ("PM", Meridiem(Upper, false)),
        ("RM", RomanMonth(Upper)),
        ("TZH", TimeZoneHours),
        ("TZM", TimeZoneMinutes),
        ("TZ", TimeZone(Upper)),
        ("a.d.", Era(Lower, true)),
        ("a.m.", Meridiem(Lower, true)),
        ("ad", Era(Lower, false)),
        ("am", Meridiem(Lower, false)),
        ("b.c.", Era(Lower, true)),
        ("bc", Era(Lower, false)),
        ("day", DayName(Lower)),
        ("dy", DayAbbreviation(Lower)),
        ("month", MonthName(Lower)),
        ("mon", MonthAbbreviation(Lower)),
        ("p.m.", Meridiem(Lower, true)),
        ("pm", Meridiem(Lower, false)),
        ("rm", RomanMonth(Lower)),
        ("tzh", TimeZoneHours),
        ("tzm", TimeZoneMinutes),
        ("tz", TimeZone(Lower)),
    ]
};

/// Numeric patterns, matched in upper or in lower case (`YYYY`, `yyyy`), longer first.
const NUMERIC_PATTERNS: &[(&str, Field)] = {
    use Field::*;
    &[
        ("CC", Century),
        ("DDD", DayOfYear),
        ("DD", DayOfMonth),
        ("D", DayOfWeek),
        ("FF1", Fraction(1)),
        ("FF2", Fraction(2)),
        ("FF3", Fraction(3)),
        ("FF4", Fraction(4)),
        ("FF5", Fraction(5)),
        ("FF6", Fraction(6)),
        ("HH24", Hour24),
        ("HH12", Hour12),
        ("HH", Hour12),
        ("IDDD", IsoDayOfYear),
        ("ID", IsoDayOfWeek),
        ("IW", IsoWeek),
        ("IYYY", IsoYear(4)),
        ("IYY", IsoYear(3)),
        ("IY", IsoYear(2)),
        ("I", IsoYear(1)),
        ("J", JulianDay),
        ("MI", Minute),
        ("MM", Month),
        ("MS", Millisecond),
        ("OF", Offset),
        ("Q", Quarter),
        ("SSSSS", SecondOfDay),
        ("SSSS", SecondOfDay),
        ("SS", Second),
        ("US", Microsecond),
        ("WW", WeekOfYear),
        ("W", WeekOfMonth),
        ("Y,YYY", YearWithComma),
        ("YYYY", Year(4)),
        ("YYY", Year(3)),
        ("YY", Year(2)),
        ("Y", Year(1)),
    ]
};

/// The pattern `rest` starts with, and its length.
fn pattern_at(rest: &str) -> Option<(Field, usize)> {
    let exact = PATTERNS.iter().find(|(p, _)| rest.starts_with(p));
    let numeric = NUMERIC_PATTERNS.iter().find(|(p, _)| {
        rest.get(..p.len()).is_some_and(|r| r == *p || r.bytes().zip(p.bytes()).all(|(a, b)| a == b.to_ascii_lowercase()))
    });
    // Both may match (`Dy` and `D`): the longer wins, as in PostgreSQL.
    match (exact, numeric) {
        (Some(e), Some(n)) if n.0.len() > e.0.len() => Some((n.1, n.0.len())),
        (Some(e), _) => Some((e.1, e.0.len())),
        (None, Some(n)) => Some((n.1, n.0.len())),
        (None, None) => None,
    }
}

/// Reads a template into its parts.
pub(super) fn parse(template: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        // Modifiers before a pattern: FM (fill mode); FX and TM change nothing here.
        let mut fill_mode = false;
        let mut after = rest;
        while let Some(prefix) = after.get(..2).filter(|p| ["FM", "FX", "TM"].iter().any(|m| p.eq_ignore_ascii_case(m))) {
            fill_mode |= prefix.eq_ignore_ascii_case("FM");
            after = &after[2..];
        }
        if let Some((field, len)) = pattern_at(after) {
            after = &after[len..];
            let ordinal = match after.get(..2) {
                Some("TH") => Some(Case::Upper),
                Some("th") => Some(Case::Lower),
                _ => None,
            };
            if ordinal.is_some() {
                after = &after[2..];
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Field { field, fill_mode, ordinal });
            rest = after;
            continue;
        }
        match c {
            '"' => {
                // Quoted text, where \" is a quote.
                let mut chars = rest[1..].char_indices();
                let mut end = rest.len();
                while let Some((i, q)) = chars.next() {
                    match q {
                        '\\' => text.extend(chars.next().map(|(_, e)| e)),
                        '"' => {
                            end = i + 2;
                            break;
                        }
                        _ => text.push(q),
                    }
                }
                rest = &rest[end..];
            }
            '\\' if rest[1..].starts_with('"') => {
                text.push('"');
                rest = &rest[2..];
            }
            _ => {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    parts
}
