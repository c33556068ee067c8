//! The audit event type and its two enums (outcome taxonomy, transport).

use std::borrow::Cow;

use crate::ids::{EventId, SpanId, TraceId};

/// One tool call, as reported by a gateway or an MCP server (schema v1).
///
/// Strings borrow from the decoded input where they can; `AuditEvent<'static>` is
/// the owned form. Optional fields with a documented default (`schema_version`,
/// `mcp_method`) hold the default after decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent<'a> {
    pub event_id: EventId<'a>,
    /// Start of the call, nanoseconds since the Unix epoch (UTC).
    pub timestamp_ns: i64,
    pub duration_ms: f64,
    pub server: Cow<'a, str>,
    pub tool: Cow<'a, str>,
    pub outcome: Outcome,
    pub schema_version: Cow<'a, str>,
    pub server_version: Option<Cow<'a, str>>,
    pub tool_schema_version: Option<Cow<'a, str>>,
    pub mcp_method: Cow<'a, str>,
    pub agent_id: Option<Cow<'a, str>>,
    pub agent_name: Option<Cow<'a, str>>,
    pub client_name: Option<Cow<'a, str>>,
    pub client_version: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    pub tenant: Option<Cow<'a, str>>,
    pub gateway: Option<Cow<'a, str>>,
    pub route: Option<Cow<'a, str>>,
    pub transport: Option<Transport>,
    pub protocol_version: Option<Cow<'a, str>>,
    pub error_type: Option<Cow<'a, str>>,
    pub jsonrpc_error_code: Option<i32>,
    pub error_message: Option<Cow<'a, str>>,
    pub http_status: Option<u16>,
    pub policy_id: Option<Cow<'a, str>>,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub parent_span_id: Option<SpanId>,
    pub chain_depth: Option<u16>,
    pub request_bytes: Option<u64>,
    pub response_bytes: Option<u64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Free-form attributes, plus every unknown top-level field of the input.
    pub attributes: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> AuditEvent<'a> {
    /// A minimal event with the required fields and defaults for the rest.
    pub fn new(
        event_id: EventId<'a>,
        timestamp_ns: i64,
        duration_ms: f64,
        server: impl Into<Cow<'a, str>>,
        tool: impl Into<Cow<'a, str>>,
        outcome: Outcome,
    ) -> Self {
        Self {
            event_id,
            timestamp_ns,
            duration_ms,
            server: server.into(),
            tool: tool.into(),
            outcome,
            schema_version: Cow::Borrowed(crate::SCHEMA_VERSION),
            server_version: None,
            tool_schema_version: None,
            mcp_method: Cow::Borrowed(DEFAULT_MCP_METHOD),
            agent_id: None,
            agent_name: None,
            client_name: None,
            client_version: None,
            user_id: None,
            tenant: None,
            gateway: None,
            route: None,
            transport: None,
            protocol_version: None,
            error_type: None,
            jsonrpc_error_code: None,
            error_message: None,
            http_status: None,
            policy_id: None,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            chain_depth: None,
            request_bytes: None,
            response_bytes: None,
            input_tokens: None,
            output_tokens: None,
            attributes: Vec::new(),
        }
    }

    /// Copies every borrowed string so the event outlives its input.
    pub fn into_owned(self) -> AuditEvent<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        fn own_opt(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            c.map(own)
        }
        AuditEvent {
            event_id: self.event_id.into_owned(),
            timestamp_ns: self.timestamp_ns,
            duration_ms: self.duration_ms,
            server: own(self.server),
            tool: own(self.tool),
            outcome: self.outcome,
            schema_version: own(self.schema_version),
            server_version: own_opt(self.server_version),
            tool_schema_version: own_opt(self.tool_schema_version),
            mcp_method: own(self.mcp_method),
            agent_id: own_opt(self.agent_id),
            agent_name: own_opt(self.agent_name),
            client_name: own_opt(self.client_name),
            client_version: own_opt(self.client_version),
            user_id: own_opt(self.user_id),
            tenant: own_opt(self.tenant),
            gateway: own_opt(self.gateway),
            route: own_opt(self.route),
            transport: self.transport,
            protocol_version: own_opt(self.protocol_version),
            error_type: own_opt(self.error_type),
            jsonrpc_error_code: self.jsonrpc_error_code,
            error_message: own_opt(self.error_message),
            http_status: self.http_status,
            policy_id: own_opt(self.policy_id),
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            chain_depth: self.chain_depth,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            attributes: self.attributes.into_iter().map(|(k, v)| (own(k), own(v))).collect(),
        }
    }
}

/// `mcp_method` when the event does not say.
pub const DEFAULT_MCP_METHOD: &str = "tools/call";

/// What happened to a tool call (the outcome taxonomy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The tool ran and returned a result.
    Success,
    /// The tool ran and reported failure (`CallToolResult.isError = true`).
    ToolError,
    /// The server answered with a JSON-RPC error.
    ProtocolError,
    /// HTTP 401, or 403 with `insufficient_scope`.
    AuthFailure,
    /// A policy or allowlist refused the call.
    Denied,
    /// Deadline exceeded or cancelled.
    Timeout,
    /// HTTP 429.
    RateLimited,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Success,
        Outcome::ToolError,
        Outcome::ProtocolError,
        Outcome::AuthFailure,
        Outcome::Denied,
        Outcome::Timeout,
        Outcome::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ToolError => "tool_error",
            Outcome::ProtocolError => "protocol_error",
            Outcome::AuthFailure => "auth_failure",
            Outcome::Denied => "denied",
            Outcome::Timeout => "timeout",
            Outcome::RateLimited => "rate_limited",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the default success-rate SLI counts this outcome as the server's
    /// failure. `auth_failure`, `denied` and `rate_limited` are the caller's business
    /// and are left out of that SLI altogether (see [`Outcome::counts_for_success_rate`]).
    pub fn is_server_fault(self) -> bool {
        matches!(self, Outcome::ToolError | Outcome::ProtocolError | Outcome::Timeout)
    }

    /// Whether the default success-rate SLI counts this call at all.
    pub fn counts_for_success_rate(self) -> bool {
        self == Outcome::Success || self.is_server_fault()
    }
}

/// How the MCP client reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Stdio,
    StreamableHttp,
    Sse,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Transport::Stdio, Transport::StreamableHttp, Transport::Sse];
    pub const NAMES: &'static [&'static str] = &["stdio", "streamable_http", "sse"];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::StreamableHttp => "streamable_http",
            Transport::Sse => "sse",
        }
    }

    pub fn parse(s: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.as_str() == s)
    }
}
