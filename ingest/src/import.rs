//! Bulk import: an NDJSON stream (a file, stdin; plain, gzip or zstd, told by
//! its first bytes) decoded in large chunks on all cores and written through
//! the same writer as live traffic, so bad lines become dead letters and event
//! ids are deduplicated exactly as for Kafka and HTTP.

use std::io::Read;

use toolpulse_schemas::timestamp::now_ns;
use toolpulse_schemas::DecodeLimits;

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
    input: R,
    name: &str,
    writer: &WriterHandle,
    limits: DecodeLimits,
) -> Result<ImportReport, IngestError> {
    let mut input = inflated(input).map_err(|e| IngestError::Config(format!("reading {name}: {e}")))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(2);
    // Decoded chunks come back to be read into again: a fresh 32 MiB buffer
    // per chunk would have the kernel zero every page of it first.
    let (recycle, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut carry = Vec::new();
        loop {
            let mut buf = recycled.try_recv().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(&carry);
            match read_chunk(&mut input, buf) {
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
        let line0 = report.lines;
        let (decoded, chunk) = tokio::task::spawn_blocking(move || {
            let mut d = decode_ndjson_parallel(&chunk, &ctx, threads);
            d.shift_lines(line0);
            (d, chunk)
        })
        .await
        .map_err(|e| IngestError::Config(format!("decoder task: {e}")))?;
        let _ = recycle.send(chunk);
        report.lines += decoded.lines;
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

/// `input` inflated when it starts like a gzip member or a zstd frame (each
/// may be followed by more, as `cat a.gz b.gz` or `zstd` of several files make
/// them), else as it is.
fn inflated<R: Read + Send + 'static>(mut input: R) -> std::io::Result<Box<dyn Read + Send>> {
    const GZIP: &[u8] = &[0x1f, 0x8b];
    const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    // A pipe may hand over fewer bytes at a time than the magic has.
    let mut head = Vec::with_capacity(ZSTD.len());
    input.by_ref().take(ZSTD.len() as u64).read_to_end(&mut head)?;
    let (is_gzip, is_zstd) = (head.starts_with(GZIP), head.starts_with(ZSTD));
    let whole = std::io::Cursor::new(head).chain(input);
    Ok(if is_gzip {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(whole)))
    } else if is_zstd {
        Box::new(zstd::stream::read::Decoder::new(whole)?)
    } else {
        Box::new(whole)
    })
}

/// Reads up to a chunk after what `buf` holds, ending at a newline; the partial
/// last line is carried over.
fn read_chunk<R: Read>(input: &mut R, mut buf: Vec<u8>) -> std::io::Result<(Vec<u8>, Vec<u8>, bool)> {
    loop {
        let target = if buf.len() >= CHUNK_BYTES { buf.len() * 2 } else { CHUNK_BYTES };
        let want = target - buf.len();
        buf.reserve_exact(want);
        // `read_to_end` fills spare capacity without zeroing it first.
        let got = input.by_ref().take(want as u64).read_to_end(&mut buf)?;
        if got < want {
            return Ok((buf, Vec::new(), true));
        }
        if let Some(i) = memchr::memrchr(b'\n', &buf) {
            let rest = buf[i + 1..].to_vec();
            buf.truncate(i + 1);
            return Ok((buf, rest, false));
        }
        // A single line longer than a chunk: keep reading into it.
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(part: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        e.finish().unwrap()
    }

    /// A reader handing over one byte per call, as a slow pipe may.
    struct Trickle(std::io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    fn read_all(input: impl Read + Send + 'static) -> Vec<u8> {
        let mut out = Vec::new();
        inflated(input).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn gzip_and_zstd_files_are_inflated_whole_and_others_read_as_they_are() {
        let (a, b) = (b"{\"a\":1}\n".to_vec(), b"{\"b\":2}\n".to_vec());
        let both = [a.clone(), b.clone()].concat();
        let gz = [gzip(&a), gzip(&b)].concat();
        let zst = [zstd::encode_all(&a[..], 3).unwrap(), zstd::encode_all(&b[..], 3).unwrap()].concat();
        for packed in [gz, zst, both.clone()] {
            assert_eq!(read_all(std::io::Cursor::new(packed.clone())), both);
            assert_eq!(read_all(Trickle(std::io::Cursor::new(packed))), both);
        }
        for short in [&b""[..], b"{", b"\x1f"] {
            assert_eq!(read_all(std::io::Cursor::new(short.to_vec())), short);
        }
    }
}
