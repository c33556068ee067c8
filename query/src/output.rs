//! Result encodings shared by the CLI and the HTTP API: a text table, CSV, JSON
//! rows, Parquet and Arrow IPC.

use std::str::FromStr;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::error::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
    ArrowIpc,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "parquet" => Ok(Format::Parquet),
            "arrow" => Ok(Format::ArrowIpc),
            other => Err(format!("unknown format `{other}` (table, csv, json, parquet, arrow)")),
        }
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Table => "text/plain; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::ArrowIpc => "application/vnd.apache.arrow.stream",
        }
    }

    /// The format an HTTP `Accept` header asks for (JSON unless it names another).
    pub fn from_accept(accept: &str) -> Format {
        let a = accept.to_ascii_lowercase();
        if a.contains("text/csv") {
            Format::Csv
        } else if a.contains("application/vnd.apache.arrow.stream") || a.contains("application/vnd.apache.arrow.file") {
            Format::ArrowIpc
        } else if a.contains("parquet") {
            Format::Parquet
        } else {
            Format::Json
        }
    }
}

/// Encodes batches; `schema` is used when there are none.
pub fn encode(batches: &[RecordBatch], schema: &SchemaRef, format: Format) -> Result<Vec<u8>, QueryError> {
    let mut out = Vec::new();
    match format {
        Format::Table => {
            out = datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string().into_bytes();
            out.push(b'\n');
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
        }
        Format::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema.clone(), None)?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
        }
        Format::ArrowIpc => {
            let mut w = datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, schema)?;
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(out)
}

/// Decodes an Arrow IPC stream (what the CLI receives from a server).
pub fn decode_ipc(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
    let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(bytes, None)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}
