//! Errors of the query layer.

/// Why a query did not answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The sandbox refused the statement (writes, DDL, file access...).
    #[error("refused: {0}")]
    Refused(String),
    #[error("query timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl QueryError {
    /// Whether the user's query is at fault (a 400), rather than the server (a 500).
    pub fn is_user_error(&self) -> bool {
        match self {
            QueryError::Refused(_) | QueryError::Timeout(_) => true,
            QueryError::DataFusion(e) => matches!(
                e.find_root(),
                datafusion::error::DataFusionError::Plan(_)
                    | datafusion::error::DataFusionError::SchemaError(..)
                    | datafusion::error::DataFusionError::SQL(..)
                    | datafusion::error::DataFusionError::NotImplemented(_)
                    | datafusion::error::DataFusionError::ResourcesExhausted(_)
            ),
            _ => false,
        }
    }
}
