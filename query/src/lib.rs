//! Queries over the store, on DataFusion: the store's tables with time-range
//! pruning of hour partitions ([`table`]), HDR-histogram percentile functions
//! ([`hdr`]), a read-only sandbox for user SQL ([`engine`]), a time limit for
//! sessions that stream their own results ([`deadline`]), result encodings
//! ([`output`]), PostgreSQL's functions and casts where DataFusion's differ
//! ([`postgres`]), reading the files compaction merged away from under a query
//! ([`store_files`]), and running a query again when a file vanished all the
//! same ([`vanished`]).

pub mod deadline;
pub mod engine;
pub mod error;
pub mod hdr;
pub mod id_literals;
pub mod output;
pub mod plan_rewrite;
pub mod postgres;
pub mod promql;
pub mod store_files;
pub mod table;
pub mod time_range;
pub mod vanished;

pub use engine::{QueryConfig, QueryEngine};
pub use error::QueryError;
