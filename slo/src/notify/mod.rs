//! Notifications: Alertmanager-format webhooks ([`webhook`], payload in
//! [`payload`]) and pushes to an Alertmanager ([`alertmanager`]).

pub mod alertmanager;
pub mod payload;
pub mod webhook;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A webhook receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    pub url: String,
    /// When set, each request carries `X-Toolpulse-Signature: sha256=<hex>`, the
    /// HMAC-SHA256 of the body with this secret.
    #[serde(default)]
    pub hmac_secret: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default)]
    pub bearer_token: String,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Only alerts of these severities (all when empty).
    #[serde(default)]
    pub severities: Vec<String>,
    /// Firing alerts are sent again this often while they fire.
    #[serde(default = "default_repeat", with = "humantime_serde")]
    pub repeat_interval: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_repeat() -> Duration {
    Duration::from_secs(4 * 3600)
}

impl ReceiverConfig {
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        ReceiverConfig {
            name: name.into(),
            url: url.into(),
            hmac_secret: String::new(),
            bearer_token: String::new(),
            timeout: default_timeout(),
            severities: Vec::new(),
            repeat_interval: default_repeat(),
        }
    }

    pub fn wants(&self, severity: &str) -> bool {
        self.severities.is_empty() || self.severities.iter().any(|s| s == severity)
    }
}

/// An Alertmanager to push alerts to (`POST /api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. `http://127.0.0.1:9093`.
    pub url: String,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// Exponential backoff with full jitter: attempt 0 waits up to `base`, doubling
/// up to `max`.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let cap = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    let jitter: f64 = rand::random::<f64>();
    cap.mul_f64(0.5 + jitter / 2.0)
}
