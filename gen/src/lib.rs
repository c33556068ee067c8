//! The load generator: a synthetic fleet of MCP servers, their tools and the
//! agents calling them ([`fleet`]), a deterministic stream of tool-call events
//! with optional incidents ([`generator`], [`incident`]), and the sinks that
//! deliver it (NDJSON, Kafka, HTTP: [`sink`]).

pub mod fleet;
pub mod generator;
pub mod incident;
pub mod malformed;
pub mod sink;

pub use fleet::{Fleet, FleetSpec};
pub use generator::{GenSpec, Generator};
pub use incident::{Incident, IncidentKind};
