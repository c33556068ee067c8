//! Writes one date and time by a parsed template, as PostgreSQL's `to_char`
//! writes a `timestamp` or `timestamptz`.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::template::{Case, Field, Part};

/// A moment as the template sees it.
pub(super) struct Moment<'a> {
    /// The wall-clock date and time (in the value's time zone, if any).
    pub local: NaiveDateTime,
    /// Seconds east of UTC.
    pub offset_seconds: i32,
    /// The zone's abbreviation (`UTC`, `CET`); empty for a timestamp without a zone.
    pub zone: &'a str,
}

const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const ROMAN: [&str; 12] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];

/// Appends `m` written by `parts` to `out`.
pub(super) fn render(parts: &[Part], m: &Moment<'_>, out: &mut String) {
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Field { field, fill_mode, ordinal } => field_text(*field, *fill_mode, *ordinal, m, out),
        }
    }
}

/// The year as PostgreSQL counts it: no year 0, 1 BC before 1 AD.
fn year_of_era(year: i32) -> i64 {
    if year <= 0 { 1 - i64::from(year) } else { i64::from(year) }
}

fn field_text(field: Field, fill_mode: bool, ordinal: Option<Case>, m: &Moment<'_>, out: &mut String) {
    let t = &m.local;
    let year = year_of_era(t.year());
    let micros = i64::from(t.nanosecond() % 1_000_000_000) / 1000;
    // A number: (value, digits it is padded to).
    let number = match field {
        Field::Hour12 => Some((i64::from((t.hour() + 11) % 12 + 1), 2)),
        Field::Hour24 => Some((i64::from(t.hour()), 2)),
        Field::Minute => Some((i64::from(t.minute()), 2)),
        Field::Second => Some((i64::from(t.second()), 2)),
        Field::Millisecond => Some((micros / 1000, 3)),
        Field::Microsecond => Some((micros, 6)),
        Field::Fraction(n) => Some((micros / 10_i64.pow(6 - u32::from(n)), usize::from(n))),
        Field::SecondOfDay => Some((i64::from(t.num_seconds_from_midnight()), 0)),
        Field::Year(4) => Some((year, 4)),
        Field::Year(n) => Some((year % 10_i64.pow(u32::from(n)), usize::from(n))),
        Field::IsoYear(4) => Some((year_of_era(t.iso_week().year()), 4)),
        Field::IsoYear(n) => Some((year_of_era(t.iso_week().year()) % 10_i64.pow(u32::from(n)), usize::from(n))),
        Field::Month => Some((i64::from(t.month()), 2)),
        Field::DayOfYear => Some((i64::from(t.ordinal()), 3)),
        Field::IsoDayOfYear => Some((i64::from((t.iso_week().week() - 1) * 7 + t.weekday().number_from_monday()), 3)),
        Field::DayOfMonth => Some((i64::from(t.day()), 2)),
        Field::DayOfWeek => Some((i64::from(t.weekday().number_from_sunday()), 1)),
        Field::IsoDayOfWeek => Some((i64::from(t.weekday().number_from_monday()), 1)),
        Field::WeekOfMonth => Some((i64::from((t.day() - 1) / 7 + 1), 1)),
        Field::WeekOfYear => Some((i64::from((t.ordinal() - 1) / 7 + 1), 2)),
        Field::IsoWeek => Some((i64::from(t.iso_week().week()), 2)),
        Field::Century => Some(((year + 99) / 100, 2)),
        Field::JulianDay => Some((i64::from(t.date().num_days_from_ce()) + 1_721_425, 0)),
        Field::Quarter => Some((i64::from((t.month() - 1) / 3 + 1), 1)),
        _ => None,
    };
    if let Some((value, width)) = number {
        let width = if fill_mode { 0 } else { width };
        let _ = write!(out, "{value:0width$}");
        if let Some(case) = ordinal {
            out.push_str(&cased(ordinal_suffix(value), case));
        }
        return;
    }
    let padded = |out: &mut String, name: &str, case: Case, width: usize| {
        let _ = write!(out, "{:<width$}", cased(name, case), width = if fill_mode { 0 } else { width });
    };
    match field {
        Field::Meridiem(case, dots) => {
            let text = match (t.hour() < 12, dots) {
                (true, false) => "AM",
                (false, false) => "PM",
                (true, true) => "A.M.",
                (false, true) => "P.M.",
            };
            out.push_str(&cased(text, case));
        }
        Field::Era(case, dots) => {
            let text = match (t.year() > 0, dots) {
                (true, false) => "AD",
                (false, false) => "BC",
                (true, true) => "A.D.",
                (false, true) => "B.C.",
            };
            out.push_str(&cased(text, case));
        }
        Field::YearWithComma => {
            let _ = write!(out, "{},{:03}", year / 1000, year % 1000);
        }
        Field::MonthName(case) => padded(out, MONTHS[t.month0() as usize], case, 9),
        Field::MonthAbbreviation(case) => out.push_str(&cased(&MONTHS[t.month0() as usize][..3], case)),
        Field::DayName(case) => padded(out, DAYS[t.weekday().num_days_from_sunday() as usize], case, 9),
        Field::DayAbbreviation(case) => out.push_str(&cased(&DAYS[t.weekday().num_days_from_sunday() as usize][..3], case)),
        Field::RomanMonth(case) => padded(out, ROMAN[t.month0() as usize], case, 4),
        Field::TimeZone(case) => out.push_str(&cased(m.zone, case)),
        Field::TimeZoneHours => {
            let _ = write!(out, "{}{:02}", sign(m.offset_seconds), m.offset_seconds.abs() / 3600);
        }
        Field::TimeZoneMinutes => {
            let _ = write!(out, "{:02}", m.offset_seconds.abs() % 3600 / 60);
        }
        Field::Offset => {
            let (hours, minutes) = (m.offset_seconds.abs() / 3600, m.offset_seconds.abs() % 3600 / 60);
            let _ = write!(out, "{}{hours:02}", sign(m.offset_seconds));
            if minutes != 0 {
                let _ = write!(out, ":{minutes:02}");
            }
        }
        _ => {}
    }
}

fn sign(offset_seconds: i32) -> char {
    if offset_seconds < 0 { '-' } else { '+' }
}

/// `st`, `nd`, `rd` or `th`, as English writes the ordinal of `n`.
fn ordinal_suffix(n: i64) -> &'static str {
    match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    }
}

/// `text` (written capitalised, or in upper case) in `case`.
fn cased(text: &str, case: Case) -> String {
    match case {
        Case::Upper => text.to_uppercase(),
        Case::Lower => text.to_lowercase(),
        Case::Capital => text.to_owned(),
    }
}
