//! Parquet writer settings per table: zstd, statistics, row-group size, and the
//! encodings that suit each column (random ids as plain bytes, sorted timestamps
//! delta-encoded, trace ids dictionary-encoded when they repeat enough to pay
//! for it, scaled durations and response sizes split into byte streams).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder, WriterVersion};
use parquet::schema::types::ColumnPath;

use crate::layout::Table;
use crate::stored_form::is_scaled_decimal;

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

/// Writer properties for a file of `table` holding `batch` (in stored form).
pub fn writer_properties(
    table: Table,
    batch: &RecordBatch,
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
    let schema = batch.schema();
    for (column, coding) in column_codings(table) {
        let path = ColumnPath::from(*column);
        b = match coding {
            Coding::Plain(encoding) => plain(b, path, *encoding),
            Coding::SplitWhenDecimal => {
                let split = schema.field_with_name(column).is_ok_and(|f| is_scaled_decimal(table, f));
                plain(b, path, if split { Encoding::BYTE_STREAM_SPLIT } else { Encoding::PLAIN })
            }
            Coding::DictionaryWhenRepeating => match batch.column_by_name(column) {
                Some(values) if !dictionary_pays(values.as_ref(), opts.row_group_rows) => plain(b, path, Encoding::PLAIN),
                _ => b.set_column_dictionary_enabled(path.clone(), true).set_column_dictionary_page_size_limit(path, LARGE_DICTIONARY_BYTES),
            },
        };
    }
    b.build()
}

/// `path` without a dictionary, in `encoding`.
fn plain(b: WriterPropertiesBuilder, path: ColumnPath, encoding: Encoding) -> WriterPropertiesBuilder {
    b.set_column_dictionary_enabled(path.clone(), false).set_column_encoding(path, encoding)
}

/// How a column is encoded when the default (a dictionary of up to 1 MiB, then
/// plain) does not suit it.
enum Coding {
    /// No dictionary: values are (nearly) all distinct, or repeat in no useful way.
    Plain(Encoding),
    /// A dictionary big enough for a whole row group of mostly distinct values
    /// that still repeat (trace ids shared by the calls of one chain), when
    /// they repeat enough to pay for it (see [`dictionary_pays`]); else plain.
    DictionaryWhenRepeating,
    /// Byte-stream-split when stored as a scaled decimal (see `stored_form`),
    /// whose high bytes are mostly zero; plain for doubles, whose split bytes
    /// compress worse than whole repeated values.
    SplitWhenDecimal,
}

/// Dictionary page limit of [`Coding::DictionaryWhenRepeating`] columns: a row
/// group's worth of 16-byte ids.
const LARGE_DICTIONARY_BYTES: usize = ROW_GROUP_ROWS * 16 * 2;

/// Whether a dictionary stores the fixed-size binary `values` in fewer bytes
/// than plain values, judged on the first row group of `row_group_rows`. A
/// dictionary stores each distinct value once and gives every row an index of
/// log2(distinct) bits; plain stores every value, and zstd cannot shorten
/// random ids either way. The calls of one chain share a trace id and come
/// seconds apart: a freshly flushed file holds most of a chain, but a merged
/// hour, sorted by server and tool, scatters a chain across row groups, and
/// its trace ids barely repeat within one. Other types keep the dictionary.
fn dictionary_pays(values: &dyn Array, row_group_rows: usize) -> bool {
    let DataType::FixedSizeBinary(width) = values.data_type() else { return true };
    let values = values.as_fixed_size_binary().slice(0, values.len().min(row_group_rows.max(1)));
    let present = values.len() - values.null_count();
    let mut distinct: foldhash::HashSet<&[u8]> = foldhash::HashSet::with_capacity_and_hasher(present, Default::default());
    distinct.extend(values.iter().flatten());
    let width = *width as usize;
    let index_bits = (distinct.len().max(2) as f64).log2().ceil() as usize;
    distinct.len() * width + present * index_bits / 8 < present * width
}

/// The columns whose coding is not the default.
fn column_codings(table: Table) -> &'static [(&'static str, Coding)] {
    use Coding::{DictionaryWhenRepeating, Plain, SplitWhenDecimal};
    match table {
        // Measured on generated events (`benches/ingest.rs`): response sizes
        // spread too wide for a dictionary and split into byte streams best.
        // Event ids stay plain: byte-stream-split would save the six fixed bits
        // of a UUIDv4, but DuckDB 2.0 cannot read it on fixed-size binary.
        Table::ToolCalls => &[
            ("timestamp", Plain(Encoding::DELTA_BINARY_PACKED)),
            ("duration_ms", SplitWhenDecimal),
            ("response_bytes", Plain(Encoding::BYTE_STREAM_SPLIT)),
            ("event_id", Plain(Encoding::PLAIN)),
            ("trace_id", DictionaryWhenRepeating),
            ("span_id", Plain(Encoding::PLAIN)),
            ("parent_span_id", Plain(Encoding::PLAIN)),
        ],
        Table::Spans => &[
            ("start_time", Plain(Encoding::DELTA_BINARY_PACKED)),
            ("trace_id", Plain(Encoding::PLAIN)),
            ("span_id", Plain(Encoding::PLAIN)),
            ("parent_span_id", Plain(Encoding::PLAIN)),
        ],
        Table::DeadLetters => &[("received_at", Plain(Encoding::DELTA_BINARY_PACKED))],
        Table::Rollups1m | Table::RollupsAgents1m | Table::Latency1m => &[("minute", Plain(Encoding::DELTA_BINARY_PACKED))],
        Table::SloStatus => &[("evaluated_at", Plain(Encoding::DELTA_BINARY_PACKED))],
    }
}
