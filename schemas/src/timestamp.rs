//! Event timestamps: RFC 3339 text or integer Unix epoch (milliseconds,
//! microseconds or nanoseconds, told apart by magnitude), as nanoseconds UTC.

use chrono::{DateTime, SecondsFormat, Utc};

/// 2000-01-01T00:00:00Z in nanoseconds: nothing earlier is a plausible tool call.
pub const EARLIEST_NS: i64 = 946_684_800_000_000_000;

/// How an integer epoch is read, by magnitude (any date after 2001 falls in one band).
///
/// | digits | unit |
/// |---|---|
/// | 12–14 (`1e11 ..< 1e14`) | milliseconds |
/// | 15–17 (`1e14 ..< 1e17`) | microseconds |
/// | 18–19 (`>= 1e17`) | nanoseconds |
pub fn epoch_to_ns(v: i64) -> Option<i64> {
    match v {
        100_000_000_000..=99_999_999_999_999 => v.checked_mul(1_000_000),
        100_000_000_000_000..=99_999_999_999_999_999 => v.checked_mul(1_000),
        100_000_000_000_000_000.. => Some(v),
        _ => None,
    }
}

/// Parses RFC 3339 text (`2026-11-25T10:00:00.123Z`, offsets, a space for `T`).
pub fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    let dt = DateTime::parse_from_rfc3339(s).ok()?;
    dt.timestamp_nanos_opt()
}

/// Renders nanoseconds as RFC 3339 UTC with the precision the value needs.
pub fn format_rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The current time in nanoseconds.
pub fn now_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_units_by_magnitude() {
        let ns = 1_764_064_800_123_000_000; // 2025-11-25T10:00:00.123Z
        assert_eq!(epoch_to_ns(1_764_064_800_123), Some(ns));
        assert_eq!(epoch_to_ns(1_764_064_800_123_000), Some(ns));
        assert_eq!(epoch_to_ns(ns), Some(ns));
        assert_eq!(epoch_to_ns(1_764_064_800), None, "seconds are ambiguous and refused");
    }

    #[test]
    fn rfc3339_forms() {
        let a = parse_rfc3339_ns("2025-11-25T10:00:00.123Z").unwrap();
        assert_eq!(parse_rfc3339_ns("2025-11-25T11:00:00.123+01:00"), Some(a));
        assert_eq!(format_rfc3339(a), "2025-11-25T10:00:00.123Z");
        assert_eq!(parse_rfc3339_ns("yesterday"), None);
    }
}
