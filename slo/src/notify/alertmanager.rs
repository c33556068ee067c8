//! Pushing alerts to an Alertmanager (`POST /api/v2/alerts`), as Prometheus
//! does: firing alerts are re-sent on every evaluation with `endsAt` a few
//! intervals ahead (so Alertmanager resolves them itself if toolpulse goes
//! away), resolved ones with their `endsAt` for a while after they resolve.

use std::time::Duration;

use serde::Serialize;

use super::AlertmanagerConfig;
use super::payload::{generator_url, rfc3339};
use crate::alerts::book::RESOLVED_RETENTION_MS;
use crate::alerts::{Alert, AlertState, Labels};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: Labels,
    annotations: Labels,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: String,
}

/// The alerts to post now.
fn postable(alerts: &[Alert], now_ms: i64, interval: Duration, external_url: &str) -> Vec<PostableAlert> {
    let ahead = (4 * interval.as_millis() as i64).max(180_000);
    alerts
        .iter()
        .filter_map(|a| {
            let ends = match (a.state, a.resolved_at_ms) {
                (AlertState::Firing, _) => now_ms + ahead,
                (AlertState::Resolved, Some(t)) if now_ms - t < RESOLVED_RETENTION_MS => t,
                _ => return None,
            };
            Some(PostableAlert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: rfc3339(a.fired_at_ms.unwrap_or(a.active_at_ms)),
                ends_at: rfc3339(ends),
                generator_url: generator_url(external_url, a.slo()),
            })
        })
        .collect()
}

/// Posts the current alerts; returns how many were posted.
pub async fn push(
    client: &reqwest::Client,
    cfg: &AlertmanagerConfig,
    alerts: &[Alert],
    now_ms: i64,
    interval: Duration,
    external_url: &str,
) -> Result<usize, String> {
    let body = postable(alerts, now_ms, interval, external_url);
    if body.is_empty() {
        return Ok(0);
    }
    let url = format!("{}/api/v2/alerts", cfg.url.trim_end_matches('/'));
    let resp = client.post(&url).timeout(cfg.timeout).json(&body).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("HTTP {status}: {text}"));
    }
    Ok(body.len())
}
