//! Decodes a batch of events (an HTTP body or a file): NDJSON, one event per line,
//! or one JSON array of events. Good events become Arrow rows; each bad one
//! becomes a dead letter and a per-line error, and never costs its neighbours.

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::value::RawValue;
use toolpulse_schemas::{DeadLetter, DeadLetterSource, DecodeError, DecodeLimits, EventBatchBuilder, Reason, decode_event};

/// One rejected line, as reported back to the sender.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineError {
    /// 1-based line of the body (or 1-based index in a JSON array).
    pub line: u64,
    /// The offending field, absent when the whole line is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Machine-readable reason.
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
}

/// The result of decoding one body.
#[derive(Debug, Default)]
pub struct Decoded {
    pub events: Vec<RecordBatch>,
    pub accepted: usize,
    pub dead: Vec<DeadLetter>,
    pub errors: Vec<LineError>,
    /// Lines read (NDJSON) or items (a JSON array), blank ones included.
    pub lines: u64,
}

impl Decoded {
    fn merge(&mut self, other: Decoded) {
        self.events.extend(other.events);
        self.accepted += other.accepted;
        self.dead.extend(other.dead);
        self.errors.extend(other.errors);
        self.lines += other.lines;
    }

    /// Numbers the errors and dead letters as if `offset` lines came before.
    pub fn shift_lines(&mut self, offset: u64) {
        for e in &mut self.errors {
            e.line += offset;
        }
        for d in &mut self.dead {
            if let DeadLetterSource::Http { line, .. } = &mut d.source {
                *line += offset;
            }
        }
    }

    /// Memory held by the decoded rows and dead letters, for buffer accounting.
    pub fn memory_bytes(&self) -> usize {
        self.events.iter().map(RecordBatch::get_array_memory_size).sum::<usize>()
            + self.dead.iter().map(|d| d.raw.len() + d.reason.len() + 128).sum::<usize>()
    }
}

/// What decoding needs besides the bytes.
#[derive(Debug, Clone)]
pub struct DecodeContext {
    pub limits: DecodeLimits,
    /// Reference time for the future-timestamp check, and the dead letters' receipt time.
    pub now_ns: i64,
    /// Identifies the request in dead letters.
    pub request_id: String,
}

/// Decodes NDJSON, a JSON array, or one event written over several lines (as
/// `curl -d @event.json` sends a formatted file). An array is told by its first
/// non-blank byte (after a byte order mark, if the body starts with one); one
/// event over several lines, by the whole body being one JSON object.
pub fn decode_body(body: &[u8], ctx: &DecodeContext) -> Decoded {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => decode_array(body, ctx),
        Some(b'{') if is_one_object_over_lines(body) => {
            let mut acc = Accumulator::new(ctx, 1);
            acc.line(1, trim(body));
            acc.out.lines = 1;
            acc.finish()
        }
        _ => decode_ndjson_parallel(body, ctx, parallelism_for(body.len())),
    }
}

/// Whether a message that is not one event holds several: a JSON array, or
/// NDJSON (a first line that is whole JSON, and more lines after it). A
/// malformed event formatted over lines is neither, and stays one error.
pub fn holds_several_events(body: &[u8]) -> bool {
    let body = trim(body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body));
    match body.first() {
        Some(b'[') => true,
        Some(b'{') => memchr::memchr(b'\n', body)
            .is_some_and(|end| serde_json::from_slice::<&RawValue>(trim(&body[..end])).is_ok()),
        _ => false,
    }
}

/// Whether `body` (starting with `{`) is one JSON object spanning lines. In
/// NDJSON the check stops where the first line's object ends, so it costs the
/// reading of one line; malformed JSON is not one object and is read by lines,
/// so that a broken line never costs the lines after it.
fn is_one_object_over_lines(body: &[u8]) -> bool {
    let body = trim(body);
    memchr::memchr(b'\n', body).is_some() && serde_json::from_slice::<&RawValue>(body).is_ok()
}

