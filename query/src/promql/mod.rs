//! PromQL over toolpulse's data, for Grafana and promtool: expressions parsed
//! with the `promql-parser` crate, evaluated here ([`eval`]) over series that
//! [`source`]s provide (the tool-call metrics of [`tool_calls`], read from the
//! store through DataFusion; the SLO metrics of the SLO engine), and encoded as
//! the Prometheus HTTP API does ([`format`]).

pub mod engine;
pub mod eval;
pub mod format;
pub mod source;
pub mod time;
pub mod tool_calls;
pub mod value;

pub use engine::PromEngine;
pub use source::{MetricMeta, MetricSource, Projection, Selection};

/// An error in Prometheus's terms (`errorType` of the API envelope).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PromError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request or query is malformed or asks for what is not supported (400).
    BadData,
    /// The query failed while running (422).
    Execution,
    /// The query ran out of time (503).
    Timeout,
    /// Something broke inside (500).
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadData => 400,
            ErrorKind::Execution => 422,
            ErrorKind::Timeout => 503,
            ErrorKind::Internal => 500,
        }
    }
}

impl PromError {
    pub fn bad_data(m: impl Into<String>) -> Self {
        PromError { kind: ErrorKind::BadData, message: m.into() }
    }

    pub fn execution(m: impl Into<String>) -> Self {
        PromError { kind: ErrorKind::Execution, message: m.into() }
    }

    pub fn internal(m: impl Into<String>) -> Self {
        PromError { kind: ErrorKind::Internal, message: m.into() }
    }

    /// A part of PromQL toolpulse does not implement.
    pub fn unsupported(what: &str) -> Self {
        PromError::bad_data(format!("unsupported in toolpulse's PromQL: {what}"))
    }
}

impl From<datafusion::error::DataFusionError> for PromError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        PromError::internal(format!("reading the store: {e}"))
    }
}
