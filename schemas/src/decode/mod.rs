//! JSON → [`AuditEvent`]: validation of every field of schema v1, with an error
//! naming the field and the reason. Unknown top-level fields become attributes.

mod fields;
mod json;
mod scan;

use std::borrow::Cow;

use crate::error::{DecodeError, Reason};
use crate::event::{AuditEvent, Outcome, Transport};
use crate::ids::{EventId, parse_hex};
use crate::limits::DecodeLimits;
use crate::timestamp::{EARLIEST_NS, epoch_to_ns, format_rfc3339, parse_rfc3339_ns};

pub use fields::{FIELD_NAMES, FieldId, REQUIRED_FIELDS};
pub use json::{Raw, attribute_value};
pub use scan::Kind;

/// Decodes one event from JSON bytes.
///
/// `now_ns` bounds how far in the future the timestamp may lie
/// ([`DecodeLimits::max_future_skew_secs`]).
pub fn decode_event<'a>(input: &'a [u8], limits: &DecodeLimits, now_ns: i64) -> Result<AuditEvent<'a>, DecodeError> {
    if input.len() > limits.max_event_bytes {
        return Err(DecodeError::whole(Reason::EventTooLarge { len: input.len(), max: limits.max_event_bytes }));
    }
    let mut event = EventDecoder::new(limits, now_ns);
    json::parse_object(input, |key, raw| event.member(key, raw))?;
    event.finish()
}

/// Builds one event from its members as the scanner hands them over. The first
/// field error is kept (the rest of the line is still scanned, so malformed
/// JSON is reported as such rather than as a field error).
struct EventDecoder<'a, 'l> {
    ev: AuditEvent<'a>,
    limits: &'l DecodeLimits,
    now_ns: i64,
    /// Bit `i` set: field `FieldId::ALL[i]` was seen.
    seen: u64,
    position: usize,
    order: fields::FieldOrder,
    /// Unknown top-level fields, bound for the attributes.
    extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    error: Option<DecodeError>,
}

impl<'a, 'l> EventDecoder<'a, 'l> {
    fn new(limits: &'l DecodeLimits, now_ns: i64) -> Self {
        EventDecoder {
            ev: AuditEvent::new(EventId::Text(Cow::Borrowed("")), 0, 0.0, "", "", Outcome::Success),
            limits,
            now_ns,
            seen: 0,
            position: 0,
            order: fields::FieldOrder::recall(),
            extra: Vec::new(),
            error: None,
        }
    }

    fn member(&mut self, key: Cow<'a, str>, raw: Raw<'a>) {
        let position = self.position;
        self.position += 1;
        if self.error.is_some() {
            return;
        }
        let Some(field) = self.order.lookup(&key, position) else {
            if raw.kind != Kind::Null {
                self.extra.push((key, attribute_value(&raw)));
            }
            return;
        };
        let bit = 1u64 << field as usize;
        if self.seen & bit != 0 {
            self.error = Some(DecodeError::new(field.name(), Reason::DuplicateField));
            return;
        }
        self.seen |= bit;
        if let Err(e) = set_field(&mut self.ev, field, raw, self.limits, self.now_ns) {
            self.error = Some(e);
        }
    }

    fn finish(mut self) -> Result<AuditEvent<'a>, DecodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        for (index, name) in FIELD_NAMES.iter().enumerate().take(REQUIRED_FIELDS.len()) {
            if self.seen & (1 << index) == 0 {
                return Err(DecodeError::new(*name, Reason::Missing));
            }
        }
        self.order.remember();
        merge_extra_attributes(&mut self.ev.attributes, self.extra, self.limits)?;
        Ok(self.ev)
    }
}

fn set_field<'a>(
    ev: &mut AuditEvent<'a>,
    field: FieldId,
    raw: Raw<'a>,
    limits: &DecodeLimits,
    now_ns: i64,
) -> Result<(), DecodeError> {
    let name = field.name();
    let f = json::Field::new(name, limits.max_name_bytes);
    match field {
        FieldId::EventId => {
            let s = required(name, f.string(&raw)?)?;
            if s.is_empty() {
                return Err(f.err(Reason::InvalidId { detail: "must not be empty" }));
            }
            ev.event_id = EventId::parse(s);
        }
        FieldId::Timestamp => ev.timestamp_ns = timestamp(&f, &raw, limits, now_ns)?,
        FieldId::DurationMs => ev.duration_ms = required(name, f.non_negative_number(&raw)?)?,
        FieldId::Server => ev.server = non_empty(&f, required(name, f.string(&raw)?)?)?,
        FieldId::Tool => ev.tool = non_empty(&f, required(name, f.string(&raw)?)?)?,
        FieldId::Outcome => {
            let s = required(name, f.string(&raw)?)?;
            ev.outcome = Outcome::parse(&s).ok_or_else(|| f.err(Reason::UnknownOutcome { value: s.into_owned() }))?;
        }
        FieldId::SchemaVersion => {
            if let Some(s) = f.string(&raw)? {
                if s != "1" && !s.starts_with("1.") {
                    return Err(f.err(Reason::UnsupportedSchemaVersion { value: s.into_owned() }));
                }
                ev.schema_version = s;
            }
        }
        FieldId::McpMethod => {
            if let Some(s) = f.string(&raw)? {
                ev.mcp_method = s;
            }
        }
        FieldId::Transport => {
            ev.transport = match f.string(&raw)? {
                None => None,
                Some(s) => Some(Transport::parse(&s).ok_or_else(|| {
                    f.err(Reason::UnknownValue { value: s.into_owned(), allowed: Transport::NAMES })
                })?),
            }
        }
        FieldId::ErrorMessage => {
            ev.error_message = f.raw_string(&raw)?.map(|s| truncate(s, limits.max_error_message_bytes));
        }
        FieldId::JsonrpcErrorCode => {
            ev.jsonrpc_error_code = f.integer(&raw, i32::MIN as i64, i32::MAX as i64)?.map(|v| v as i32)
        }
        FieldId::HttpStatus => ev.http_status = f.integer(&raw, 100, 599)?.map(|v| v as u16),
        FieldId::ChainDepth => ev.chain_depth = f.integer(&raw, 0, u16::MAX as i64)?.map(|v| v as u16),
        FieldId::RequestBytes => ev.request_bytes = f.unsigned(&raw)?,
        FieldId::ResponseBytes => ev.response_bytes = f.unsigned(&raw)?,
        FieldId::InputTokens => ev.input_tokens = f.unsigned(&raw)?,
        FieldId::OutputTokens => ev.output_tokens = f.unsigned(&raw)?,
        FieldId::TraceId => ev.trace_id = hex_id::<16>(&f, &raw)?,
        FieldId::SpanId => ev.span_id = hex_id::<8>(&f, &raw)?,
        FieldId::ParentSpanId => ev.parent_span_id = hex_id::<8>(&f, &raw)?,
        FieldId::Attributes => ev.attributes = attributes(&raw, limits)?,
        _ => *optional_string_slot(ev, field) = f.string(&raw)?,
    }
    Ok(())
}

