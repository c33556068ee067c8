//! The SLO engine: SLO specs ([`spec`], in toolpulse's YAML or OpenSLO v1),
//! per-minute counts from the rollups ([`refresh`], [`counts`]), evaluation of
//! SLIs, burn rates and error budgets ([`evaluate`]), the alert lifecycle
//! ([`alerts`]), notifications ([`notify`]) and the schedule that ties them
//! together ([`engine`]).

pub mod alerts;
pub mod chains;
pub mod counts;
pub mod duration_text;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod metrics;
pub mod notify;
pub mod prom_source;
pub mod refresh;
pub mod selector;
pub mod spec;
pub mod status_table;

pub use engine::{Clock, EngineConfig, Evaluation, SloEngine, SloEngineBuilder, system_clock};
pub use error::SloError;
pub use evaluate::SloStatus;
pub use spec::SloSpec;
