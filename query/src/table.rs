//! A store table as a DataFusion table: each scan opens only the hour
//! partitions that overlap the time range its filters allow, then lets the
//! Parquet reader prune row groups and pages with the same filters.
//! Of a table replaced whole per hour (`latency_1m`) only the newest file of
//! each hour is read. A listing that overlapped a compaction's swap of files is
//! done again (`toolpulse_storage::swap`), so a scan never reads a merged file
//! and its inputs both.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use toolpulse_storage::swap::SwapSequence;
use toolpulse_storage::{DataDir, Table};

use crate::time_range::TimeRange;

/// How long a scan waits for swaps of files to end before it lists anyway
/// (a swap is a few renames and fsyncs; only a stalled disk takes this long).
const SWAP_WAIT: Duration = Duration::from_secs(5);

/// One table of the store.
#[derive(Debug)]
pub struct StoreTable {
    dir: DataDir,
    table: Table,
    schema: SchemaRef,
    swaps: SwapSequence,
}

impl StoreTable {
    pub fn new(dir: DataDir, table: Table, schema: SchemaRef) -> Self {
        let swaps = SwapSequence::of(&dir);
        Self { dir, table, schema, swaps }
    }

    /// The partition directories a scan with these filters must read (for a
    /// table replaced per hour, the newest file of each).
    pub fn partitions_for(&self, filters: &[Expr]) -> Result<Vec<ListingTableUrl>> {
        let store_err = |e| DataFusionError::External(Box::new(e));
        let range = TimeRange::from_filters(filters, self.table.time_column());
        let parts = self.dir.partitions(self.table).map_err(store_err)?;
        let mut urls = Vec::with_capacity(parts.len());
        for (p, path) in parts.into_iter().filter(|(p, _)| range.overlaps(p.start_ns(), p.end_ns())) {
            if !self.table.replaced_per_hour() {
                urls.push(ListingTableUrl::parse(format!("{}/", path.display()))?);
            } else if let Some(newest) = self.dir.partition_files(self.table, p).map_err(store_err)?.pop() {
                urls.push(ListingTableUrl::parse(newest.display().to_string())?);
            }
        }
        Ok(urls)
    }

    /// The plan of a scan of the files listed now.
    async fn scan_listed(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let urls = self.partitions_for(filters)?;
        if urls.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(self.schema.clone());
        ListingTable::try_new(config)?.scan(state, projection, filters, limit).await
    }
}

#[async_trait]
impl TableProvider for StoreTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Listed again when a swap of files in this process overlapped the
        // listing (waiting out a swap under way here or in another process
        // sharing the directory, which cannot begin one while `stable` lives),
        // up to SWAP_WAIT; then as listed.
        let deadline = Instant::now() + SWAP_WAIT;
        loop {
            let stable = self.swaps.stable();
            if stable.is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            let plan = self.scan_listed(state, projection, filters, limit).await?;
            if stable.as_ref().is_some_and(|s| self.swaps.unchanged_since(s)) || Instant::now() >= deadline {
                return Ok(plan);
            }
        }
    }
}
