//! Bulk import: an NDJSON stream (a file, stdin) decoded in large chunks on all
//! cores and written through the same writer as live traffic, so bad lines become
//! dead letters and event ids are deduplicated exactly as for Kafka and HTTP.

use std::io::Read;

use toolpulse_schemas::timestamp::now_ns;
use toolpulse_schemas::{DeadLetterSource, DecodeLimits};

use crate::body::{DecodeContext, decode_ndjson_parallel};
use crate::error::IngestError;
use crate::writer::{Durable, Submission, WriterHandle};

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub lines: u64,
    pub accepted: u64,
    pub rejected: u64,
}

/// Bytes read and decoded at a time.
const CHUNK_BYTES: usize = 32 << 20;

/// Imports every line of `input`; returns once all of it is durable.
pub async fn import_ndjson<R: Read + Send + 'static>(
    mut input: R,
    name: &str,
    writer: &WriterHandle,
    limits: DecodeLimits,
) -> Result<ImportReport, IngestError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(2);
    let reader = std::thread::spawn(move || {
        let mut carry = Vec::new();
        loop {
            match read_chunk(&mut input, carry) {
                Ok((chunk, rest, eof)) => {
                    if tx.blocking_send(Ok(chunk)).is_err() || eof {
                        return;
                    }
                    carry = rest;
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let mut report = ImportReport::default();
    let mut tickets: Vec<Durable> = Vec::new();
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.map_err(|e| IngestError::Config(format!("reading {name}: {e}")))?;
        if chunk.is_empty() {
            continue;
        }
        let ctx = DecodeContext { limits: limits.clone(), now_ns: now_ns(), request_id: format!("import:{name}") };
        let lines = memchr::memchr_iter(b'\n', &chunk).count() as u64 + u64::from(!chunk.ends_with(b"\n"));
        let line0 = report.lines;
        let decoded = tokio::task::spawn_blocking(move || {
            let mut d = decode_ndjson_parallel(&chunk, &ctx, threads);
            for dl in &mut d.dead {
                if let DeadLetterSource::Http { line, .. } = &mut dl.source {
                    *line += line0;
                }
            }
            d
        })
        .await
        .map_err(|e| IngestError::Config(format!("decoder task: {e}")))?;
        report.lines += lines;
        report.accepted += decoded.accepted as u64;
        report.rejected += decoded.dead.len() as u64;
        let sub = Submission { source: "import", events: decoded.events, dead: decoded.dead, ..Submission::default() };
        tickets.push(writer.submit(sub).await?);
        tickets.retain_mut(|t| t.poll_done().is_none_or(|r| r.is_err()));
    }
    let _ = reader.join();
    writer.flush().await?;
    for t in tickets {
        t.wait().await?;
    }
    Ok(report)
}

/// Reads up to a chunk, ending at a newline; the partial last line is carried over.
fn read_chunk<R: Read>(input: &mut R, mut buf: Vec<u8>) -> std::io::Result<(Vec<u8>, Vec<u8>, bool)> {
    let start = buf.len();
    buf.resize(if start >= CHUNK_BYTES { start * 2 } else { CHUNK_BYTES }, 0);
    let mut filled = start;
    let mut eof = false;
    while filled < buf.len() {
        match input.read(&mut buf[filled..])? {
            0 => {
                eof = true;
                break;
            }
            n => filled += n,
        }
    }
    buf.truncate(filled);
    if eof {
        return Ok((buf, Vec::new(), true));
    }
    match memchr::memrchr(b'\n', &buf) {
        Some(i) => {
            let rest = buf[i + 1..].to_vec();
            buf.truncate(i + 1);
            Ok((buf, rest, false))
        }
        // A single line longer than a chunk: keep reading into it.
        None => read_chunk(input, buf),
    }
}
