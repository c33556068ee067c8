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
    // What a writer killed mid-write leaves: its folder with a half-written
    // file, and its lock file, which the kernel unlocked at its death.
    let staging = dir.staging_dir();
    fs::create_dir(staging.join("0123456789ab")).unwrap();
    fs::write(staging.join("0123456789ab/1764064800000-0123456789ab-000001.parquet.tmp"), b"PAR1 half").unwrap();
    fs::write(staging.join("0123456789ab.lock"), b"").unwrap();
    // And a loose file, as versions before writer folders left.
    fs::write(staging.join("1764064800000-ba9876543210-000001.parquet.tmp"), b"PAR1 half").unwrap();

    DataDir::new(dir.root()).create().unwrap();

    assert_eq!(entries(&staging), 0);
    assert!(dir.list_files(Table::ToolCalls).unwrap().is_empty());
}

#[test]
fn a_writer_that_ends_takes_its_staging_folder_with_it() {
    let (_tmp, dir) = store();
    let writer = FileWriter::new(dir.clone(), WriteOptions::default());
    writer.write(Table::ToolCalls, &[batch(10)], &[]).unwrap();
    assert_eq!(entries(&dir.staging_dir()), 2, "the writer's folder and lock file");
    drop(writer);
    assert_eq!(entries(&dir.staging_dir()), 0);
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
