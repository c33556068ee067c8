//! The top-level fields of schema v1: their names in contract order, and a
//! [`FieldId`] per name so that decoding dispatches on an enum, not on strings.

/// Every top-level field of schema v1, in contract order.
pub const FIELD_NAMES: [&str; 34] = [
    "event_id", "timestamp", "duration_ms", "server", "tool", "outcome", "schema_version",
    "server_version", "tool_schema_version", "mcp_method", "agent_id", "agent_name",
    "client_name", "client_version", "user_id", "tenant", "gateway", "route", "transport",
    "protocol_version", "error_type", "jsonrpc_error_code", "error_message", "http_status",
    "policy_id", "trace_id", "span_id", "parent_span_id", "chain_depth", "request_bytes",
    "response_bytes", "input_tokens", "output_tokens", "attributes",
];

/// The fields an event must carry (the first ones of [`FIELD_NAMES`]).
pub const REQUIRED_FIELDS: [&str; 6] = ["event_id", "timestamp", "duration_ms", "server", "tool", "outcome"];

/// One top-level field; `FieldId::ALL[i]` is named `FIELD_NAMES[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldId {
    EventId,
    Timestamp,
    DurationMs,
    Server,
    Tool,
    Outcome,
    SchemaVersion,
    ServerVersion,
    ToolSchemaVersion,
    McpMethod,
    AgentId,
    AgentName,
    ClientName,
    ClientVersion,
    UserId,
    Tenant,
    Gateway,
    Route,
    Transport,
    ProtocolVersion,
    ErrorType,
    JsonrpcErrorCode,
    ErrorMessage,
    HttpStatus,
    PolicyId,
    TraceId,
    SpanId,
    ParentSpanId,
    ChainDepth,
    RequestBytes,
    ResponseBytes,
    InputTokens,
    OutputTokens,
    Attributes,
}

impl FieldId {
    /// Every field, in contract order.
    pub const ALL: [FieldId; 34] = {
        use FieldId::*;
        [
            EventId, Timestamp, DurationMs, Server, Tool, Outcome, SchemaVersion, ServerVersion,
            ToolSchemaVersion, McpMethod, AgentId, AgentName, ClientName, ClientVersion, UserId, Tenant,
            Gateway, Route, Transport, ProtocolVersion, ErrorType, JsonrpcErrorCode, ErrorMessage,
            HttpStatus, PolicyId, TraceId, SpanId, ParentSpanId, ChainDepth, RequestBytes,
            ResponseBytes, InputTokens, OutputTokens, Attributes,
        ]
    };

    pub fn name(self) -> &'static str {
        FIELD_NAMES[self as usize]
    }

    /// The field named `key`; `likely` (a position) is tried first, since
    /// producers mostly write fields in contract order.
    pub fn lookup(key: &str, likely: usize) -> Option<FieldId> {
        if FIELD_NAMES.get(likely).is_some_and(|f| *f == key) {
            return Some(Self::ALL[likely]);
        }
        // Length and last byte first: most names are passed over without a string comparison.
        let last = *key.as_bytes().last()?;
        FIELD_NAMES
            .iter()
            .position(|f| f.len() == key.len() && f.as_bytes()[f.len() - 1] == last && *f == key)
            .map(|i| Self::ALL[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_line_up() {
        for (i, id) in FieldId::ALL.iter().enumerate() {
            assert_eq!(*id as usize, i);
            assert_eq!(FieldId::lookup(FIELD_NAMES[i], 0), Some(*id));
            assert_eq!(FieldId::lookup(FIELD_NAMES[i], i), Some(*id));
        }
        assert_eq!(FieldId::lookup("nope", 3), None);
        assert_eq!(REQUIRED_FIELDS, FIELD_NAMES[..REQUIRED_FIELDS.len()]);
    }
}
