//! [`AuditEvent`] ⇄ Arrow `RecordBatch` in the `tool_calls` schema.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, Float64Builder, Int32Builder, MapBuilder, MapFieldNames,
    StringBuilder, TimestampNanosecondBuilder, UInt16Builder, UInt64Builder,
};
use arrow::datatypes::{Float64Type, Int32Type, TimestampNanosecondType, UInt16Type, UInt64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::arrow_schema::tool_calls_schema;
use crate::event::{AuditEvent, Outcome, Transport};
use crate::ids::EventId;

/// Accumulates events column by column.
pub struct EventBatchBuilder {
    timestamp: TimestampNanosecondBuilder,
    server: StringBuilder,
    tool: StringBuilder,
    outcome: StringBuilder,
    duration_ms: Float64Builder,
    event_id: FixedSizeBinaryBuilder,
    event_id_text: StringBuilder,
    /// schema_version … policy_id, in the order of [`text_values`].
    text: Vec<StringBuilder>,
    jsonrpc_error_code: Int32Builder,
    http_status: UInt16Builder,
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    parent_span_id: FixedSizeBinaryBuilder,
    chain_depth: UInt16Builder,
    counters: [UInt64Builder; 4],
    attributes: MapBuilder<StringBuilder, StringBuilder>,
    len: usize,
}

/// The text columns after `event_id_text`. The first 15 are contiguous in the
/// schema; `error_message` and `policy_id` sit between integer columns.
const TEXT_COLUMNS: usize = 17;
const CONTIGUOUS_TEXT: usize = 15;

fn text_values<'e>(e: &'e AuditEvent<'_>) -> [Option<&'e str>; TEXT_COLUMNS] {
    [
        Some(&e.schema_version),
        e.server_version.as_deref(),
        e.tool_schema_version.as_deref(),
        Some(&e.mcp_method),
        e.agent_id.as_deref(),
        e.agent_name.as_deref(),
        e.client_name.as_deref(),
        e.client_version.as_deref(),
        e.user_id.as_deref(),
        e.tenant.as_deref(),
        e.gateway.as_deref(),
        e.route.as_deref(),
        e.transport.map(Transport::as_str),
        e.protocol_version.as_deref(),
        e.error_type.as_deref(),
        e.error_message.as_deref(),
        e.policy_id.as_deref(),
    ]
}

