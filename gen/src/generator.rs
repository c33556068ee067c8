//! The event stream: deterministic for a seed, paced in simulated time at a given
//! rate, shaped by the fleet model and any active incidents.

use std::borrow::Cow;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use toolpulse_schemas::{AuditEvent, EventId, Outcome, Transport};

use crate::fleet::{self, Fleet, FleetSpec};
use crate::incident::{Incident, IncidentKind};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub seed: u64,
    pub fleet: FleetSpec,
    /// Timestamp of the first event, ns since the epoch.
    pub start_ns: i64,
    /// Events per second of simulated time.
    pub rate: f64,
    pub incidents: Vec<Incident>,
    /// Share of calls made from within another MCP call (a chain).
    pub chain_fraction: f64,
}

impl Default for GenSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            fleet: FleetSpec::default(),
            start_ns: 1_767_225_600_000_000_000, // 2026-01-01T00:00:00Z
            rate: 1000.0,
            incidents: Vec::new(),
            chain_fraction: 0.25,
        }
    }
}

/// Produces events one after another; the same spec always gives the same events.
pub struct Generator {
    spec: GenSpec,
    fleet: Fleet,
    rng: StdRng,
    seq: u64,
    chain: Option<Chain>,
}

struct Chain {
    trace_id: [u8; 16],
    parent: [u8; 8],
    depth: u16,
}

impl Generator {
    pub fn new(spec: GenSpec) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let fleet = Fleet::new(&spec.fleet, &mut rng);
        Self { spec, fleet, rng, seq: 0, chain: None }
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// How many events were generated so far.
    pub fn generated(&self) -> u64 {
        self.seq
    }

    /// The simulated time of the next event.
    pub fn next_timestamp_ns(&self) -> i64 {
        self.spec.start_ns + (self.seq as f64 * 1e9 / self.spec.rate) as i64
    }

    pub fn next_event(&mut self) -> AuditEvent<'static> {
        let ts = self.next_timestamp_ns() + self.rng.random_range(0..(1e9 / self.spec.rate).max(1.0) as i64);
        self.seq += 1;
        let offset = Duration::from_nanos((ts - self.spec.start_ns).max(0) as u64);
        let rng = &mut self.rng;
        let (server, tool) = self.fleet.pick(rng);
        let agent = &self.fleet.agents[rng.random_range(0..self.fleet.agents.len())];

        let mut latency_factor = 1.0;
        let (mut error_rate, mut auth_rate, mut timeout_rate) = (tool.tool_error_rate, agent.auth_failure_rate, 0.0);
        for inc in self.spec.incidents.iter().filter(|i| i.applies(&server.name, offset)) {
            match inc.kind {
                IncidentKind::Latency { factor } => latency_factor *= factor,
                IncidentKind::Errors { rate } => error_rate = error_rate.max(rate),
                IncidentKind::AuthFailures { rate } => auth_rate = auth_rate.max(rate),
                IncidentKind::Timeouts { rate } => timeout_rate = f64::max(timeout_rate, rate),
            }
        }

        let id: [u8; 16] = rng.random();
        let event_id = EventId::Uuid(uuid::Builder::from_random_bytes(id).into_uuid());
        let mut e = AuditEvent::new(event_id, ts, 0.0, server.name.clone(), tool.name.clone(), Outcome::Success);
        let r: f64 = rng.random();
        let latency = tool.latency_ms(rng) * latency_factor;
        let (outcome, duration) = if r < auth_rate {
            (Outcome::AuthFailure, rng.random_range(0.5..4.0))
        } else if r < auth_rate + 0.003 {
            (Outcome::RateLimited, rng.random_range(0.3..2.0))
        } else if r < auth_rate + 0.005 {
            (Outcome::Denied, rng.random_range(0.5..3.0))
        } else if r < auth_rate + 0.005 + timeout_rate || latency > tool.timeout_ms {
            (Outcome::Timeout, tool.timeout_ms)
        } else if r < auth_rate + 0.005 + timeout_rate + error_rate {
            (if rng.random_bool(0.85) { Outcome::ToolError } else { Outcome::ProtocolError }, latency)
        } else {
            (Outcome::Success, latency)
        };
        e.outcome = outcome;
        e.duration_ms = (duration * 1000.0).round() / 1000.0;
        describe_failure(&mut e, rng);

