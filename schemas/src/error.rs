//! Decoding errors: every rejected event names the field and the reason.

use std::borrow::Cow;
use std::fmt;

/// Why one event was rejected: the field (a JSON key, or `""` for the event as a
/// whole) and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {reason}", if field.is_empty() { "event" } else { field })]
pub struct DecodeError {
    pub field: Cow<'static, str>,
    pub reason: Reason,
}

impl DecodeError {
    pub fn new(field: impl Into<Cow<'static, str>>, reason: Reason) -> Self {
        Self { field: field.into(), reason }
    }

    /// An error about the event as a whole (bad JSON, not an object, too large).
    pub fn whole(reason: Reason) -> Self {
        Self::new("", reason)
    }

    /// The field name, or `None` when the error concerns the whole event.
    pub fn field(&self) -> Option<&str> {
        (!self.field.is_empty()).then_some(&*self.field)
    }
}

/// The class of a decoding error; [`Reason::code`] gives a stable machine-readable name.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// A required field is absent.
    Missing,
    /// A required field is `null`.
    Null,
    /// The JSON type does not match the contract.
    WrongType { expected: &'static str, found: &'static str },
    /// A number that must be >= 0 is negative.
    Negative { value: f64 },
    /// A number is NaN or infinite, or outside the integer range of the field.
    OutOfRange { detail: String },
    /// `outcome` is not one of the taxonomy's values.
    UnknownOutcome { value: String },
    /// A string-valued enum (e.g. `transport`) has a value outside its set.
    UnknownValue { value: String, allowed: &'static [&'static str] },
    /// The timestamp could not be parsed.
    UnparsableTimestamp { value: String },
    /// The timestamp lies further in the future than the configured skew allows.
    TimestampInFuture { value: String, max_skew_secs: i64 },
    /// The timestamp lies before the earliest accepted time (2000-01-01).
    TimestampTooOld { value: String },
    /// A string is longer than the limit for its field.
    TooLong { len: usize, max: usize },
    /// An id is not in the required format (W3C hex ids, event ids).
    InvalidId { detail: &'static str },
    /// `schema_version` names a version this build does not implement.
    UnsupportedSchemaVersion { value: String },
    /// The same key appears twice in one event.
    DuplicateField,
    /// Too many attributes.
    TooManyAttributes { count: usize, max: usize },
    /// The event is not valid JSON.
    InvalidJson { detail: String },
    /// The event is valid JSON but not an object.
    NotAnObject,
    /// The event is larger than the per-event limit.
    EventTooLarge { len: usize, max: usize },
}

impl Reason {
    /// A stable, machine-readable name for the reason (used in API answers and the
    /// dead-letter table).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Null => "null",
            Reason::WrongType { .. } => "wrong_type",
            Reason::Negative { .. } => "negative",
            Reason::OutOfRange { .. } => "out_of_range",
            Reason::UnknownOutcome { .. } => "unknown_outcome",
            Reason::UnknownValue { .. } => "unknown_value",
            Reason::UnparsableTimestamp { .. } => "unparsable_timestamp",
            Reason::TimestampInFuture { .. } => "timestamp_in_future",
            Reason::TimestampTooOld { .. } => "timestamp_too_old",
            Reason::TooLong { .. } => "too_long",
            Reason::InvalidId { .. } => "invalid_id",
            Reason::UnsupportedSchemaVersion { .. } => "unsupported_schema_version",
            Reason::DuplicateField => "duplicate_field",
            Reason::TooManyAttributes { .. } => "too_many_attributes",
            Reason::InvalidJson { .. } => "invalid_json",
            Reason::NotAnObject => "not_an_object",
            Reason::EventTooLarge { .. } => "event_too_large",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing => write!(f, "required field is missing"),
            Reason::Null => write!(f, "required field is null"),
            Reason::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Reason::Negative { value } => write!(f, "must be >= 0, got {value}"),
            Reason::OutOfRange { detail } => write!(f, "out of range: {detail}"),
            Reason::UnknownOutcome { value } => write!(
                f,
                "unknown outcome {value:?}; expected one of {}",
                crate::Outcome::ALL.map(|o| o.as_str()).join(", ")
            ),
            Reason::UnknownValue { value, allowed } => {
                write!(f, "unknown value {value:?}; expected one of {}", allowed.join(", "))
            }
            Reason::UnparsableTimestamp { value } => write!(
                f,
                "cannot parse {value:?} as a timestamp; expected RFC 3339 (with a time zone) or integer epoch milliseconds, microseconds or nanoseconds{}",
                // Ten or eleven digits, maybe with a fraction: Unix seconds, which the contract leaves out.
                if value.split('.').next().is_some_and(|i| matches!(i.len(), 10 | 11) && i.bytes().all(|b| b.is_ascii_digit())) {
                    " (this looks like epoch seconds)"
                } else {
                    ""
                }
            ),
            Reason::TimestampInFuture { value, max_skew_secs } => {
                write!(f, "{value} is more than {max_skew_secs}s in the future")
            }
            Reason::TimestampTooOld { value } => write!(f, "{value} is before 2000-01-01"),
            Reason::TooLong { len, max } => write!(f, "string of {len} bytes exceeds the limit of {max}"),
            Reason::InvalidId { detail } => write!(f, "invalid id: {detail}"),
            Reason::UnsupportedSchemaVersion { value } => {
                write!(f, "unsupported schema_version {value:?}; this build implements \"1\"")
            }
            Reason::DuplicateField => write!(f, "field appears more than once"),
            Reason::TooManyAttributes { count, max } => write!(f, "{count} attributes exceed the limit of {max}"),
            Reason::InvalidJson { detail } => write!(f, "invalid JSON: {detail}"),
            Reason::NotAnObject => write!(f, "an event must be a JSON object"),
            Reason::EventTooLarge { len, max } => write!(f, "event of {len} bytes exceeds the limit of {max}"),
        }
    }
}