impl EventBatchBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        let names = MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() };
        Self {
            timestamp: TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            server: StringBuilder::with_capacity(rows, rows * 8),
            tool: StringBuilder::with_capacity(rows, rows * 12),
            outcome: StringBuilder::with_capacity(rows, rows * 8),
            duration_ms: Float64Builder::with_capacity(rows),
            event_id: FixedSizeBinaryBuilder::with_capacity(rows, 16),
            event_id_text: StringBuilder::new(),
            text: (0..TEXT_COLUMNS).map(|_| StringBuilder::with_capacity(rows, rows * 4)).collect(),
            jsonrpc_error_code: Int32Builder::with_capacity(rows),
            http_status: UInt16Builder::with_capacity(rows),
            trace_id: FixedSizeBinaryBuilder::with_capacity(rows, 16),
            span_id: FixedSizeBinaryBuilder::with_capacity(rows, 8),
            parent_span_id: FixedSizeBinaryBuilder::with_capacity(rows, 8),
            chain_depth: UInt16Builder::with_capacity(rows),
            counters: std::array::from_fn(|_| UInt64Builder::with_capacity(rows)),
            attributes: MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new()),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn append(&mut self, e: &AuditEvent<'_>) {
        self.timestamp.append_value(e.timestamp_ns);
        self.server.append_value(&e.server);
        self.tool.append_value(&e.tool);
        self.outcome.append_value(e.outcome.as_str());
        self.duration_ms.append_value(e.duration_ms);
        // Infallible: the key is always 16 bytes.
        let _ = self.event_id.append_value(e.event_id.key());
        self.event_id_text.append_option(e.event_id.text());
        for (b, v) in self.text.iter_mut().zip(text_values(e)) {
            b.append_option(v);
        }
        self.jsonrpc_error_code.append_option(e.jsonrpc_error_code);
        self.http_status.append_option(e.http_status);
        append_fixed(&mut self.trace_id, e.trace_id.as_ref().map(|v| &v[..]));
        append_fixed(&mut self.span_id, e.span_id.as_ref().map(|v| &v[..]));
        append_fixed(&mut self.parent_span_id, e.parent_span_id.as_ref().map(|v| &v[..]));
        self.chain_depth.append_option(e.chain_depth);
        for (b, v) in self.counters.iter_mut().zip([e.request_bytes, e.response_bytes, e.input_tokens, e.output_tokens]) {
            b.append_option(v);
        }
        if e.attributes.is_empty() {
            self.attributes.append(false).expect("map builder keys and values are in step");
        } else {
            for (k, v) in &e.attributes {
                self.attributes.keys().append_value(k);
                self.attributes.values().append_value(v);
            }
            self.attributes.append(true).expect("map builder keys and values are in step");
        }
        self.len += 1;
    }

    /// The accumulated events as a batch; the builder starts over empty.
    pub fn finish(&mut self) -> RecordBatch {
        let text: Vec<ArrayRef> = self.text.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.server.finish()),
            Arc::new(self.tool.finish()),
            Arc::new(self.outcome.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_id_text.finish()),
        ];
        columns.extend(text[..CONTIGUOUS_TEXT].iter().cloned()); // schema_version … error_type
        columns.push(Arc::new(self.jsonrpc_error_code.finish()));
        columns.push(text[CONTIGUOUS_TEXT].clone()); // error_message
        columns.push(Arc::new(self.http_status.finish()));
        columns.push(text[CONTIGUOUS_TEXT + 1].clone()); // policy_id
        columns.push(Arc::new(self.trace_id.finish()));
        columns.push(Arc::new(self.span_id.finish()));
        columns.push(Arc::new(self.parent_span_id.finish()));
        columns.push(Arc::new(self.chain_depth.finish()));
        columns.extend(self.counters.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.push(Arc::new(self.attributes.finish()));
        self.len = 0;
        RecordBatch::try_new(tool_calls_schema(), columns).expect("builder columns follow tool_calls_schema")
    }
}

fn append_fixed(b: &mut FixedSizeBinaryBuilder, v: Option<&[u8]>) {
    match v {
        // Infallible: the id types have the column's width.
        Some(v) => {
            let _ = b.append_value(v);
        }
        None => b.append_null(),
    }
}

