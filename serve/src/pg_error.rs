//! The errors the PostgreSQL endpoint answers with: DataFusion's own, and
//! ours, each with its SQLSTATE.

use datafusion::error::DataFusionError;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};

/// A DataFusion error (planning or execution), as the library reports it.
pub fn api_error(e: DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

/// An error of ours: SQLSTATE `code` and a message that says why.
pub fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message)))
}
