//! Queries over the store, on DataFusion: the store's tables with time-range
//! pruning of hour partitions ([`table`]), HDR-histogram percentile functions
//! ([`hdr`]), a read-only sandbox for user SQL ([`engine`]), and result encodings
//! ([`output`]).

pub mod engine;
pub mod error;
pub mod hdr;
pub mod output;
pub mod promql;
pub mod table;
pub mod time_range;

pub use engine::{QueryConfig, QueryEngine};
pub use error::QueryError;
