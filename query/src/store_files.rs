//! The object store queries read local files through: the local file system,
//! read-only, and reading a store file that compaction merged away since the
//! query listed it from where compaction keeps it for a while
//! (`toolpulse_storage::superseded`). A query planned before a merge so
//! answers from the files it listed, as if it had run a moment earlier,
//! instead of failing.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions,
    PutPayload, PutResult, Result,
};
use futures::stream::{BoxStream, StreamExt};
use toolpulse_storage::superseded::superseded_location;

/// The local file system, for reading only, falling back to superseded copies.
#[derive(Debug)]
pub struct StoreFiles {
    local: Arc<LocalFileSystem>,
}

impl StoreFiles {
    pub fn new() -> Self {
        Self { local: Arc::new(LocalFileSystem::new()) }
    }

    /// Runs `read` on `location`, and on the superseded copy of a store file
    /// that is not there.
    async fn read_or_superseded<T, F, Fut>(&self, location: &Path, read: F) -> Result<T>
    where
        F: Fn(Path) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        match read(location.clone()).await {
            Err(Error::NotFound { path, source }) => {
                let parts: Vec<_> = location.parts().collect();
                let names: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
                match superseded_location(&names) {
                    Some(moved) => read(Path::from_iter(moved)).await,
                    None => Err(Error::NotFound { path, source }),
                }
            }
            other => other,
        }
    }
}

impl Default for StoreFiles {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for StoreFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreFiles({})", self.local)
    }
}

/// Queries never write: every writing call is refused.
fn read_only<T>() -> Result<T> {
    Err(Error::NotSupported { source: "the query engine's file access is read-only".into() })
}

#[async_trait]
impl ObjectStore for StoreFiles {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        read_only()
    }

    async fn put_multipart_opts(&self, _: &Path, _: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        read_only()
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.read_or_superseded(location, |at| {
            let (local, options) = (self.local.clone(), options.clone());
            async move { local.get_opts(&at, options).await }
        })
        .await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.read_or_superseded(location, |at| {
            let (local, ranges) = (self.local.clone(), ranges.to_vec());
            async move { local.get_ranges(&at, &ranges).await }
        })
        .await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| read_only()).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        read_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::ObjectStoreExt;

    #[tokio::test]
    async fn nothing_is_written_or_removed_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        let kept = tmp.path().join("kept.parquet");
        std::fs::write(&kept, b"PAR1").unwrap();
        let files = StoreFiles::new();
        let at = |p: &std::path::Path| Path::from_absolute_path(p).unwrap();

        let new = tmp.path().join("new.parquet");
        assert!(matches!(files.put(&at(&new), PutPayload::from_static(b"x")).await, Err(Error::NotSupported { .. })));
        assert!(matches!(files.delete(&at(&kept)).await, Err(Error::NotSupported { .. })));
        assert!(matches!(files.rename(&at(&kept), &at(&new)).await, Err(Error::NotSupported { .. })));
        assert!(!new.exists() && kept.exists());
        assert_eq!(files.get(&at(&kept)).await.unwrap().bytes().await.unwrap().as_ref(), b"PAR1");
    }
}
