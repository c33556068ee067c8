//! Alerts: what each SLO's status asks for ([`rules`]), and their lifecycle,
//! delivery bookkeeping and persistence ([`book`]).
//!
//! Three alerts per SLO: `SLOBurnRate` (one per severity of its window pairs),
//! `SLOErrorBudgetExhausted` and `SLONoData`. Every alert carries the labels
//! `alertname`, `slo`, `severity`, `sli`, plus the SLO's labels.

pub mod book;
pub mod rules;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use book::AlertBook;

pub type Labels = BTreeMap<String, String>;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, but not yet for the rule's `for`.
    Pending,
    Firing,
    /// It fired and its condition no longer holds.
    Resolved,
}

/// What a receiver was last told about an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The episode (its `active_at_ms`) the delivery was about.
    pub episode: i64,
    pub resolved: bool,
    pub at_ms: i64,
}

/// One alert instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    /// When the condition started to hold (this episode).
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    /// The figure behind it (burn rate, budget remaining, …).
    pub value: f64,
    /// Receiver name → what it last got.
    #[serde(default)]
    pub delivered: BTreeMap<String, Delivery>,
}

impl Alert {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.labels)
    }

    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    pub fn slo(&self) -> &str {
        self.labels.get("slo").map_or("", String::as_str)
    }

    /// Whether `receiver` still has to hear of this alert's current state.
    pub fn undelivered_to(&self, receiver: &str) -> bool {
        let last = self.delivered.get(receiver);
        match self.state {
            AlertState::Pending => false,
            AlertState::Firing => last.is_none_or(|d| d.episode != self.active_at_ms || d.resolved),
            // Only a receiver that heard of the firing needs the resolve.
            AlertState::Resolved => last.is_some_and(|d| d.episode == self.active_at_ms && !d.resolved),
        }
    }
}

/// The labels' fingerprint as Prometheus computes it (FNV-1a 64 over sorted
/// name, 0xff, value, 0xff), in 16 hex digits.
pub fn fingerprint(labels: &Labels) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}
