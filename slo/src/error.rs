//! Errors of the SLO engine.

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum SloError {
    #[error("query failed: {0}")]
    Query(#[from] DataFusionError),
    #[error("unexpected data: {0}")]
    Shape(String),
    #[error("alert state: {0}")]
    State(String),
    #[error("writing slo_status: {0}")]
    Store(#[from] toolpulse_storage::StoreError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}
