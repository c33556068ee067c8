//! Decoding mutated events never panics: a full event is changed at random
//! (bytes replaced by JSON's structural and numeric characters, control and
//! invalid UTF-8 bytes, deleted, repeated, cut) and each result is either an
//! event that also becomes an Arrow row, or an error naming its reason.

use super::*;
use crate::EventBatchBuilder;

const EVENT: &str = r#"{"event_id":"0192f0c4-8e4a-7b3c-9d2e-1f0a2b3c4d5e","timestamp":"2026-11-25T11:59:00.250Z","duration_ms":12.5,"server":"jira","tool":"create_issue","outcome":"tool_error","server_version":"2.1.0","mcp_method":"tools/call","agent_id":"a-1","user_id":"u-9","transport":"streamable_http","error_type":"-32602","jsonrpc_error_code":-32602,"error_message":"bad \"params\" \u00e9","http_status":200,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"00f067aa0ba902b8","chain_depth":2,"request_bytes":512,"input_tokens":100,"attributes":{"region":"eu","n":[1,{"x":null}]},"extra":true}"#;

/// Bytes a mutation writes: JSON's structure, numbers, escapes, and bytes that
/// are not valid UTF-8 on their own.
const BYTES: &[u8] = b"\"\\{}[],:0129-+.eEnul tf\x00\x1f\x7f\x80\xbf\xc3\xe2\xf0\xff";

/// xorshift64*: deterministic, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(input.len() + 1);
        match rng.below(5) {
            0 if at < input.len() => input[at] = BYTES[rng.below(BYTES.len())],
            1 if at < input.len() => {
                input.remove(at);
            }
            2 => input.insert(at, BYTES[rng.below(BYTES.len())]),
            3 => {
                let end = (at + 1 + rng.below(40)).min(input.len());
                let piece = input[at.min(end)..end].to_vec();
                input.splice(at..at, piece);
            }
            _ => input.truncate(at),
        }
    }
}

#[test]
fn mutated_events_decode_or_fail_with_a_reason() {
    let limits = DecodeLimits::default();
    let now = crate::timestamp::parse_rfc3339_ns("2026-11-25T12:00:00Z").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut failed) = (0, 0);
    let mut builder = EventBatchBuilder::with_capacity(1024);
    for i in 0..iterations() {
        let mut input = EVENT.as_bytes().to_vec();
        mutate(&mut rng, &mut input);
        let decoded = std::panic::catch_unwind(|| decode_event(&input, &limits, now).map(|e| e.into_owned()));
        match decoded.unwrap_or_else(|_| panic!("mutation {i} panicked on {:?}", String::from_utf8_lossy(&input))) {
            Ok(e) => {
                assert!(e.duration_ms >= 0.0 && !e.server.is_empty(), "mutation {i}: {e:?}");
                builder.append(&e);
                ok += 1;
            }
            Err(e) => {
                assert!(!e.reason.code().is_empty() && !e.reason.to_string().is_empty(), "mutation {i}");
                failed += 1;
            }
        }
        if builder.len() >= 1024 {
            builder.finish();
        }
    }
    builder.finish();
    // Both kinds occur: the mutations do not all break the event, nor all miss.
    assert!(ok > 0 && failed > 0, "{ok} decoded, {failed} rejected");
}

/// 20,000 by default; `TOOLPULSE_MUTATIONS` asks for more.
fn iterations() -> usize {
    std::env::var("TOOLPULSE_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}
