//! Durations as SLO windows are written everywhere they are shown (`5m`, `1h`,
//! `1d`): in metric labels, alert texts, the `slo_status` table and the JSON
//! status, so one window reads the same in each.

use std::time::Duration;

/// `1h`, `5m`, `1d` as people write them (the largest unit that divides it).
pub fn human(d: Duration) -> String {
    match d.as_secs() {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Serializes a duration as [`human`] writes it (`#[serde(serialize_with = …)]`).
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&human(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_whole_unit() {
        let text = |secs| human(Duration::from_secs(secs));
        assert_eq!([text(300), text(3600), text(5400), text(86_400), text(259_200), text(90), text(0)], ["5m", "1h", "90m", "1d", "3d", "90s", "0s"]);
    }
}
