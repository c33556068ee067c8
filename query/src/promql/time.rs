//! Parsing the Prometheus HTTP API's time and duration parameters: times as
//! RFC 3339 or Unix seconds with fractions, durations as seconds (`15`, `0.5`)
//! or Prometheus durations (`1m`, `1h30m`, `1m0s`).

use chrono::DateTime;

use super::PromError;

/// A time parameter, in ms since the epoch.
pub fn parse_time(name: &str, s: &str) -> Result<i64, PromError> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    // Prometheus accepts its own min/max time spellings from some clients.
    match t {
        "-292273086-05-16T16:47:06Z" => Ok(i64::MIN / 2),
        "292277025-08-17T07:12:55.807Z" => Ok(i64::MAX / 2),
        _ => Err(PromError::bad_data(format!("invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"))),
    }
}

/// A duration parameter (`step`, `timeout`, `lookback_delta`), in ms.
pub fn parse_duration_param(name: &str, s: &str) -> Result<i64, PromError> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    parse_prom_duration(t)
        .map(|d| d as i64)
        .ok_or_else(|| PromError::bad_data(format!("invalid parameter \"{name}\": cannot parse \"{s}\" to a valid duration")))
}

/// `1h30m`, `5m`, `1m0s`, `500ms`, `2d`, `1w`, `1y` in ms.
pub fn parse_prom_duration(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let bytes = s.as_bytes();
    let (mut i, mut total) = (0, 0u64);
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let n: u64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &s[ustart..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_as_grafana_sends_them() {
        assert_eq!(parse_time("t", "1731312345.678").unwrap(), 1_731_312_345_678);
        assert_eq!(parse_time("t", "2024-11-11T08:05:45.678Z").unwrap(), 1_731_312_345_678);
        assert!(parse_time("t", "yesterday").is_err());
        assert_eq!(parse_duration_param("step", "15").unwrap(), 15_000);
        assert_eq!(parse_duration_param("step", "0.5").unwrap(), 500);
        assert_eq!(parse_duration_param("step", "1m0s").unwrap(), 60_000);
        assert_eq!(parse_prom_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_prom_duration("1x"), None);
    }
}