fn parallelism_for(len: usize) -> usize {
    if len < 4 << 20 {
        return 1;
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Decodes a JSON array, item by item. Where the array's JSON breaks, the items
/// before the break are still decoded, and the rest of the body becomes one
/// dead letter numbered as the next item.
fn decode_array(body: &[u8], ctx: &DecodeContext) -> Decoded {
    let (items, broken) = array_items(body);
    let mut acc = Accumulator::new(ctx, items.len());
    for (i, raw) in items.iter().enumerate() {
        acc.line(i as u64 + 1, raw.get().as_bytes());
    }
    let mut lines = items.len() as u64;
    if let Some(e) = broken {
        let rest = items.last().map_or(body, |last| {
            let end = last.get().as_ptr() as usize - body.as_ptr() as usize + last.get().len();
            &body[end..]
        });
        lines += 1;
        let reason = Reason::InvalidJson { detail: format!("the array breaks: {e}") };
        acc.reject(lines, trim(rest), &DecodeError::whole(reason));
    }
    acc.out.lines = lines;
    acc.finish()
}

/// The items of the JSON array `body` up to where its JSON breaks, and the
/// error there if it does.
fn array_items(body: &[u8]) -> (Vec<&RawValue>, Option<serde_json::Error>) {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    /// Collects into a vector the caller keeps, so that the items read before
    /// an error outlive it.
    struct Items<'v, 'de>(&'v mut Vec<&'de RawValue>);

    impl<'de> DeserializeSeed<'de> for Items<'_, 'de> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Items<'_, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of events")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(item) = seq.next_element::<&'de RawValue>()? {
                self.0.push(item);
            }
            Ok(())
        }
    }

    let mut items = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = Items(&mut items).deserialize(&mut de).and_then(|()| de.end());
    (items, read.err())
}

/// Decodes NDJSON lines; `first_line` numbers the first one.
pub fn decode_ndjson(body: &[u8], first_line: u64, ctx: &DecodeContext) -> Decoded {
    let mut acc = Accumulator::new(ctx, body.len() / 256);
    let mut line_no = first_line;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len())) {
        if end < start || (end == body.len() && start == end) {
            // Nothing follows the last newline.
            break;
        }
        let line = trim(&body[start..end]);
        if !line.is_empty() {
            acc.line(line_no, line);
        }
        line_no += 1;
        start = end + 1;
    }
    acc.out.lines = line_no - first_line;
    acc.finish()
}

/// Decodes NDJSON on `threads` threads, splitting at line boundaries.
pub fn decode_ndjson_parallel(body: &[u8], ctx: &DecodeContext, threads: usize) -> Decoded {
    if threads <= 1 {
        return decode_ndjson(body, 1, ctx);
    }
    let mut chunks = Vec::with_capacity(threads);
    let mut start = 0usize;
    for i in 1..=threads {
        let target = (body.len() * i / threads).max(start);
        let end = if i == threads {
            body.len()
        } else {
            memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |p| target + p + 1)
        };
        chunks.push(&body[start..end]);
        start = end;
    }
    // Each part numbers its lines from 1; they are shifted once the parts before are counted.
    // On the decode pool: its threads (and their allocator caches) outlive the call.
    let parts: Vec<Decoded> = crate::decode_pool::install(|| chunks.par_iter().map(|c| decode_ndjson(c, 1, ctx)).collect());
    let mut out = Decoded::default();
    for mut p in parts {
        p.shift_lines(out.lines);
        out.merge(p);
    }
    out
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |p| p + 1);
    &line[start..end]
}

/// Rows per Arrow batch while decoding.
const BATCH_ROWS: usize = 64 * 1024;

struct Accumulator<'c> {
    ctx: &'c DecodeContext,
    builder: EventBatchBuilder,
    out: Decoded,
}

impl<'c> Accumulator<'c> {
    fn new(ctx: &'c DecodeContext, expected: usize) -> Self {
        Self { ctx, builder: EventBatchBuilder::with_capacity(expected.clamp(16, BATCH_ROWS)), out: Decoded::default() }
    }

    fn line(&mut self, line: u64, bytes: &[u8]) {
        match decode_event(bytes, &self.ctx.limits, self.ctx.now_ns) {
            Ok(e) => {
                self.builder.append(&e);
                self.out.accepted += 1;
                if self.builder.len() >= BATCH_ROWS {
                    self.out.events.push(self.builder.finish());
                }
            }
            Err(err) => self.reject(line, bytes, &err),
        }
    }

    fn reject(&mut self, line: u64, bytes: &[u8], err: &DecodeError) {
        let source = DeadLetterSource::Http { request_id: self.ctx.request_id.clone(), line };
        self.out.dead.push(DeadLetter::from_error(self.ctx.now_ns, source, err, bytes));
        self.out.errors.push(LineError {
            line,
            field: err.field().map(str::to_owned),
            code: err.reason.code().to_owned(),
            reason: err.reason.to_string(),
        });
    }

