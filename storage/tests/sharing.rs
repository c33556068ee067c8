//! Several processes on one data directory: a process starting on it clears
//! only what dead writers left in staging, one process at a time leads, and
//! one process's file swaps and another's listings keep apart.
//! Each `FileWriter` and `StoreLead` below opens its own lock files, so the
//! kernel treats them as it treats separate processes; the other side of a
//! swap is a real process, `flock(1)` from util-linux.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use toolpulse_schemas::{AuditEvent, EventBatchBuilder, EventId, Outcome};
use toolpulse_storage::layout::HourPartition;
use toolpulse_storage::props::WriteOptions;
use toolpulse_storage::sharing::StoreLead;
use toolpulse_storage::swap::SwapSequence;
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

/// The lock that keeps swaps in one process and listings in another apart.
fn swap_lock(dir: &DataDir) -> std::path::PathBuf {
    dir.state_dir().join("swap.lock")
}

/// `flock(1)` (util-linux) taking the swap lock in a process of its own,
/// without waiting (`--exclusive` as a swap does, `--shared` as a listing
/// does): whether it could.
fn other_process_could_lock(dir: &DataDir, mode: &str) -> bool {
    let status = std::process::Command::new("flock").args([mode, "--nonblock"]).arg(swap_lock(dir)).arg("true").status().unwrap();
    status.success()
}

#[test]
fn a_swap_in_another_process_holds_off_listings_here_until_it_ends() {
    let (_tmp, dir) = store();
    let swaps = SwapSequence::of(&dir);
    assert!(swaps.stable().is_some(), "nothing swaps yet");

    // Another process mid-swap: `flock(1)` holding the lock while its `cat`
    // runs, which ends when its input is closed.
    let mut other = std::process::Command::new("flock")
        .args(["--exclusive", "--close"])
        .arg(swap_lock(&dir))
        .arg("cat")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while swaps.stable().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(swaps.stable().is_none(), "a listing here waits while another process swaps");

    drop(other.stdin.take());
    assert!(other.wait().unwrap().success());
    let stable = swaps.stable().expect("listings go on once the other process's swap ended");
    assert!(swaps.unchanged_since(&stable));
}

#[test]
fn a_listing_here_holds_off_another_processs_swap_until_it_ends() {
    let (_tmp, dir) = store();
    let swaps = SwapSequence::of(&dir);
    let listing = swaps.stable().unwrap();
    assert!(!other_process_could_lock(&dir, "--exclusive"), "no swap elsewhere while this process lists");
    drop(listing);
    assert!(other_process_could_lock(&dir, "--exclusive"), "the swap goes ahead once the listing ended");

    // And this process's own swap holds other processes' listings off.
    let swap = swaps.begin();
    assert!(!other_process_could_lock(&dir, "--shared"), "another process does not list during this swap");
    drop(swap);
    assert!(other_process_could_lock(&dir, "--shared"));
}