        e.server_version = Some(Cow::Owned(server.version.clone()));
        e.tool_schema_version = Some(Cow::Owned(tool.schema_version.clone()));
        e.agent_id = Some(Cow::Owned(agent.id.clone()));
        e.agent_name = Some(Cow::Owned(agent.name.clone()));
        e.client_name = Some(Cow::Borrowed(agent.client.0));
        e.client_version = Some(Cow::Borrowed(agent.client.1));
        e.user_id = Some(Cow::Owned(format!("user-{}", rng.random_range(0..500))));
        e.tenant = Some(Cow::Owned(agent.tenant.clone()));
        e.gateway = Some(Cow::Borrowed(fleet::gateway(rng)));
        e.transport = Transport::parse(server.transport);
        e.protocol_version = Some(Cow::Borrowed(fleet::protocol_version(rng)));
        e.request_bytes = Some(rng.random_range(80..4000));
        e.response_bytes = (outcome == Outcome::Success).then(|| rng.random_range(200..60_000));
        e.input_tokens = Some(rng.random_range(20..2000));
        e.output_tokens = (outcome == Outcome::Success).then(|| rng.random_range(50..8000));

        let span: [u8; 8] = rng.random();
        let chain = match self.chain.take() {
            Some(c) if rng.random_bool(self.spec.chain_fraction) && c.depth < 6 => {
                Chain { trace_id: c.trace_id, parent: c.parent, depth: c.depth + 1 }
            }
            _ => Chain { trace_id: rng.random(), parent: rng.random(), depth: 1 },
        };
        e.trace_id = Some(chain.trace_id);
        e.span_id = Some(span);
        e.parent_span_id = Some(chain.parent);
        e.chain_depth = Some(chain.depth);
        self.chain = Some(Chain { trace_id: chain.trace_id, parent: span, depth: chain.depth });
        e
    }
}

/// Fills the error fields a gateway would record for a failed call.
fn describe_failure(e: &mut AuditEvent<'static>, rng: &mut StdRng) {
    match e.outcome {
        Outcome::Success => {}
        Outcome::ToolError => {
            e.error_type = Some(Cow::Borrowed("tool_error"));
            e.error_message = Some(Cow::Borrowed("upstream API returned an error"));
        }
        Outcome::ProtocolError => {
            e.error_type = Some(Cow::Borrowed("jsonrpc_error"));
            e.jsonrpc_error_code = Some(if rng.random_bool(0.5) { -32603 } else { -32602 });
            e.error_message = Some(Cow::Borrowed("internal error"));
        }
        Outcome::AuthFailure => {
            e.error_type = Some(Cow::Borrowed("unauthorized"));
            e.http_status = Some(if rng.random_bool(0.8) { 401 } else { 403 });
            e.error_message = Some(Cow::Borrowed("invalid or expired token"));
        }
        Outcome::Denied => {
            e.error_type = Some(Cow::Borrowed("policy_denied"));
            e.policy_id = Some(Cow::Borrowed("allowlist-prod"));
        }
        Outcome::Timeout => {
            e.error_type = Some(Cow::Borrowed("timeout"));
            e.http_status = Some(504);
        }
        Outcome::RateLimited => {
            e.error_type = Some(Cow::Borrowed("rate_limited"));
            e.http_status = Some(429);
        }
    }
}

impl Iterator for Generator {
    type Item = AuditEvent<'static>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_event())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_events() {
        let a: Vec<String> = Generator::new(GenSpec::default()).take(200).map(|e| serde_json::to_string(&e).unwrap()).collect();
        let b: Vec<String> = Generator::new(GenSpec::default()).take(200).map(|e| serde_json::to_string(&e).unwrap()).collect();
        assert_eq!(a, b);
        let c: Vec<String> = Generator::new(GenSpec { seed: 7, ..GenSpec::default() })
            .take(200)
            .map(|e| serde_json::to_string(&e).unwrap())
            .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn events_decode_under_the_contract() {
        let limits = toolpulse_schemas::DecodeLimits::default();
        for e in Generator::new(GenSpec::default()).take(2000) {
            let json = serde_json::to_vec(&e).unwrap();
            let back = toolpulse_schemas::decode_event(&json, &limits, e.timestamp_ns).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn an_error_incident_raises_the_error_share_of_its_server_only() {
        let spec = GenSpec {
            rate: 100.0,
            incidents: vec!["kind=errors,server=github,rate=0.5,at=0s,for=1h".parse().unwrap()],
            ..GenSpec::default()
        };
        let (mut gh, mut gh_bad, mut other, mut other_bad) = (0, 0, 0, 0);
        for e in Generator::new(spec).take(20_000) {
            let bad = e.outcome.is_server_fault() as u32;
            if e.server == "github" { gh += 1; gh_bad += bad } else { other += 1; other_bad += bad }
        }
        let (gh_share, other_share) = (gh_bad as f64 / gh as f64, other_bad as f64 / other as f64);
        assert!(gh_share > 0.4 && gh_share < 0.6, "github error share {gh_share}");
        assert!(other_share < 0.05, "others' error share {other_share}");
    }
}
