//! Store files can vanish between a scan's listing and its reads: compaction
//! merges an hour's files into one and removes the inputs. A query that lost a
//! file that way is planned and run again; the new listing sees the merged file.

use std::error::Error;
use std::future::Future;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::object_store;

/// Runs after the first beyond which a vanished file is reported as an error.
const RETRIES: usize = 2;

/// Whether `e` says a file the scan had listed was gone when it came to read it.
pub fn is_vanished_file(e: &DataFusionError) -> bool {
    let mut cause: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(object_store::Error::NotFound { .. }) = c.downcast_ref::<object_store::Error>() {
            return true;
        }
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Runs `run` (planning included) and, when it failed because a listed store
/// file vanished, runs it again, up to [`RETRIES`] times.
pub async fn retry_if_file_vanished<T, F, Fut>(mut run: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut retries = 0;
    loop {
        match run().await {
            Err(e) if retries < RETRIES && is_vanished_file(&e) => {
                retries += 1;
                tracing::debug!(error = %e, retries, "a store file was compacted away mid-query; running it again");
            }
            result => return result,
        }
    }
}

/// Collects `df`, planning and running it again if compaction removed a file
/// under it (see [`retry_if_file_vanished`]).
pub async fn collect(df: &DataFrame) -> Result<Vec<RecordBatch>> {
    retry_if_file_vanished(|| df.clone().collect()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::parquet::errors::ParquetError;

    fn vanished() -> DataFusionError {
        let gone = object_store::Error::NotFound { path: "/store/x.parquet".into(), source: "No such file or directory".into() };
        DataFusionError::ParquetError(Box::new(ParquetError::External(Box::new(gone))))
    }

    #[test]
    fn a_missing_object_under_a_parquet_error_is_a_vanished_file() {
        assert!(is_vanished_file(&vanished()));
        assert!(is_vanished_file(&DataFusionError::IoError(std::io::Error::from(std::io::ErrorKind::NotFound))));
        assert!(!is_vanished_file(&DataFusionError::Plan("no such table".into())));
        assert!(!is_vanished_file(&DataFusionError::IoError(std::io::Error::from(std::io::ErrorKind::PermissionDenied))));
    }

    #[tokio::test]
    async fn a_query_that_lost_a_file_runs_again_and_other_errors_do_not() {
        let mut runs = 0;
        let r = retry_if_file_vanished(|| {
            runs += 1;
            let first = runs == 1;
            async move { if first { Err(vanished()) } else { Ok(7) } }
        })
        .await;
        assert_eq!((r.unwrap(), runs), (7, 2));

        let mut runs = 0;
        let r: Result<()> = retry_if_file_vanished(|| {
            runs += 1;
            async { Err(DataFusionError::Plan("bad".into())) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(runs, 1);

        let mut runs = 0;
        let r: Result<()> = retry_if_file_vanished(|| {
            runs += 1;
            async { Err(vanished()) }
        })
        .await;
        assert!(is_vanished_file(&r.unwrap_err()), "after its retries the error is reported");
        assert_eq!(runs, 1 + RETRIES);
    }
}
