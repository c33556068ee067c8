//! Incidents: a window of simulated time during which one server (or all) gets
//! slower, fails more, or rejects more callers. Written on the command line as
//! `kind=latency,server=github,factor=8,at=10m,for=15m`.

use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentKind {
    /// Latencies are multiplied by `factor`.
    Latency { factor: f64 },
    /// This share of calls fail with `tool_error` or `protocol_error`.
    Errors { rate: f64 },
    /// This share of calls fail authentication.
    AuthFailures { rate: f64 },
    /// This share of calls time out.
    Timeouts { rate: f64 },
}

/// One incident, relative to the start of the generated time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub kind: IncidentKind,
    /// Affected server; `None` means every server.
    pub server: Option<String>,
    pub at: Duration,
    pub duration: Duration,
}

/// An incident description that could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("incident `{spec}`: {reason}")]
pub struct IncidentParseError {
    pub spec: String,
    pub reason: String,
}

impl Incident {
    /// Whether the incident affects `server` at `offset` into the run.
    pub fn applies(&self, server: &str, offset: Duration) -> bool {
        offset >= self.at && offset < self.at + self.duration && self.server.as_deref().is_none_or(|s| s == server)
    }
}

impl std::str::FromStr for Incident {
    type Err = IncidentParseError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| IncidentParseError { spec: spec.to_owned(), reason };
        let (mut kind, mut server, mut at, mut dur, mut value) = (None, None, Duration::ZERO, None, None);
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| err(format!("`{part}` is not key=value")))?;
            match k {
                "kind" => kind = Some(v.to_owned()),
                "server" => server = Some(v.to_owned()),
                "at" => at = parse_duration(v).map_err(err)?,
                "for" => dur = Some(parse_duration(v).map_err(err)?),
                "factor" | "rate" => {
                    value = Some(v.parse::<f64>().map_err(|_| err(format!("{k} `{v}` is not a number")))?)
                }
                other => return Err(err(format!("unknown key `{other}` (kind, server, at, for, factor, rate)"))),
            }
        }
        let kind = kind.ok_or_else(|| err("missing kind (latency, errors, auth, timeouts)".into()))?;
        let rate = |default: f64| -> Result<f64, IncidentParseError> {
            let r = value.unwrap_or(default);
            if (0.0..=1.0).contains(&r) { Ok(r) } else { Err(err(format!("rate {r} is not within 0..=1"))) }
        };
        let kind = match kind.as_str() {
            "latency" => IncidentKind::Latency { factor: value.unwrap_or(10.0) },
            "errors" => IncidentKind::Errors { rate: rate(0.2)? },
            "auth" => IncidentKind::AuthFailures { rate: rate(0.3)? },
            "timeouts" => IncidentKind::Timeouts { rate: rate(0.2)? },
            other => return Err(err(format!("unknown kind `{other}` (latency, errors, auth, timeouts)"))),
        };
        Ok(Incident { kind, server, at, duration: dur.unwrap_or(Duration::from_secs(600)) })
    }
}

/// `90s`, `15m`, `2h`, `1d`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| format!("duration `{s}` is not a number with s/m/h/d"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("duration `{s}`: unknown unit `{unit}`")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("duration `{s}` must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_spec() {
        let i: Incident = "kind=latency,server=github,factor=8,at=10m,for=15m".parse().unwrap();
        assert_eq!(i.kind, IncidentKind::Latency { factor: 8.0 });
        assert_eq!(i.server.as_deref(), Some("github"));
        assert!(i.applies("github", Duration::from_secs(600)));
        assert!(!i.applies("github", Duration::from_secs(600 + 900)));
        assert!(!i.applies("jira", Duration::from_secs(700)));
    }

    #[test]
    fn explains_bad_specs() {
        let e = "kind=errors,rate=2".parse::<Incident>().unwrap_err();
        assert!(e.reason.contains("rate 2"), "{e}");
        let e = "kind=meteor".parse::<Incident>().unwrap_err();
        assert!(e.reason.contains("unknown kind"), "{e}");
        let e = "kind=auth,at=5x".parse::<Incident>().unwrap_err();
        assert!(e.reason.contains("unknown unit"), "{e}");
    }
}
