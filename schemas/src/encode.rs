//! [`AuditEvent`] → JSON, the inverse of [`crate::decode_event`] (used by the load
//! generator and by tests that need events a peer would send).

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::event::AuditEvent;
use crate::ids::to_hex;
use crate::timestamp::format_rfc3339;

impl Serialize for AuditEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("event_id", &self.event_id.to_string())?;
        m.serialize_entry("timestamp", &format_rfc3339(self.timestamp_ns))?;
        m.serialize_entry("duration_ms", &self.duration_ms)?;
        m.serialize_entry("server", &self.server)?;
        m.serialize_entry("tool", &self.tool)?;
        m.serialize_entry("outcome", self.outcome.as_str())?;
        m.serialize_entry("schema_version", &self.schema_version)?;
        m.serialize_entry("mcp_method", &self.mcp_method)?;
        let text = [
            ("server_version", &self.server_version),
            ("tool_schema_version", &self.tool_schema_version),
            ("agent_id", &self.agent_id),
            ("agent_name", &self.agent_name),
            ("client_name", &self.client_name),
            ("client_version", &self.client_version),
            ("user_id", &self.user_id),
            ("tenant", &self.tenant),
            ("gateway", &self.gateway),
            ("route", &self.route),
            ("protocol_version", &self.protocol_version),
            ("error_type", &self.error_type),
            ("error_message", &self.error_message),
            ("policy_id", &self.policy_id),
        ];
        for (k, v) in text {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        if let Some(t) = self.transport {
            m.serialize_entry("transport", t.as_str())?;
        }
        if let Some(v) = self.jsonrpc_error_code {
            m.serialize_entry("jsonrpc_error_code", &v)?;
        }
        if let Some(v) = self.http_status {
            m.serialize_entry("http_status", &v)?;
        }
        if let Some(v) = &self.trace_id {
            m.serialize_entry("trace_id", &to_hex(v))?;
        }
        if let Some(v) = &self.span_id {
            m.serialize_entry("span_id", &to_hex(v))?;
        }
        if let Some(v) = &self.parent_span_id {
            m.serialize_entry("parent_span_id", &to_hex(v))?;
        }
        if let Some(v) = self.chain_depth {
            m.serialize_entry("chain_depth", &v)?;
        }
        let counters = [
            ("request_bytes", self.request_bytes),
            ("response_bytes", self.response_bytes),
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
        ];
        for (k, v) in counters {
            if let Some(v) = v {
                m.serialize_entry(k, &v)?;
            }
        }
        if !self.attributes.is_empty() {
            let attrs: serde_json::Map<String, serde_json::Value> =
                self.attributes.iter().map(|(k, v)| (k.to_string(), v.to_string().into())).collect();
            m.serialize_entry("attributes", &attrs)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use crate::{AuditEvent, DecodeLimits, EventId, Outcome, Transport, decode_event, timestamp::now_ns};

    #[test]
    fn encode_then_decode_is_identity() {
        let mut e = AuditEvent::new(EventId::parse("evt-1"), 1_764_064_800_123_456_789, 42.25, "jira", "search", Outcome::Timeout);
        e.transport = Some(Transport::Sse);
        e.trace_id = Some([7; 16]);
        e.span_id = Some([9; 8]);
        e.request_bytes = Some(10);
        e.attributes = vec![("k".into(), "v".into())];
        let json = serde_json::to_vec(&e).unwrap();
        let back = decode_event(&json, &DecodeLimits::default(), now_ns()).unwrap();
        assert_eq!(back, e);
    }
}
