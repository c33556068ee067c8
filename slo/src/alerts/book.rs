//! The alert book: every pending, firing and recently resolved alert, moved
//! through its lifecycle by each evaluation (inactive → pending → firing →
//! resolved), with what each receiver was told. It is saved to a JSON file
//! (written aside, fsynced, renamed) after every change, so a restart neither
//! repeats a firing notification nor loses a resolve.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rules::Desired;
use super::{Alert, AlertState, Delivery, fingerprint};
use crate::error::SloError;

/// How long a resolved alert stays in the book after every receiver heard of it
/// (Alertmanager is re-sent resolved alerts this long, as Prometheus does).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    alerts: BTreeMap<String, Alert>,
}

/// Alerts by fingerprint.
#[derive(Debug)]
pub struct AlertBook {
    path: Option<PathBuf>,
    alerts: BTreeMap<String, Alert>,
}

impl AlertBook {
    /// An empty book that is never saved (tests, `slo evaluate`).
    pub fn in_memory() -> Self {
        AlertBook { path: None, alerts: BTreeMap::new() }
    }

    /// Opens the book saved at `path` (empty when there is none yet).
    pub fn open(path: &Path) -> Result<Self, SloError> {
        let alerts = match fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Saved>(&bytes).map_err(|e| SloError::State(format!("{}: {e}", path.display())))?.alerts,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(SloError::State(format!("{}: {e}", path.display()))),
        };
        Ok(AlertBook { path: Some(path.to_owned()), alerts })
    }

    /// Reads the book again from its file, as another process saved it.
    pub fn reload(&mut self) -> Result<(), SloError> {
        if let Some(path) = self.path.clone() {
            *self = Self::open(&path)?;
        }
        Ok(())
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    pub fn get(&self, fp: &str) -> Option<&Alert> {
        self.alerts.get(fp)
    }

    /// Moves every alert of the SLOs in `slos` one evaluation forward; alerts of
    /// SLOs that no longer exist resolve. Returns whether anything changed.
    pub fn apply(&mut self, desired: &[Desired], slos: &BTreeSet<String>, now_ms: i64) -> bool {
        let mut changed = false;
        let (mut seen, mut active) = (BTreeSet::new(), BTreeSet::new());
        for d in desired {
            let fp = fingerprint(&d.labels);
            seen.insert(fp.clone());
            if d.active {
                active.insert(fp.clone());
            }
            changed |= self.step(fp, d, now_ms);
        }
        for (fp, a) in self.alerts.iter_mut() {
            if seen.contains(fp) {
                continue;
            }
            if !slos.contains(a.slo()) {
                changed |= resolve(a, now_ms);
            }
        }
        // A pending alert whose condition cleared never fired: forget it.
        let before = self.alerts.len();
        self.alerts.retain(|fp, a| a.state != AlertState::Pending || active.contains(fp));
        changed | (self.alerts.len() != before)
    }

    fn step(&mut self, fp: String, d: &Desired, now_ms: i64) -> bool {
        let existing = self.alerts.get_mut(&fp);
        match (existing, d.active) {
            (None, false) => false,
            (None, true) => {
                self.alerts.insert(fp, begin(d, now_ms));
                true
            }
            (Some(a), true) if a.state == AlertState::Resolved => {
                let delivered = std::mem::take(&mut a.delivered);
                *a = Alert { delivered, ..begin(d, now_ms) };
                true
            }
            (Some(a), true) => {
                a.value = d.value;
                a.annotations = d.annotations.clone();
                if a.state == AlertState::Pending && now_ms - a.active_at_ms >= d.for_.as_millis() as i64 {
                    a.state = AlertState::Firing;
                    a.fired_at_ms = Some(now_ms);
                    return true;
                }
                false
            }
            (Some(a), false) => {
                a.value = d.value;
                resolve(a, now_ms)
            }
        }
    }

    /// Records that `receiver` was told about `alerts` (fingerprint → (episode, resolved)).
    pub fn mark_delivered(&mut self, receiver: &str, told: &[(String, i64, bool)], now_ms: i64) {
        for (fp, episode, resolved) in told {
            if let Some(a) = self.alerts.get_mut(fp) {
                a.delivered.insert(receiver.to_owned(), Delivery { episode: *episode, resolved: *resolved, at_ms: now_ms });
            }
        }
    }

    /// Forgets resolved alerts every receiver has heard of, once the retention passed.
    pub fn collect_garbage(&mut self, receivers: &[String], now_ms: i64) -> bool {
        let before = self.alerts.len();
        self.alerts.retain(|_, a| {
            let done = a.state == AlertState::Resolved
                && receivers.iter().all(|r| !a.undelivered_to(r))
                && a.resolved_at_ms.is_some_and(|t| now_ms - t >= RESOLVED_RETENTION_MS);
            !done
        });
        self.alerts.len() != before
    }

    /// Writes the book aside, fsyncs it, and renames it into place.
    pub fn save(&self) -> Result<(), SloError> {
        let Some(path) = &self.path else { return Ok(()) };
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&Saved { alerts: self.alerts.clone() }).map_err(|e| SloError::State(e.to_string()))?;
        let io = |e: std::io::Error| SloError::State(format!("{}: {e}", path.display()));
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

fn begin(d: &Desired, now_ms: i64) -> Alert {
    let firing = d.for_.is_zero();
    Alert {
        labels: d.labels.clone(),
        annotations: d.annotations.clone(),
        state: if firing { AlertState::Firing } else { AlertState::Pending },
        active_at_ms: now_ms,
        fired_at_ms: firing.then_some(now_ms),
        resolved_at_ms: None,
        value: d.value,
        delivered: BTreeMap::new(),
    }
}

/// Firing → resolved (pending alerts are dropped by the caller). Returns whether it changed.
fn resolve(a: &mut Alert, now_ms: i64) -> bool {
    if a.state != AlertState::Firing {
        return false;
    }
    a.state = AlertState::Resolved;
    a.resolved_at_ms = Some(now_ms);
    true
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn desired(active: bool, for_: Duration) -> Desired {
        let labels = [("alertname", "SLOBurnRate"), ("slo", "s"), ("severity", "page")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        Desired { labels, annotations: Default::default(), active, value: 20.0, for_ }
    }

    #[test]
    fn lifecycle_with_for() {
        let slos: BTreeSet<String> = ["s".to_owned()].into();
        let mut book = AlertBook::in_memory();
        let for_ = Duration::from_secs(120);
        assert!(book.apply(&[desired(true, for_)], &slos, 0));
        let fp = book.alerts().next().unwrap().fingerprint();
        assert_eq!(book.get(&fp).unwrap().state, AlertState::Pending);
        assert!(!book.get(&fp).unwrap().undelivered_to("r"), "pending alerts are not sent");
        book.apply(&[desired(true, for_)], &slos, 60_000);
        assert_eq!(book.get(&fp).unwrap().state, AlertState::Pending);
        book.apply(&[desired(true, for_)], &slos, 120_000);
        assert_eq!(book.get(&fp).unwrap().state, AlertState::Firing);
        assert!(book.get(&fp).unwrap().undelivered_to("r"));
        book.mark_delivered("r", &[(fp.clone(), 0, false)], 120_000);
        assert!(!book.get(&fp).unwrap().undelivered_to("r"));
        book.apply(&[desired(false, for_)], &slos, 180_000);
        let a = book.get(&fp).unwrap();
        assert_eq!((a.state, a.resolved_at_ms), (AlertState::Resolved, Some(180_000)));
        assert!(a.undelivered_to("r"), "the receiver that heard of the firing must hear of the resolve");
        assert!(!a.undelivered_to("other"), "a receiver that never heard of it gets no resolve");
        book.mark_delivered("r", &[(fp.clone(), 0, true)], 180_000);
        assert!(!book.collect_garbage(&["r".into()], 181_000), "kept for a while after resolving");
        assert!(book.collect_garbage(&["r".into()], 180_000 + RESOLVED_RETENTION_MS));
        assert_eq!(book.alerts().count(), 0);
    }

    #[test]
    fn pending_that_clears_is_forgotten_and_condition_gone_resolves() {
        let slos: BTreeSet<String> = ["s".to_owned()].into();
        let mut book = AlertBook::in_memory();
        book.apply(&[desired(true, Duration::from_secs(300))], &slos, 0);
        book.apply(&[desired(false, Duration::from_secs(300))], &slos, 60_000);
        assert_eq!(book.alerts().count(), 0);
        // A firing alert of an SLO that was removed resolves.
        book.apply(&[desired(true, Duration::ZERO)], &slos, 0);
        book.apply(&[], &BTreeSet::new(), 60_000);
        assert_eq!(book.alerts().next().unwrap().state, AlertState::Resolved);
    }

    #[test]
    fn saved_book_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.json");
        let slos: BTreeSet<String> = ["s".to_owned()].into();
        let mut book = AlertBook::open(&path).unwrap();
        book.apply(&[desired(true, Duration::ZERO)], &slos, 5);
        let fp = book.alerts().next().unwrap().fingerprint();
        book.mark_delivered("r", &[(fp.clone(), 5, false)], 6);
        book.save().unwrap();
        let again = AlertBook::open(&path).unwrap();
        assert_eq!(again.get(&fp), book.get(&fp));
        assert!(!again.get(&fp).unwrap().undelivered_to("r"));
    }
}
