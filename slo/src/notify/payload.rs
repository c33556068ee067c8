//! The Alertmanager webhook payload (version "4"), as Alertmanager's own webhook
//! notifier sends it: one group (all alerts of one SLO) per request.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use serde::Serialize;

use crate::alerts::{Alert, AlertState, Labels};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    pub version: &'static str,
    pub group_key: String,
    pub truncated_alerts: u64,
    pub status: &'static str,
    pub receiver: String,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: Labels,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: &'static str,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What Alertmanager writes for "no end yet".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Where a user can look at an SLO.
pub fn generator_url(external_url: &str, slo: &str) -> String {
    format!("{}/api/v1/slos/{}", external_url.trim_end_matches('/'), slo)
}

impl WebhookAlert {
    pub fn of(a: &Alert, external_url: &str) -> Self {
        let resolved = a.state == AlertState::Resolved;
        WebhookAlert {
            status: if resolved { "resolved" } else { "firing" },
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: rfc3339(a.fired_at_ms.unwrap_or(a.active_at_ms)),
            ends_at: match a.resolved_at_ms {
                Some(t) if resolved => rfc3339(t),
                _ => ZERO_TIME.to_owned(),
            },
            generator_url: generator_url(external_url, a.slo()),
            fingerprint: a.fingerprint(),
        }
    }
}

/// The message for one receiver and one SLO's alerts.
pub fn message(receiver: &str, slo: &str, alerts: &[&Alert], external_url: &str) -> WebhookMessage {
    let group_labels: Labels = [("slo".to_owned(), slo.to_owned())].into();
    let firing = alerts.iter().any(|a| a.state == AlertState::Firing);
    WebhookMessage {
        version: "4",
        group_key: format!("{{}}:{{slo=\"{slo}\"}}"),
        truncated_alerts: 0,
        status: if firing { "firing" } else { "resolved" },
        receiver: receiver.to_owned(),
        common_labels: common(alerts.iter().map(|a| &a.labels)),
        common_annotations: common(alerts.iter().map(|a| &a.annotations)),
        group_labels,
        external_url: external_url.to_owned(),
        alerts: alerts.iter().map(|a| WebhookAlert::of(a, external_url)).collect(),
    }
}

/// The pairs every map has.
fn common<'a>(mut maps: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = maps.next() else { return BTreeMap::new() };
    let mut out = first.clone();
    for m in maps {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}