/// A required field's value; JSON `null` is an error.
fn required<T>(name: &'static str, v: Option<T>) -> Result<T, DecodeError> {
    v.ok_or_else(|| DecodeError::new(name, Reason::Null))
}

/// The slot of an optional free-text field.
fn optional_string_slot<'e, 'a>(ev: &'e mut AuditEvent<'a>, field: FieldId) -> &'e mut Option<Cow<'a, str>> {
    match field {
        FieldId::ServerVersion => &mut ev.server_version,
        FieldId::ToolSchemaVersion => &mut ev.tool_schema_version,
        FieldId::AgentId => &mut ev.agent_id,
        FieldId::AgentName => &mut ev.agent_name,
        FieldId::ClientName => &mut ev.client_name,
        FieldId::ClientVersion => &mut ev.client_version,
        FieldId::UserId => &mut ev.user_id,
        FieldId::Tenant => &mut ev.tenant,
        FieldId::Gateway => &mut ev.gateway,
        FieldId::Route => &mut ev.route,
        FieldId::ProtocolVersion => &mut ev.protocol_version,
        FieldId::ErrorType => &mut ev.error_type,
        FieldId::PolicyId => &mut ev.policy_id,
        other => unreachable!("{} is not a free-text field of schema v1", other.name()),
    }
}

fn non_empty<'a>(f: &json::Field, s: Cow<'a, str>) -> Result<Cow<'a, str>, DecodeError> {
    if s.trim().is_empty() {
        return Err(f.err(Reason::Missing));
    }
    Ok(s)
}

fn timestamp(f: &json::Field, raw: &Raw<'_>, limits: &DecodeLimits, now_ns: i64) -> Result<i64, DecodeError> {
    let ns = match raw.kind {
        Kind::String => {
            let s = raw.unquoted();
            parse_rfc3339_ns(&s).ok_or_else(|| f.err(Reason::UnparsableTimestamp { value: s.into_owned() }))?
        }
        Kind::Number => raw
            .text
            .parse::<i64>()
            .ok()
            .and_then(epoch_to_ns)
            .ok_or_else(|| f.err(Reason::UnparsableTimestamp { value: raw.text.to_owned() }))?,
        Kind::Null => return Err(f.err(Reason::Null)),
        found => return Err(f.err(Reason::WrongType { expected: "RFC 3339 string or integer epoch", found: found.name() })),
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

fn hex_id<const N: usize>(f: &json::Field, raw: &Raw<'_>) -> Result<Option<[u8; N]>, DecodeError> {
    let Some(s) = f.raw_string(raw)? else { return Ok(None) };
    if s.is_empty() {
        return Ok(None);
    }
    let detail = if N == 16 { "expected 32 hex digits" } else { "expected 16 hex digits" };
    parse_hex::<N>(&s).map(Some).ok_or_else(|| f.err(Reason::InvalidId { detail }))
}

/// Attribute keys and values, borrowed from the input where they need no unescaping.
type Attributes<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

fn attributes<'a>(raw: &Raw<'a>, limits: &DecodeLimits) -> Result<Attributes<'a>, DecodeError> {
    let f = json::Field::new("attributes", limits.max_attribute_value_bytes);
    match raw.kind {
        Kind::Null => return Ok(Vec::new()),
        Kind::Object => {}
        found => return Err(f.err(Reason::WrongType { expected: "object", found: found.name() })),
    }
    let members = json::object_members(raw, "attributes")?;
    if members.len() > limits.max_attributes {
        return Err(f.err(Reason::TooManyAttributes { count: members.len(), max: limits.max_attributes }));
    }
    let mut out = Vec::with_capacity(members.len());
    for (k, v) in members {
        if v.kind == Kind::Null {
            continue;
        }
        let value = attribute_value(&v);
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
mod mutations;
#[cfg(test)]
mod tests;
