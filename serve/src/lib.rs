//! The toolpulse server: one typed configuration, bearer-token authentication,
//! and the wiring of sources, the writer, background jobs and the HTTP APIs.

pub mod auth;
pub mod config;
pub mod jobs;
pub mod lead;
pub mod metrics_text;
pub mod pg_column_names;
pub mod pg_copy;
pub mod pg_error;
pub mod pg_information_schema;
pub mod pg_settings;
pub mod pg_typeof;
pub mod pg_types;
pub mod pg_wire;
pub mod prom_api;
pub mod server;
pub mod slo_api;
pub mod sql_api;
pub mod telemetry;

pub use config::{Config, ConfigOverrides};
pub use server::{RunningServer, Server};
