//! The SLO engine's own counters, on the server's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    pub receiver: String,
    pub result: String,
}

#[derive(Clone)]
pub struct SloMetrics {
    pub evaluation_seconds: Histogram,
    pub evaluation_failures: Counter,
    pub notifications: Family<NotificationLabels, Counter>,
    pub slos: Gauge,
    pub firing: Gauge,
}

impl Default for SloMetrics {
    fn default() -> Self {
        SloMetrics {
            evaluation_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            evaluation_failures: Counter::default(),
            notifications: Family::default(),
            slos: Gauge::default(),
            firing: Gauge::default(),
        }
    }
}

impl SloMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register("toolpulse_slo_evaluation_seconds", "Time one SLO evaluation took", self.evaluation_seconds.clone());
        r.register("toolpulse_slo_evaluation_failures", "SLO evaluations that failed", self.evaluation_failures.clone());
        r.register("toolpulse_slo_notifications", "Webhook notifications by receiver and result", self.notifications.clone());
        r.register("toolpulse_slo_specs", "SLOs being evaluated", self.slos.clone());
        r.register("toolpulse_slo_alerts_firing", "Alerts firing now", self.firing.clone());
    }

    pub fn notification(&self, receiver: &str, result: &str) {
        self.notifications.get_or_create(&NotificationLabels { receiver: receiver.into(), result: result.into() }).inc();
    }
}
