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

    /// The field named `key`.
    pub fn lookup(key: &str) -> Option<FieldId> {
        // Length and last byte first: most names are passed over without a string comparison.
        let last = *key.as_bytes().last()?;
        FIELD_NAMES
            .iter()
            .position(|f| f.len() == key.len() && f.as_bytes()[f.len() - 1] == last && *f == key)
            .map(|i| Self::ALL[i])
    }
}

/// Producers write every event with the same fields in the same order, so the
/// order of the previous event on this thread predicts the next one's: the
/// field at position `i` is looked up there first.
pub struct FieldOrder {
    seen: [Option<FieldId>; ORDER_SLOTS],
}

const ORDER_SLOTS: usize = 48;

thread_local! {
    static LAST_ORDER: std::cell::Cell<[Option<FieldId>; ORDER_SLOTS]> = const { std::cell::Cell::new([None; ORDER_SLOTS]) };
}

impl FieldOrder {
    /// The order this thread saw last.
    pub fn recall() -> Self {
        FieldOrder { seen: LAST_ORDER.with(|o| o.get()) }
    }

    /// The field named `key` at member position `position`.
    pub fn lookup(&mut self, key: &str, position: usize) -> Option<FieldId> {
        let slot = self.seen.get_mut(position);
        if let Some(Some(guess)) = slot.as_deref()
            && guess.name() == key
        {
            return Some(*guess);
        }
        let found = FieldId::lookup(key);
        if let Some(slot) = slot {
            *slot = found;
        }
        found
    }

    /// Keeps this event's order for the next one.
    pub fn remember(self) {
        LAST_ORDER.with(|o| o.set(self.seen));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_line_up() {
        for (i, id) in FieldId::ALL.iter().enumerate() {
            assert_eq!(*id as usize, i);
            assert_eq!(FieldId::lookup(FIELD_NAMES[i]), Some(*id));
        }
        assert_eq!(FieldId::lookup("nope"), None);
        assert_eq!(REQUIRED_FIELDS, FIELD_NAMES[..REQUIRED_FIELDS.len()]);
    }

    #[test]
    fn remembered_order_never_misnames_a_field() {
        let mut order = FieldOrder::recall();
        for (i, name) in ["tool", "server", "x-unknown", "timestamp"].iter().enumerate() {
            order.lookup(name, i);
        }
        order.remember();
        // Another order on the same thread: every guess is checked.
        let mut order = FieldOrder::recall();
        assert_eq!(order.lookup("server", 0), Some(FieldId::Server));
        assert_eq!(order.lookup("server", 1), Some(FieldId::Server));
        assert_eq!(order.lookup("x-unknown", 1), None);
        assert_eq!(order.lookup("x-unknown", 2), None);
        assert_eq!(order.lookup("timestamp", 3), Some(FieldId::Timestamp));
        assert_eq!(order.lookup("outcome", 99), Some(FieldId::Outcome));
    }
}
