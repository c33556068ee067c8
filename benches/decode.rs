//! Decoding one audit event from JSON (`toolpulse_schemas::decode_event`), on
//! one thread: nanoseconds per event and MB/s over generated events, side by
//! side with serde_json reading the same lines into a `serde_json::Value` (a
//! parse without our validation) and into a borrowed struct of the same fields
//! (serde's derive: typed, but no value checked). All three run with the
//! binary's allocator and its settings (`src/allocator.rs`).
//!
//! `cargo bench --bench decode` (env: `EVENTS`, default 200k; `ROUNDS`, default 5).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use toolpulse_gen::{GenSpec, Generator};
use toolpulse_schemas::{DecodeLimits, decode_event};

mod common;
use common::env_usize;

/// The allocator of the `toolpulse` binary and its settings, as it decodes.
#[path = "../src/allocator.rs"]
mod allocator;

/// The fields of schema v1 as serde's derive reads them (strings borrowed
/// where they hold no escapes), without checking any value.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Typed<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    duration_ms: f64,
    #[serde(borrow)]
    server: Cow<'a, str>,
    #[serde(borrow)]
    tool: Cow<'a, str>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(borrow)]
    schema_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    server_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tool_schema_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    mcp_method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    agent_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tenant: Option<Cow<'a, str>>,
    #[serde(borrow)]
    gateway: Option<Cow<'a, str>>,
    #[serde(borrow)]
    route: Option<Cow<'a, str>>,
    #[serde(borrow)]
    transport: Option<Cow<'a, str>>,
    #[serde(borrow)]
    protocol_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_type: Option<Cow<'a, str>>,
    jsonrpc_error_code: Option<i32>,
    #[serde(borrow)]
    error_message: Option<Cow<'a, str>>,
    http_status: Option<u16>,
    #[serde(borrow)]
    policy_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    span_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parent_span_id: Option<Cow<'a, str>>,
    chain_depth: Option<u16>,
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    #[serde(borrow)]
    attributes: Option<std::collections::HashMap<Cow<'a, str>, Cow<'a, str>>>,
}

/// The fastest of `rounds` passes of `f` over every line.
fn best_of(rounds: usize, lines: &[Vec<u8>], mut f: impl FnMut(&[u8]) -> bool) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let ok = lines.iter().filter(|l| f(l)).count();
            assert_eq!(ok, lines.len(), "every generated line decodes");
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    allocator::keep_freed_memory_longer();
    allocator::without_transparent_huge_pages();
    let events = env_usize("EVENTS", 200_000);
    let rounds = env_usize("ROUNDS", 5).max(1);
    let now = toolpulse_schemas::timestamp::now_ns();
    let spec = GenSpec { seed: 3, start_ns: now - 3_600_000_000_000, rate: 2000.0, ..GenSpec::default() };
    let mut generator = Generator::new(spec);
    let lines: Vec<Vec<u8>> = (0..events).map(|_| serde_json::to_vec(&generator.next_event()).unwrap()).collect();
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let limits = DecodeLimits { max_future_skew_secs: 86_400, ..DecodeLimits::default() };
    println!("{events} generated events, {:.0} bytes each; best of {rounds} passes, one thread", bytes as f64 / events as f64);
    let report = |name: &str, d: Duration| {
        println!(
            "{name:<34} {:7.1} ns/event  {:6.0} MB/s",
            d.as_nanos() as f64 / events as f64,
            bytes as f64 / d.as_secs_f64() / 1e6
        );
    };
    report("toolpulse decode_event", best_of(rounds, &lines, |l| decode_event(l, &limits, now).is_ok()));
    report("serde_json → Value", best_of(rounds, &lines, |l| serde_json::from_slice::<serde_json::Value>(l).is_ok()));
    report("serde_json → borrowed struct", best_of(rounds, &lines, |l| serde_json::from_slice::<Typed>(l).is_ok()));
}
