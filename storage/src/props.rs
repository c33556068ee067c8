//! Parquet writer settings per table: zstd, statistics, row-group size, and the
//! encodings that suit each column (random ids as plain bytes, sorted timestamps
//! delta-encoded, floats byte-stream-split).

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::metadata::SortingColumn;
use parquet::schema::types::ColumnPath;

use crate::layout::Table;

/// Rows per row group: large enough for good compression, small enough that a
/// time- or server-restricted query skips most of a big file.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Knobs of the writer.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub zstd_level: i32,
    pub row_group_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { zstd_level: 3, row_group_rows: ROW_GROUP_ROWS }
    }
}

/// Writer properties for a table whose schema is `schema_fields` (in order).
pub fn writer_properties(
    table: Table,
    opts: &WriteOptions,
    sorting: Option<Vec<SortingColumn>>,
    kv: Vec<parquet::file::metadata::KeyValue>,
) -> WriterProperties {
    let zstd = ZstdLevel::try_new(opts.zstd_level).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(opts.row_group_rows))
        .set_sorting_columns(sorting)
        .set_key_value_metadata(Some(kv))
        .set_created_by(format!("toolpulse {}", env!("CARGO_PKG_VERSION")));
    for (column, encoding) in column_encodings(table) {
        let path = ColumnPath::from(*column);
        b = b.set_column_dictionary_enabled(path.clone(), false).set_column_encoding(path, *encoding);
    }
    b.build()
}

/// High-cardinality columns: no dictionary, and the encoding that compresses them.
fn column_encodings(table: Table) -> &'static [(&'static str, Encoding)] {
    match table {
        Table::ToolCalls => &[
            ("timestamp", Encoding::DELTA_BINARY_PACKED),
            ("duration_ms", Encoding::BYTE_STREAM_SPLIT),
            ("event_id", Encoding::PLAIN),
            ("trace_id", Encoding::PLAIN),
            ("span_id", Encoding::PLAIN),
            ("parent_span_id", Encoding::PLAIN),
        ],
        Table::Spans => &[
            ("start_time", Encoding::DELTA_BINARY_PACKED),
            ("trace_id", Encoding::PLAIN),
            ("span_id", Encoding::PLAIN),
            ("parent_span_id", Encoding::PLAIN),
        ],
        Table::DeadLetters => &[("received_at", Encoding::DELTA_BINARY_PACKED)],
        Table::Rollups1m | Table::RollupsAgents1m => &[("minute", Encoding::DELTA_BINARY_PACKED)],
        Table::SloStatus => &[("evaluated_at", Encoding::DELTA_BINARY_PACKED)],
    }
}
