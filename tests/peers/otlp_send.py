"""Sends MCP tool-call spans to toolpulse with the OpenTelemetry Python SDK's
OTLP/HTTP exporter (protobuf), or its OTLP/gRPC exporter, shaped by the MCP
semantic conventions.

usage: otlp_send.py ENDPOINT TOKEN [gzip|deflate|none|grpc|protojson]

With `grpc`, ENDPOINT is the gRPC address (`http://127.0.0.1:4317`) and the
exporter sends gzip-compressed exports with the token as `authorization`
metadata. With `protojson`, the SDK's own encoding of the spans is sent as
JSON by protobuf's canonical mapping (`google.protobuf.json_format`), as tools
that serialize the OTLP messages themselves send it: ids in base64, enums by
name, 64-bit integers as strings.

Prints one JSON line per tool call it made: its trace and span ids, and the
outcome and chain depth toolpulse should record.
"""
import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, token = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "gzip"
if mode == "protojson":
    import urllib.request

    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class ProtoJsonExporter(SpanExporter):
        def export(self, spans):
            body = json_format.MessageToJson(encode_spans(spans)).encode()
            req = urllib.request.Request(endpoint, data=body, method="POST", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req) as r:
                return SpanExportResult.SUCCESS if r.status == 200 else SpanExportResult.FAILURE

        def shutdown(self):
            pass

    exporter = ProtoJsonExporter()
elif mode == "grpc":
    from grpc import Compression as GrpcCompression
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

    exporter = GrpcSpanExporter(endpoint=endpoint, insecure=True, headers=(("authorization", f"Bearer {token}"),), compression=GrpcCompression.Gzip)
else:
    compression = {"gzip": Compression.Gzip, "deflate": Compression.Deflate, "none": Compression.NoCompression}[mode]
    exporter = OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {token}"}, compression=compression)
provider = TracerProvider(resource=Resource.create({"service.name": "mcp-gateway", "service.version": "2.3.1"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("mcp-tests")
expected = []


def call(server, tool, agent, depth, outcome="success", status=None, attrs=None, children=(), tokens=None):
    """A tool call seen from both sides: the client span, then the server span."""
    base = {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.agent.id": agent,
        "server.address": server,
        "mcp.protocol.version": "2025-06-18",
        "network.transport": "tcp",
    }
    with tracer.start_as_current_span(f"tools/call {tool}", kind=SpanKind.CLIENT, attributes=base):
        with tracer.start_as_current_span(f"tools/call {tool}", kind=SpanKind.SERVER, attributes={**base, **(attrs or {})}) as s:
            ctx = s.get_span_context()
            expected.append({
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "server": server,
                "tool": tool,
                "outcome": outcome,
                "depth": depth,
                "route": (attrs or {}).get("http.route"),
                "input_tokens": tokens and tokens[0],
                "output_tokens": tokens and tokens[1],
            })
            if tokens is not None:
                s.set_attribute("gen_ai.usage.input_tokens", tokens[0])
                s.set_attribute("gen_ai.usage.output_tokens", tokens[1])
            for child in children:
                child()
            if status is not None:
                s.set_status(status)


with tracer.start_as_current_span("invoke_agent triage", attributes={"gen_ai.operation.name": "invoke_agent"}):
    # A chain: github calls jira, which calls postgres.
    call("github", "get_issue", "triage-bot", 1, children=[
        lambda: call("jira", "search", "triage-bot", 2, children=[
            lambda: call("postgres", "query", "triage-bot", 3, tokens=(412, 1933)),
        ]),
    ])
    call("github", "create_issue", "triage-bot", 1, "tool_error", attrs={"error.type": "tool_error", "http.route": "/mcp"})
    call("jira", "update_ticket", "triage-bot", 1, "protocol_error", Status(StatusCode.ERROR, "Invalid params"),
         attrs={"error.type": "-32602", "rpc.response.status_code": "-32602"})
    call("slack", "post_message", "intruder", 1, "auth_failure", Status(StatusCode.ERROR, "unauthorized"),
         attrs={"http.response.status_code": 401, "error.type": "401"})

# An MCP method that is not a tool call is kept as a span only; its typed
# attributes become text by the OpenTelemetry rules for non-OTLP protocols.
with tracer.start_as_current_span("tools/list", kind=SpanKind.SERVER, attributes={
    "mcp.method.name": "tools/list", "server.address": "github",
    "app.tags": ["eu", "beta,internal"], "app.retries": 3, "app.sample_ratio": 0.25, "app.cached": True,
}):
    pass

provider.force_flush()
provider.shutdown()
for e in expected:
    print(json.dumps(e))
