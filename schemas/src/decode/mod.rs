//! JSON → [`AuditEvent`]: validation of every field of schema v1, with an error
//! naming the field and the reason. Unknown top-level fields become attributes.

mod json;

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::error::{DecodeError, Reason};
use crate::event::{AuditEvent, Outcome, Transport};
use crate::ids::{EventId, parse_hex};
use crate::limits::DecodeLimits;
use crate::timestamp::{EARLIEST_NS, epoch_to_ns, format_rfc3339, parse_rfc3339_ns};

pub use json::attribute_value;

/// Every top-level field of schema v1, in contract order.
pub const FIELD_NAMES: [&str; 34] = [
    "event_id", "timestamp", "duration_ms", "server", "tool", "outcome", "schema_version",
    "server_version", "tool_schema_version", "mcp_method", "agent_id", "agent_name",
    "client_name", "client_version", "user_id", "tenant", "gateway", "route", "transport",
    "protocol_version", "error_type", "jsonrpc_error_code", "error_message", "http_status",
    "policy_id", "trace_id", "span_id", "parent_span_id", "chain_depth", "request_bytes",
    "response_bytes", "input_tokens", "output_tokens", "attributes",
];

/// The fields an event must carry.
pub const REQUIRED_FIELDS: [&str; 6] = ["event_id", "timestamp", "duration_ms", "server", "tool", "outcome"];

/// Decodes one event from JSON bytes.
///
/// `now_ns` bounds how far in the future the timestamp may lie
/// ([`DecodeLimits::max_future_skew_secs`]).
pub fn decode_event<'a>(input: &'a [u8], limits: &DecodeLimits, now_ns: i64) -> Result<AuditEvent<'a>, DecodeError> {
    if input.len() > limits.max_event_bytes {
        return Err(DecodeError::whole(Reason::EventTooLarge { len: input.len(), max: limits.max_event_bytes }));
    }
    let json::Members(members) = json::parse_object(input)?;
    let mut ev = AuditEvent::new(EventId::Text(Cow::Borrowed("")), 0, 0.0, "", "", Outcome::Success);
    let mut seen: u64 = 0;
    let mut extra: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
    let mut next = 0;
    for (key, raw) in members {
        let Some(index) = field_index(&key, next) else {
            if !json::is_null(raw) {
                extra.push((key, attribute_value(raw)));
            }
            continue;
        };
        let bit = 1u64 << index;
        if seen & bit != 0 {
            return Err(DecodeError::new(FIELD_NAMES[index], Reason::DuplicateField));
        }
        seen |= bit;
        next = index + 1;
        set_field(&mut ev, index, raw, limits, now_ns)?;
    }
    for (index, name) in FIELD_NAMES.iter().enumerate().take(REQUIRED_FIELDS.len()) {
        if seen & (1 << index) == 0 {
            return Err(DecodeError::new(*name, Reason::Missing));
        }
    }
    merge_extra_attributes(&mut ev.attributes, extra, limits)?;
    Ok(ev)
}

/// The position of a known field in [`FIELD_NAMES`]; `likely` is tried first
/// (producers mostly write fields in contract order, so it is usually the one
/// after the previous field).
fn field_index(key: &str, likely: usize) -> Option<usize> {
    if FIELD_NAMES.get(likely).is_some_and(|f| *f == key) {
        return Some(likely);
    }
    // Lengths first: most keys are rejected or found after one or two comparisons.
    FIELD_NAMES.iter().position(|f| f.len() == key.len() && *f == key)
}

