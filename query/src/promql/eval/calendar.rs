//! The calendar functions (`minute`, `hour`, `day_of_week`, `day_of_month`,
//! `day_of_year`, `days_in_month`, `month`, `year`): each value of a vector,
//! read as Unix seconds, broken down in UTC as Prometheus does.

use chrono::{DateTime, Datelike, Months, Timelike, Utc};

pub const FUNCTIONS: [&str; 8] = ["minute", "hour", "day_of_week", "day_of_month", "day_of_year", "days_in_month", "month", "year"];

/// `name` of the time `seconds` after the epoch (whole seconds); NaN when
/// that is no time.
pub fn field(name: &str, seconds: f64) -> f64 {
    let Some(t) = seconds.is_finite().then(|| DateTime::<Utc>::from_timestamp(seconds as i64, 0)).flatten() else { return f64::NAN };
    match name {
        "minute" => t.minute() as f64,
        "hour" => t.hour() as f64,
        "day_of_week" => t.weekday().num_days_from_sunday() as f64,
        "day_of_month" => t.day() as f64,
        "day_of_year" => t.ordinal() as f64,
        "days_in_month" => days_in_month(t),
        "month" => t.month() as f64,
        _ => t.year() as f64,
    }
}

fn days_in_month(t: DateTime<Utc>) -> f64 {
    let first = t.date_naive().with_day(1);
    match first.and_then(|f| Some((f, f.checked_add_months(Months::new(1))?))) {
        Some((first, next)) => (next - first).num_days() as f64,
        None => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_unix_seconds_down_in_utc() {
        // 2024-02-29T13:45:30Z, a Thursday, the 60th day of a leap year.
        let t = 1_709_214_330.0;
        let got: Vec<f64> = FUNCTIONS.iter().map(|f| field(f, t)).collect();
        assert_eq!(got, [45.0, 13.0, 4.0, 29.0, 60.0, 29.0, 2.0, 2024.0]);
        assert_eq!(field("days_in_month", 1_701_388_800.0), 31.0, "2023-12-01");
        assert!(field("hour", f64::NAN).is_nan());
    }
}
