//! The writer's per-minute rollups (`toolpulse_ingest::rollup`): nanoseconds
//! per event for both tables (`rollups_1m` and `rollups_agents_1m`) over one
//! flush of generated events, on one thread. Measured on the decoded batches
//! as they arrive (Kafka tasks of 2,048 events, in arrival order) and on the
//! same rows after the writer's sort by (server, tool, timestamp), which is
//! what the writer rolls up.
//!
//! `cargo bench --bench rollup` (env: `EVENTS`, default 1M, one flush;
//! `ROUNDS`, default 5).

use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use toolpulse_gen::{GenSpec, Generator};
use toolpulse_ingest::rollup::{rollup, rollup_agents};
use toolpulse_schemas::batch::EventBatchBuilder;
use toolpulse_storage::Table;
use toolpulse_storage::sort::sort_for_write;

mod common;
use common::env_usize;

/// The allocator of the `toolpulse` binary and its settings.
#[path = "../src/allocator.rs"]
mod allocator;

/// Rows per decoded batch, as a Kafka decode task hands them to the writer.
const BATCH_ROWS: usize = 2048;

/// Calls summed over a rollup's rows (every event is counted once).
fn calls(rows: &RecordBatch) -> u64 {
    rows.column_by_name("calls").map_or(0, |c| c.as_primitive::<UInt64Type>().values().iter().sum())
}

/// The fastest of `rounds` passes of both rollups over `batches`, and the rows
/// of each table.
fn best_of(rounds: usize, batches: &[RecordBatch], events: usize) -> (Duration, usize, usize) {
    let mut best = Duration::MAX;
    let (mut minutes, mut agents) = (0, 0);
    for _ in 0..rounds {
        let start = Instant::now();
        let m = rollup(batches).expect("rollup").expect("rows");
        let a = rollup_agents(batches).expect("agents rollup").expect("rows");
        best = best.min(start.elapsed());
        assert_eq!(calls(&m) as usize, events, "rollups_1m counts every event once");
        assert_eq!(calls(&a) as usize, events, "rollups_agents_1m counts every event once");
        (minutes, agents) = (m.num_rows(), a.num_rows());
    }
    (best, minutes, agents)
}

fn main() {
    allocator::keep_freed_memory_longer();
    allocator::without_transparent_huge_pages();
    let events = env_usize("EVENTS", 1_000_000);
    let rounds = env_usize("ROUNDS", 5).max(1);
    // 25k events/s from the generator's fixed start: a flush of 1M events spans
    // 40 s, as a large flush of a busy fleet would.
    let spec = GenSpec { seed: 5, rate: 25_000.0, ..GenSpec::default() };
    let mut generator = Generator::new(spec);
    let mut arrival = Vec::new();
    let mut builder = EventBatchBuilder::with_capacity(BATCH_ROWS);
    for _ in 0..events {
        builder.append(&generator.next_event());
        if builder.len() == BATCH_ROWS {
            arrival.push(builder.finish());
        }
    }
    if !builder.is_empty() {
        arrival.push(builder.finish());
    }
    let (sorted, _) = sort_for_write(Table::ToolCalls, &arrival).expect("sort");
    println!("{events} generated events in one flush; best of {rounds} passes, one thread");
    for (name, batches) in [("arrival order, 2,048-row batches", arrival.as_slice()), ("sorted by (server, tool, timestamp)", std::slice::from_ref(&sorted))] {
        let (d, minutes, agents) = best_of(rounds, batches, events);
        println!(
            "rollups of {name:<36} {:6.1} ns/event  ({minutes} rollups_1m rows, {agents} rollups_agents_1m rows)",
            d.as_nanos() as f64 / events as f64
        );
    }
}
