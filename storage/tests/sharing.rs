//! Several processes on one data directory: a process starting on it clears
//! only what dead writers left in staging, and one process at a time leads.
//! Each `FileWriter` and `StoreLead` below opens its own lock files, so the
//! kernel treats them as it treats separate processes.

use std::fs;
use std::path::Path;

use arrow::array::RecordBatch;
use toolpulse_schemas::{AuditEvent, EventBatchBuilder, EventId, Outcome};
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::sharing::StoreLead;
use toolpulse_storage::{DataDir, FileWriter, Table};

const T0: i64 = 1_764_064_800_000_000_000;

/// `n` events of one tool.
fn batch(n: u128) -> RecordBatch {
    let mut b = EventBatchBuilder::with_capacity(n as usize);
    for id in 0..n {
        b.append(&AuditEvent::new(EventId::Uuid(uuid::Uuid::from_u128(id)), T0 + id as i64, 1.0, "srv", "tool", Outcome::Success));
    }
    b.finish()
}

fn store() -> (tempfile::TempDir, DataDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path());
    dir.create().unwrap();
    (tmp, dir)
}

fn entries(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

#[test]
fn a_process_starting_on_the_store_leaves_a_living_writers_unpublished_file_alone() {
    let (_tmp, dir) = store();
    let living = FileWriter::new(dir.clone(), WriteOptions::default());
    let staged = living.stage_file(Table::ToolCalls, HourPartition::of_ns(T0), &batch(10), &[], "").unwrap();

    // Another process opens the same directory while that file waits.
    DataDir::new(dir.root()).create().unwrap();

    let written = staged.publish().expect("the living writer's staged file survived the other's start");
    assert_eq!(written.rows, 10);
    assert_eq!(dir.list_files(Table::ToolCalls).unwrap().len(), 1);
}

#[test]
fn what_a_dead_writer_left_in_staging_is_cleared_at_the_next_start() {
    let (_tmp, dir) = store();
    let dead = FileWriter::new(dir.clone(), WriteOptions::default());
    let staged = dead.stage_file(Table::ToolCalls, HourPartition::of_ns(T0), &batch(10), &[], "").unwrap();
    // A crash: neither the staged file's cleanup nor the writer's drop runs, but
    // the kernel releases the writer's lock (here: the writer is dropped).
    std::mem::forget(staged);
    drop(dead);
    fs::write(dir.staging_dir().join("1764064800000-0123456789ab-000001.parquet.tmp"), b"left by an older version").unwrap();
    assert_eq!(entries(&dir.staging_dir()), 3, "the dead writer's folder and lock, and the loose file");

    DataDir::new(dir.root()).create().unwrap();

    assert_eq!(entries(&dir.staging_dir()), 0);
    assert!(dir.list_files(Table::ToolCalls).unwrap().is_empty());
}

#[test]
fn one_process_leads_at_a_time_and_another_takes_over_when_it_is_gone() {
    let (_tmp, dir) = store();
    let first = StoreLead::new(&dir);
    let second = StoreLead::new(&DataDir::new(dir.root()));
    assert!(first.try_hold().unwrap());
    assert!(!second.try_hold().unwrap(), "the lead is taken");
    assert!(first.try_hold().unwrap(), "the leader keeps it");
    assert!(!second.is_held());

    drop(first);

    assert!(second.try_hold().unwrap(), "free once its holder is gone");
    assert!(second.is_held());
}
