//! A time limit on every query of a session, for front ends that run the plans
//! themselves (the PostgreSQL endpoint, whose library streams results straight
//! to the client), where a timeout around collecting the results cannot reach.
//!
//! A physical optimizer rule puts [`DeadlineExec`] on top of each plan. Its
//! stream counts the time its reader waits for rows, and once that passes the
//! limit it answers an error instead; dropping the stream then cancels the
//! query's work. Time the reader spends elsewhere (a client reading slowly, a
//! cursor left open between fetches) does not count.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{Stream, StreamExt as _};
use tokio::time::{Instant, Sleep};

/// The rule: every physical plan of the session ends at `limit`.
#[derive(Debug)]
pub struct Deadline {
    limit: Duration,
}

impl Deadline {
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl PhysicalOptimizerRule for Deadline {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if plan.name() == "DeadlineExec" {
            return Ok(plan);
        }
        Ok(Arc::new(DeadlineExec { properties: plan.properties().clone(), input: plan, limit: self.limit }))
    }

    fn name(&self) -> &str {
        "deadline"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The top of a plan under a time limit: its input's rows, or an error once
/// the reader has waited `limit` for them in all.
#[derive(Debug)]
pub struct DeadlineExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    limit: Duration,
}

impl DisplayAs for DeadlineExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeadlineExec: limit={:?}", self.limit)
    }
}

impl ExecutionPlan for DeadlineExec {
    fn name(&self) -> &str {
        "DeadlineExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(&self, _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("DeadlineExec has one input, not {}", children.len());
        }
        let input = children.swap_remove(0);
        Ok(Arc::new(DeadlineExec { properties: input.properties().clone(), input, limit: self.limit }))
    }

    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, ctx)?;
        Ok(Box::pin(DeadlineStream { input, limit: self.limit, waited: Duration::ZERO, waiting: None, expired: false }))
    }
}

/// The input's stream, counting the time its reader waits.
struct DeadlineStream {
    input: SendableRecordBatchStream,
    limit: Duration,
    /// Waited for the batches already answered.
    waited: Duration,
    /// Since when the reader waits for the next batch, and the alarm set for
    /// the moment the limit is reached (once the input made it wait).
    waiting: Option<(Instant, Option<Pin<Box<Sleep>>>)>,
    expired: bool,
}

impl Stream for DeadlineStream {
    type Item = Result<RecordBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        let remaining = this.limit.saturating_sub(this.waited);
        let (since, alarm) = this.waiting.get_or_insert_with(|| (Instant::now(), None));
        let since = *since;
        if since.elapsed() >= remaining {
            return this.expire();
        }
        match this.input.poll_next_unpin(cx) {
            Poll::Ready(item) => {
                this.waited += since.elapsed();
                this.waiting = None;
                Poll::Ready(item)
            }
            Poll::Pending => {
                let alarm = alarm.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(since + remaining)));
                match alarm.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => this.expire(),
                }
            }
        }
    }
}

impl DeadlineStream {
    fn expire(&mut self) -> Poll<Option<Result<RecordBatch>>> {
        self.expired = true;
        let msg = format!("query cancelled: it computed for longer than the limit of {:?} (query.timeout)", self.limit);
        Poll::Ready(Some(Err(DataFusionError::ResourcesExhausted(msg))))
    }
}

impl RecordBatchStream for DeadlineStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;
    use futures::TryStreamExt as _;

    use super::*;

    async fn session(limit: Duration) -> SessionContext {
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(Deadline::new(limit)))
            .build();
        SessionContext::new_with_state(state)
    }

    #[tokio::test]
    async fn a_long_query_ends_with_an_error_and_a_short_one_answers() {
        let ctx = session(Duration::from_millis(300)).await;
        let quick = ctx.sql("SELECT count(*) AS n FROM generate_series(1, 1000)").await.unwrap().collect().await.unwrap();
        assert_eq!(quick[0].num_rows(), 1);
        // A cross join of 10^12 rows takes hours.
        let slow = ctx.sql("SELECT count(*) FROM generate_series(1, 1000000) a, generate_series(1, 1000000) b").await.unwrap();
        let started = std::time::Instant::now();
        let err = slow.execute_stream().await.unwrap().try_collect::<Vec<_>>().await.unwrap_err();
        assert!(err.to_string().contains("longer than the limit of 300ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20), "cancelled near its limit, not after {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn time_the_reader_does_not_wait_is_not_counted() {
        let ctx = session(Duration::from_millis(200)).await;
        let df = ctx.sql("SELECT * FROM generate_series(1, 100000)").await.unwrap();
        let mut stream = df.execute_stream().await.unwrap();
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            rows += batch.unwrap().num_rows();
            // A client reading slowly: the pauses add up to more than the limit.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert_eq!(rows, 100_000);
    }
}