fn set_field<'a>(
    ev: &mut AuditEvent<'a>,
    index: usize,
    raw: &'a RawValue,
    limits: &DecodeLimits,
    now_ns: i64,
) -> Result<(), DecodeError> {
    let name = FIELD_NAMES[index];
    let f = json::Field::new(name, limits.max_name_bytes);
    match name {
        "event_id" => {
            let s = required(name, f.string(raw)?)?;
            if s.is_empty() {
                return Err(f.err(Reason::InvalidId { detail: "must not be empty" }));
            }
            ev.event_id = EventId::parse(s);
        }
        "timestamp" => ev.timestamp_ns = timestamp(&f, raw, limits, now_ns)?,
        "duration_ms" => ev.duration_ms = required(name, f.non_negative_number(raw)?)?,
        "server" => ev.server = non_empty(&f, required(name, f.string(raw)?)?)?,
        "tool" => ev.tool = non_empty(&f, required(name, f.string(raw)?)?)?,
        "outcome" => {
            let s = required(name, f.string(raw)?)?;
            ev.outcome = Outcome::parse(&s).ok_or_else(|| f.err(Reason::UnknownOutcome { value: s.into_owned() }))?;
        }
        "schema_version" => {
            if let Some(s) = f.string(raw)? {
                if s != "1" && !s.starts_with("1.") {
                    return Err(f.err(Reason::UnsupportedSchemaVersion { value: s.into_owned() }));
                }
                ev.schema_version = s;
            }
        }
        "mcp_method" => {
            if let Some(s) = f.string(raw)? {
                ev.mcp_method = s;
            }
        }
        "transport" => {
            ev.transport = match f.string(raw)? {
                None => None,
                Some(s) => Some(Transport::parse(&s).ok_or_else(|| {
                    f.err(Reason::UnknownValue { value: s.into_owned(), allowed: Transport::NAMES })
                })?),
            }
        }
        "error_message" => {
            ev.error_message = f.raw_string(raw)?.map(|s| truncate(s, limits.max_error_message_bytes));
        }
        "jsonrpc_error_code" => {
            ev.jsonrpc_error_code = f.integer(raw, i32::MIN as i64, i32::MAX as i64)?.map(|v| v as i32)
        }
        "http_status" => ev.http_status = f.integer(raw, 100, 599)?.map(|v| v as u16),
        "chain_depth" => ev.chain_depth = f.integer(raw, 0, u16::MAX as i64)?.map(|v| v as u16),
        "request_bytes" => ev.request_bytes = f.unsigned(raw)?,
        "response_bytes" => ev.response_bytes = f.unsigned(raw)?,
        "input_tokens" => ev.input_tokens = f.unsigned(raw)?,
        "output_tokens" => ev.output_tokens = f.unsigned(raw)?,
        "trace_id" => ev.trace_id = hex_id::<16>(&f, raw)?,
        "span_id" => ev.span_id = hex_id::<8>(&f, raw)?,
        "parent_span_id" => ev.parent_span_id = hex_id::<8>(&f, raw)?,
        "attributes" => ev.attributes = attributes(raw, limits)?,
        _ => *optional_string_slot(ev, name) = f.string(raw)?,
    }
    Ok(())
}

/// A required field's value; JSON `null` is an error.
fn required<T>(name: &'static str, v: Option<T>) -> Result<T, DecodeError> {
    v.ok_or_else(|| DecodeError::new(name, Reason::Null))
}

/// The slot of an optional free-text field.
fn optional_string_slot<'e, 'a>(ev: &'e mut AuditEvent<'a>, name: &str) -> &'e mut Option<Cow<'a, str>> {
    match name {
        "server_version" => &mut ev.server_version,
        "tool_schema_version" => &mut ev.tool_schema_version,
        "agent_id" => &mut ev.agent_id,
        "agent_name" => &mut ev.agent_name,
        "client_name" => &mut ev.client_name,
        "client_version" => &mut ev.client_version,
        "user_id" => &mut ev.user_id,
        "tenant" => &mut ev.tenant,
        "gateway" => &mut ev.gateway,
        "route" => &mut ev.route,
        "protocol_version" => &mut ev.protocol_version,
        "error_type" => &mut ev.error_type,
        "policy_id" => &mut ev.policy_id,
        other => unreachable!("{other} is not a free-text field of schema v1"),
    }
}

fn non_empty<'a>(f: &json::Field, s: Cow<'a, str>) -> Result<Cow<'a, str>, DecodeError> {
    if s.trim().is_empty() {
        return Err(f.err(Reason::Missing));
    }
    Ok(s)
}