/// Reads events back from a batch in the `tool_calls` schema (as written by
/// [`EventBatchBuilder`] and stored in Parquet).
pub fn events_from_batch(batch: &RecordBatch) -> Result<Vec<AuditEvent<'static>>, ArrowError> {
    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("column {name} is missing")))
    };
    let s = |name: &str, i: usize| -> Result<Option<Cow<'static, str>>, ArrowError> {
        let a = col(name)?.as_string::<i32>();
        Ok(a.is_valid(i).then(|| Cow::Owned(a.value(i).to_owned())))
    };
    let fixed = |name: &str, i: usize| -> Result<Option<Vec<u8>>, ArrowError> {
        let a = col(name)?.as_fixed_size_binary();
        Ok(a.is_valid(i).then(|| a.value(i).to_vec()))
    };
    let u64v = |name: &str, i: usize| -> Result<Option<u64>, ArrowError> {
        let a = col(name)?.as_primitive::<UInt64Type>();
        Ok(a.is_valid(i).then(|| a.value(i)))
    };
    let u16v = |name: &str, i: usize| -> Result<Option<u16>, ArrowError> {
        let a = col(name)?.as_primitive::<UInt16Type>();
        Ok(a.is_valid(i).then(|| a.value(i)))
    };
    let bad = |what: String| ArrowError::InvalidArgumentError(what);
    let ts = col("timestamp")?.as_primitive::<TimestampNanosecondType>();
    let dur = col("duration_ms")?.as_primitive::<Float64Type>();
    let rpc = col("jsonrpc_error_code")?.as_primitive::<Int32Type>();
    let attrs = col("attributes")?.as_map();
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let id_key: [u8; 16] = fixed("event_id", i)?.and_then(|v| v.try_into().ok()).ok_or_else(|| bad("event_id".into()))?;
        let event_id = match s("event_id_text", i)? {
            Some(t) => EventId::Text(t),
            None => EventId::Uuid(uuid::Uuid::from_bytes(id_key)),
        };
        let outcome_text = s("outcome", i)?.unwrap_or_default();
        let outcome = Outcome::parse(&outcome_text).ok_or_else(|| bad(format!("outcome {outcome_text:?}")))?;
        let mut e = AuditEvent::new(
            event_id,
            ts.value(i),
            dur.value(i),
            s("server", i)?.unwrap_or_default(),
            s("tool", i)?.unwrap_or_default(),
            outcome,
        );
        e.schema_version = s("schema_version", i)?.unwrap_or_default();
        e.server_version = s("server_version", i)?;
        e.tool_schema_version = s("tool_schema_version", i)?;
        e.mcp_method = s("mcp_method", i)?.unwrap_or_default();
        e.agent_id = s("agent_id", i)?;
        e.agent_name = s("agent_name", i)?;
        e.client_name = s("client_name", i)?;
        e.client_version = s("client_version", i)?;
        e.user_id = s("user_id", i)?;
        e.tenant = s("tenant", i)?;
        e.gateway = s("gateway", i)?;
        e.route = s("route", i)?;
        e.transport = s("transport", i)?.and_then(|t| Transport::parse(&t));
        e.protocol_version = s("protocol_version", i)?;
        e.error_type = s("error_type", i)?;
        e.jsonrpc_error_code = rpc.is_valid(i).then(|| rpc.value(i));
        e.error_message = s("error_message", i)?;
        e.http_status = u16v("http_status", i)?;
        e.policy_id = s("policy_id", i)?;
        e.trace_id = fixed("trace_id", i)?.and_then(|v| v.try_into().ok());
        e.span_id = fixed("span_id", i)?.and_then(|v| v.try_into().ok());
        e.parent_span_id = fixed("parent_span_id", i)?.and_then(|v| v.try_into().ok());
        e.chain_depth = u16v("chain_depth", i)?;
        e.request_bytes = u64v("request_bytes", i)?;
        e.response_bytes = u64v("response_bytes", i)?;
        e.input_tokens = u64v("input_tokens", i)?;
        e.output_tokens = u64v("output_tokens", i)?;
        if attrs.is_valid(i) {
            let entries = attrs.value(i);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_string::<i32>();
            e.attributes = (0..entries.len())
                .map(|j| (Cow::Owned(keys.value(j).to_owned()), Cow::Owned(values.value(j).to_owned())))
                .collect();
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeLimits, decode_event, timestamp::now_ns};

    #[test]
    fn batch_round_trip_keeps_every_field() {
        let lines = [
            r#"{"event_id":"0192f0c4-8e4a-7b3c-9d2e-1f0a2b3c4d5e","timestamp":"2026-01-01T00:00:00Z","duration_ms":3.5,"server":"jira","tool":"search","outcome":"tool_error","agent_id":"a1","http_status":200,"policy_id":"p","error_message":"boom","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","chain_depth":1,"input_tokens":5,"transport":"stdio","region":"eu"}"#,
            r#"{"event_id":"evt-2","timestamp":1767225600000,"duration_ms":0,"server":"git","tool":"log","outcome":"success","jsonrpc_error_code":-32000}"#,
        ];
        let events: Vec<_> =
            lines.iter().map(|l| decode_event(l.as_bytes(), &DecodeLimits::default(), now_ns()).unwrap()).collect();
        let mut b = EventBatchBuilder::with_capacity(2);
        for e in &events {
            b.append(e);
        }
        let batch = b.finish();
        assert_eq!(batch.schema(), tool_calls_schema());
        let back = events_from_batch(&batch).unwrap();
        let owned: Vec<_> = events.into_iter().map(AuditEvent::into_owned).collect();
        assert_eq!(back, owned);
    }
}
