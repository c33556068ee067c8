//! The Parquet store. Tables live under `<data_dir>/<table>/date=YYYY-MM-DD/hour=HH/`
//! (hive style); files appear atomically (written to the writer's own folder under `_staging/`, fsynced, renamed),
//! rows are sorted within a file, and every file carries metadata saying which
//! flush wrote it.

pub mod compact;
pub mod encode;
pub mod error;
pub mod layout;
pub mod props;
pub mod recovery;
pub mod sharing;
pub mod sort;
pub mod stored_form;
pub mod superseded;
pub mod swap;
pub mod writer;

pub use error::StoreError;
pub use layout::{DataDir, Table};
pub use writer::{FileWriter, StagedFile, WrittenFile, footer_value, sync_dir};