    fn finish(mut self) -> Decoded {
        if !self.builder.is_empty() {
            self.out.events.push(self.builder.finish());
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolpulse_schemas::timestamp::now_ns;

    fn ctx() -> DecodeContext {
        DecodeContext { limits: DecodeLimits::default(), now_ns: now_ns(), request_id: "r1".into() }
    }

    fn line(id: &str) -> String {
        format!(r#"{{"event_id":"{id}","timestamp":"2026-01-01T00:00:00Z","duration_ms":1,"server":"s","tool":"t","outcome":"success"}}"#)
    }

    #[test]
    fn bad_lines_do_not_cost_their_neighbours() {
        let body = format!("{}\n\n{{\"event_id\": 1}}\r\n{}\nnot json\n", line("a"), line("b"));
        let d = decode_body(body.as_bytes(), &ctx());
        assert_eq!(d.accepted, 2);
        let lines: Vec<(u64, Option<&str>, &str)> =
            d.errors.iter().map(|e| (e.line, e.field.as_deref(), e.code.as_str())).collect();
        assert_eq!(lines, [(3, Some("event_id"), "wrong_type"), (5, None, "invalid_json")]);
        assert_eq!(d.dead.len(), 2);
        assert_eq!(d.dead[0].raw, b"{\"event_id\": 1}");
        assert_eq!(d.dead[0].source, DeadLetterSource::Http { request_id: "r1".into(), line: 3 });
    }

    #[test]
    fn json_arrays_number_items_from_one() {
        let body = format!("[{}, {{\"x\":1}}, {}]", line("a"), line("b"));
        let d = decode_body(body.as_bytes(), &ctx());
        assert_eq!(d.accepted, 2);
        assert_eq!(d.errors[0].line, 2);
    }

    #[test]
    fn a_broken_array_keeps_the_items_before_the_break_and_dead_letters_the_rest() {
        let body = format!("[{}, {} ,\n {{\"a\": }}, {}]", line("a"), line("b"), line("c"));
        let d = decode_body(body.as_bytes(), &ctx());
        assert_eq!((d.accepted, d.lines), (2, 3));
        assert_eq!(d.errors.len(), 1);
        assert_eq!((d.errors[0].line, d.errors[0].code.as_str()), (3, "invalid_json"));
        assert!(d.errors[0].reason.starts_with("invalid JSON: the array breaks: expected value at line 2 column"), "{}", d.errors[0].reason);
        let rest = format!(",\n {{\"a\": }}, {}]", line("c"));
        assert_eq!(d.dead[0].raw, rest.as_bytes());
        // Cut short, and broken at the first item.
        let d = decode_body(format!("[{}", line("a")).as_bytes(), &ctx());
        assert_eq!((d.accepted, d.errors.len(), d.errors[0].line), (1, 1, 2));
        let d = decode_body(b"[{\"a\":}]", &ctx());
        assert_eq!((d.accepted, d.dead.len(), d.dead[0].raw.as_slice()), (0, 1, &b"[{\"a\":}]"[..]));
    }

    #[test]
    fn a_byte_order_mark_before_the_body_is_ignored() {
        let ndjson = format!("\u{feff}{}\n{}\n", line("a"), line("b"));
        let array = format!("\u{feff}[{}, {}]", line("a"), line("b"));
        for body in [ndjson, array] {
            let d = decode_body(body.as_bytes(), &ctx());
            assert_eq!((d.accepted, d.errors.len()), (2, 0), "{body}");
        }
    }

    #[test]
    fn one_event_over_several_lines_is_one_event() {
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&line("a")).unwrap()).unwrap();
        assert!(pretty.lines().count() > 5);
        let d = decode_body(format!("\n{pretty}\n").as_bytes(), &ctx());
        assert_eq!((d.accepted, d.errors.len(), d.lines), (1, 0, 1));
        // Its field errors are reported as for a line.
        let bad = pretty.replace(r#""duration_ms": 1"#, r#""duration_ms": -1"#);
        let d = decode_body(bad.as_bytes(), &ctx());
        assert_eq!(d.errors, [LineError { line: 1, field: Some("duration_ms".into()), code: "negative".into(), reason: "must be >= 0, got -1".into() }]);
        assert_eq!(d.dead[0].raw, bad.as_bytes());
        // Malformed, it is read by lines: one broken line must not cost the next ones.
        let body = format!("{{\"event_id\": \n{}\n{}\n", line("b"), line("c"));
        let d = decode_body(body.as_bytes(), &ctx());
        assert_eq!((d.accepted, d.errors.len()), (2, 1));
    }

    #[test]
    fn parallel_decoding_numbers_lines_like_sequential() {
        let mut body = String::new();
        for i in 0..1000 {
            body.push_str(&if i % 7 == 0 { "{bad}".to_owned() } else { line(&format!("e{i}")) });
            body.push('\n');
        }
        let seq = decode_ndjson(body.as_bytes(), 1, &ctx());
        let par = decode_ndjson_parallel(body.as_bytes(), &ctx(), 3);
        assert_eq!(seq.accepted, par.accepted);
        assert_eq!(seq.errors, par.errors);
    }
}
