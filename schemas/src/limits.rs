//! Bounds applied while decoding, so that one oversized event cannot hurt the rest.

/// Limits enforced by [`crate::decode_event`]. The defaults suit audit events.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeLimits {
    /// Largest accepted event, in bytes of JSON.
    pub max_event_bytes: usize,
    /// Longest name-like string (server, tool, agent, ids, versions...).
    pub max_name_bytes: usize,
    /// `error_message` is truncated (not rejected) to this many bytes.
    pub max_error_message_bytes: usize,
    /// Longest attribute value.
    pub max_attribute_value_bytes: usize,
    /// Most attributes per event (explicit and unknown top-level fields together).
    pub max_attributes: usize,
    /// How far in the future a timestamp may lie (clock skew), in seconds.
    pub max_future_skew_secs: i64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_event_bytes: 64 * 1024,
            max_name_bytes: 256,
            max_error_message_bytes: 1024,
            max_attribute_value_bytes: 4096,
            max_attributes: 64,
            max_future_skew_secs: 3600,
        }
    }
}
