//! Burn-rate scenarios with the expected figures worked out by hand.

use std::time::Duration;

use super::*;
use crate::counts::{MinuteSeries, Slot};
use crate::spec::{Alerting, Period, Sli};

const MIN: i64 = 60_000;

fn spec(objective: f64) -> SloSpec {
    SloSpec {
        name: "s".into(),
        description: String::new(),
        selector: Default::default(),
        sli: Sli::success_rate(),
        objective,
        period: Period::Rolling(Duration::from_secs(30 * 86_400)),
        budgeting: Budgeting::Occurrences,
        alerting: Alerting::default(),
        labels: Default::default(),
        source: String::new(),
    }
}

/// `calls` per minute over minutes `[from, to)`, of which `bad` fail.
fn fill(series: &mut MinuteSeries, from: i64, to: i64, calls: u64, bad: u64) {
    let slots: Vec<(i64, Slot)> = (from..to).map(|m| (m, Slot { good: calls - bad, bad, events: calls })).collect();
    series.replace(from, to, slots);
}

fn pair(st: &SloStatus, long_h: u64) -> &PairStatus {
    st.pairs.iter().find(|p| p.long == Duration::from_secs(long_h * 3600)).unwrap()
}

#[test]
fn two_percent_errors_for_an_hour_on_999_pages_and_recovery_resolves() {
    let s = spec(0.999);
    let mut series = MinuteSeries::default();
    let t0 = 1_000_000; // minute index
    // A clean day at 1000 calls/min, then an hour at 2% errors (20 of 1000 per minute).
    fill(&mut series, t0 - 1440, t0, 1000, 0);
    fill(&mut series, t0, t0 + 60, 1000, 20);
    let now = (t0 + 59) * MIN + 30_000;
    let st = evaluate(&s, &series, now);
    // 1h window: 1200 bad of 60000 = 2% → burn 2% / 0.1% = 20.
    let h1 = st.window(Duration::from_secs(3600)).unwrap();
    assert_eq!((h1.bad, h1.good + h1.bad), (1200, 60_000));
    assert!((h1.burn_rate - 20.0).abs() < 1e-9, "1h burn {}", h1.burn_rate);
    assert!((st.window(Duration::from_secs(300)).unwrap().burn_rate - 20.0).abs() < 1e-9);
    // 20 > 14.4 on both 1h and 5m: the fast page pair burns.
    assert!(pair(&st, 1).burning);
    // 6h: 1200 bad of 360000 = 0.333% → burn 3.33 < 6; the 30m window burns 20. Not both.
    let p6 = pair(&st, 6);
    assert!((p6.long_burn_rate - 1200.0 / 360_000.0 / 0.001).abs() < 1e-9);
    assert!(!p6.burning);
    // 1d: 1200 / 1440000 → 0.83 < 3: no ticket.
    assert!(!pair(&st, 24).burning);
    // Budget over 30 days (25 hours of data): allowed 0.1% of 1,500,000 calls = 1500 bad; 1200 spent.
    assert!((st.budget.allowed_bad - 1500.0).abs() < 1e-6);
    assert!((st.budget.remaining - 0.2).abs() < 1e-9);

    // Ten clean minutes: the 5m window is clean again, so the page pair stops burning.
    fill(&mut series, t0 + 60, t0 + 70, 1000, 0);
    let st = evaluate(&s, &series, (t0 + 69) * MIN + 30_000);
    assert_eq!(st.window(Duration::from_secs(300)).unwrap().burn_rate, 0.0);
    // The 1h window still holds 50 error minutes: 1000 of 60000 → burn 16.7.
    assert!((pair(&st, 1).long_burn_rate - 1000.0 / 60_000.0 / 0.001).abs() < 1e-9);
    assert!(!pair(&st, 1).burning);
}

#[test]
fn low_traffic_guard_keeps_a_pair_quiet() {
    let mut s = spec(0.99);
    s.alerting.min_events = 100;
    let mut series = MinuteSeries::default();
    let t0 = 5_000;
    // One call every minute for an hour, half of the last ten failing: 5 bad of 60.
    fill(&mut series, t0, t0 + 50, 1, 0);
    fill(&mut series, t0 + 50, t0 + 60, 1, 1);
    let st = evaluate(&s, &series, (t0 + 59) * MIN);
    let p = pair(&st, 1);
    // Burn: 1h = (10/60)/0.01 = 16.7 > 14.4; 5m = (5/5)/0.01 = 100 — but only 60 calls < 100.
    assert!(p.long_burn_rate > 14.4 && p.short_burn_rate > 14.4);
    assert!(p.low_traffic && !p.burning);
    s.alerting.min_events = 60;
    assert!(pair(&evaluate(&s, &series, (t0 + 59) * MIN), 1).burning);
}

#[test]
fn no_data_after_the_configured_quiet_time() {
    let s = spec(0.999);
    let mut series = MinuteSeries::default();
    let t0 = 9_000;
    fill(&mut series, t0, t0 + 30, 10, 0);
    // 14 quiet minutes after the last call: still within the 15-minute window.
    assert!(!evaluate(&s, &series, (t0 + 29 + 14) * MIN).no_data);
    // 15 quiet minutes: the window (t-15m, t] holds nothing.
    assert!(evaluate(&s, &series, (t0 + 29 + 15) * MIN).no_data);
    let fresh = evaluate(&s, &MinuteSeries::default(), t0 * MIN);
    assert!(fresh.no_data && fresh.budget.remaining == 1.0);
}

#[test]
fn timeslices_count_bad_slices_over_the_window() {
    let mut s = spec(0.99);
    s.sli = Sli::LatencyPercentile { percentile: 0.99, threshold_ms: 500.0, outcomes: crate::spec::OutcomeSet::ALL };
    s.budgeting = Budgeting::Timeslices { slice: Duration::from_secs(60), target: 0.99 };
    let mut series = MinuteSeries::default();
    let t0 = 20_000;
    // Slices are judged when refreshed; here 3 bad slices in the last hour.
    let slots: Vec<(i64, Slot)> =
        (t0..t0 + 60).map(|m| (m, if m >= t0 + 57 { Slot { good: 0, bad: 1, events: 9 } } else { Slot { good: 1, bad: 0, events: 9 } })).collect();
    series.replace(t0, t0 + 60, slots);
    let st = evaluate(&s, &series, (t0 + 59) * MIN);
    // 1h: 3 of 60 slices bad = 5% → burn 5; 5m: 3 of 5 = 60% → burn 60.
    assert!((st.window(Duration::from_secs(3600)).unwrap().burn_rate - 5.0).abs() < 1e-9);
    assert!((st.window(Duration::from_secs(300)).unwrap().burn_rate - 60.0).abs() < 1e-9);
    // Budget: 1% of the 43200 slices of 30 days = 432; 3 spent.
    assert!((st.budget.remaining - (1.0 - 3.0 / 432.0)).abs() < 1e-9);
}