fn timestamp(f: &json::Field, raw: &RawValue, limits: &DecodeLimits, now_ns: i64) -> Result<i64, DecodeError> {
    let text = raw.get();
    let ns = match json::json_kind(raw) {
        "string" => {
            let s = json::unquote(text);
            parse_rfc3339_ns(&s).ok_or_else(|| f.err(Reason::UnparsableTimestamp { value: s.into_owned() }))?
        }
        "number" => text
            .parse::<i64>()
            .ok()
            .and_then(epoch_to_ns)
            .ok_or_else(|| f.err(Reason::UnparsableTimestamp { value: text.to_owned() }))?,
        "null" => return Err(f.err(Reason::Null)),
        found => return Err(f.err(Reason::WrongType { expected: "RFC 3339 string or integer epoch", found })),
    };
    if ns < EARLIEST_NS {
        return Err(f.err(Reason::TimestampTooOld { value: format_rfc3339(ns) }));
    }
    let skew_ns = limits.max_future_skew_secs.saturating_mul(1_000_000_000);
    if ns > now_ns.saturating_add(skew_ns) {
        return Err(f.err(Reason::TimestampInFuture {
            value: format_rfc3339(ns),
            max_skew_secs: limits.max_future_skew_secs,
        }));
    }
    Ok(ns)
}

fn hex_id<const N: usize>(f: &json::Field, raw: &RawValue) -> Result<Option<[u8; N]>, DecodeError> {
    let Some(s) = f.raw_string(raw)? else { return Ok(None) };
    if s.is_empty() {
        return Ok(None);
    }
    let detail = if N == 16 { "expected 32 hex digits" } else { "expected 16 hex digits" };
    parse_hex::<N>(&s).map(Some).ok_or_else(|| f.err(Reason::InvalidId { detail }))
}

fn attributes<'a>(raw: &'a RawValue, limits: &DecodeLimits) -> Result<Vec<(Cow<'a, str>, Cow<'a, str>)>, DecodeError> {
    let f = json::Field::new("attributes", limits.max_attribute_value_bytes);
    match json::json_kind(raw) {
        "null" => return Ok(Vec::new()),
        "object" => {}
        found => return Err(f.err(Reason::WrongType { expected: "object", found })),
    }
    let members: json::Members<'a> = serde_json::from_str(raw.get())
        .map_err(|e| f.err(Reason::InvalidJson { detail: e.to_string() }))?;
    if members.0.len() > limits.max_attributes {
        return Err(f.err(Reason::TooManyAttributes { count: members.0.len(), max: limits.max_attributes }));
    }
    let mut out = Vec::with_capacity(members.0.len());
    for (k, v) in members.0 {
        if json::is_null(v) {
            continue;
        }
        let value = attribute_value(v);
        check_attribute(&k, &value, limits)?;
        out.push((k, value));
    }
    Ok(out)
}

fn check_attribute(key: &str, value: &str, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let too_long = |len, max| DecodeError::new(format!("attributes.{key}"), Reason::TooLong { len, max });
    if key.len() > limits.max_name_bytes {
        return Err(DecodeError::new("attributes", Reason::TooLong { len: key.len(), max: limits.max_name_bytes }));
    }
    if value.len() > limits.max_attribute_value_bytes {
        return Err(too_long(value.len(), limits.max_attribute_value_bytes));
    }
    Ok(())
}

/// Unknown top-level fields join the attributes; an explicit attribute of the same
/// name wins.
fn merge_extra_attributes<'a>(
    attrs: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
    extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    limits: &DecodeLimits,
) -> Result<(), DecodeError> {
    for (k, v) in extra {
        if attrs.iter().any(|(ak, _)| *ak == k) {
            continue;
        }
        check_attribute(&k, &v, limits)?;
        attrs.push((k, v));
    }
    if attrs.len() > limits.max_attributes {
        return Err(DecodeError::new(
            "attributes",
            Reason::TooManyAttributes { count: attrs.len(), max: limits.max_attributes },
        ));
    }
    Ok(())
}

/// Cuts a string to at most `max` bytes at a character boundary.
fn truncate(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..end]),
        Cow::Owned(mut o) => {
            o.truncate(end);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests;
