//! Queries over the store, on DataFusion: the store's tables with time-range
//! pruning of hour partitions ([`table`]), HDR-histogram percentile functions
//! ([`hdr`]), a read-only sandbox for user SQL ([`engine`]), result encodings
//! ([`output`]), and running a query again when compaction removed a file under
//! it ([`vanished`]).

pub mod engine;
pub mod error;
pub mod hdr;
pub mod output;
pub mod promql;
pub mod table;
pub mod time_range;
pub mod vanished;

pub use engine::{QueryConfig, QueryEngine};
pub use error::QueryError;
