//! Webhook delivery. One task per receiver, level-triggered: whenever the alert
//! book changes (or a retry or repeat is due), it sends each SLO group that has
//! something the receiver has not heard yet, and records the delivery in the
//! book only once the receiver answered 2xx. Errors, timeouts and 5xx answers
//! are retried with exponential backoff and jitter until they succeed; a 4xx
//! answer is logged and the group is dropped for that receiver (retrying
//! would not help).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use super::payload::message;
use super::{ReceiverConfig, backoff};
use crate::alerts::{Alert, AlertBook, AlertState};
use crate::metrics::SloMetrics;

/// What a receiver task shares with the engine.
#[derive(Clone)]
pub struct DeliveryContext {
    pub book: Arc<Mutex<AlertBook>>,
    pub external_url: String,
    pub metrics: SloMetrics,
    pub now_ms: crate::engine::Clock,
    /// Whether this process sends (only the leading one of a shared data directory does).
    pub leader: crate::engine::Leader,
}

/// The groups `receiver` must be sent now: per SLO, the alerts it has not heard
/// of (or whose repeat is due) plus the SLO's other firing alerts, as Alertmanager
/// sends a whole group.
pub fn due_groups(book: &AlertBook, r: &ReceiverConfig, now_ms: i64) -> BTreeMap<String, Vec<Alert>> {
    let repeat = r.repeat_interval.as_millis() as i64;
    let wanted = |a: &Alert| r.wants(a.labels.get("severity").map_or("", String::as_str));
    let due = |a: &Alert| {
        a.undelivered_to(&r.name)
            || (a.state == AlertState::Firing && a.delivered.get(&r.name).is_some_and(|d| now_ms - d.at_ms >= repeat))
    };
    let mut groups: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
    for a in book.alerts().filter(|a| wanted(a) && due(a)) {
        groups.entry(a.slo().to_owned()).or_default().push(a.clone());
    }
    for (slo, alerts) in groups.iter_mut() {
        for a in book.alerts().filter(|a| a.slo() == slo && a.state == AlertState::Firing && wanted(a)) {
            if !alerts.iter().any(|x| x.labels == a.labels) {
                alerts.push(a.clone());
            }
        }
    }
    groups
}

/// Runs one receiver until `stop` turns true.
pub async fn run(r: ReceiverConfig, ctx: DeliveryContext, mut wake: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder().timeout(r.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(receiver = %r.name, error = %e, "cannot build an HTTP client; receiver disabled");
            return;
        }
    };
    let mut attempt: u32 = 0;
    loop {
        let groups = if (ctx.leader)() {
            let book = ctx.book.lock().unwrap_or_else(|p| p.into_inner());
            due_groups(&book, &r, (ctx.now_ms)())
        } else {
            BTreeMap::new()
        };
        let mut failed = false;
        for (slo, alerts) in groups {
            match send(&client, &r, &slo, &alerts, &ctx.external_url).await {
                Ok(()) => {
                    ctx.metrics.notification(&r.name, "sent");
                    let told: Vec<(String, i64, bool)> =
                        alerts.iter().map(|a| (a.fingerprint(), a.active_at_ms, a.state == AlertState::Resolved)).collect();
                    let mut book = ctx.book.lock().unwrap_or_else(|p| p.into_inner());
                    book.mark_delivered(&r.name, &told, (ctx.now_ms)());
                    if let Err(e) = book.save() {
                        tracing::error!(error = %e, "saving the alert book");
                    }
                }
                Err(Failure::Permanent(e)) => {
                    ctx.metrics.notification(&r.name, "rejected");
                    tracing::error!(receiver = %r.name, slo, error = %e, "receiver refused the notification; not retrying");
                    let told: Vec<(String, i64, bool)> =
                        alerts.iter().map(|a| (a.fingerprint(), a.active_at_ms, a.state == AlertState::Resolved)).collect();
                    ctx.book.lock().unwrap_or_else(|p| p.into_inner()).mark_delivered(&r.name, &told, (ctx.now_ms)());
                }
                Err(Failure::Retry(e)) => {
                    ctx.metrics.notification(&r.name, "retry");
                    tracing::warn!(receiver = %r.name, slo, attempt, error = %e, "notification failed; will retry");
                    failed = true;
                    break;
                }
            }
        }
        let wait = if failed {
            attempt += 1;
            backoff(attempt - 1, Duration::from_millis(500), Duration::from_secs(60))
        } else {
            attempt = 0;
            Duration::from_secs(60)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = wake.changed(), if !failed => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

enum Failure {
    Retry(String),
    Permanent(String),
}

async fn send(client: &reqwest::Client, r: &ReceiverConfig, slo: &str, alerts: &[Alert], external_url: &str) -> Result<(), Failure> {
    let refs: Vec<&Alert> = alerts.iter().collect();
    let body = serde_json::to_vec(&message(&r.name, slo, &refs, external_url)).map_err(|e| Failure::Permanent(e.to_string()))?;
    let mut req = client.post(&r.url).header("content-type", "application/json").header("user-agent", concat!("toolpulse/", env!("CARGO_PKG_VERSION")));
    if !r.hmac_secret.is_empty() {
        req = req.header("x-toolpulse-signature", format!("sha256={}", sign(&r.hmac_secret, &body)));
    }
    if !r.bearer_token.is_empty() {
        req = req.bearer_auth(&r.bearer_token);
    }
    let resp = req.body(body).send().await.map_err(|e| Failure::Retry(e.to_string()))?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(Failure::Retry(format!("HTTP {status}")))
    } else {
        Err(Failure::Permanent(format!("HTTP {status}")))
    }
}

/// Hex HMAC-SHA256 of `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    toolpulse_schemas::ids::to_hex(&mac.finalize().into_bytes())
}
