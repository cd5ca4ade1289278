"""One trace per deal: CRM webhook -> trigger API -> StartWorkflow -> RunWorkflow -> activities -> vendor calls.

Real dev server, real emulators over HTTP, the trigger API on a real port; spans land in an in-memory exporter.
OTLP export happens only with an endpoint configured, and then really is OTLP over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import ids
from observability.tracing import instrument_api, setup_tracing, tracer_provider
from operations.client import connect
from settings import Settings
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually
from tests.support.sagas import USD_DEAL
from tests.support.servers import crm_webhook_to, serving
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage

SAGA_STAGES = {"onboard", "activate", "tax", "invoice", "post", "settle", "apply"}
VENDORS = {"salesforce", "stripe", "avatax", "netsuite"}
WEBHOOK_SECRET = "whsec_crm_sandbox"


@pytest.fixture
async def traced_estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    """Workers and trigger on a client made the way worker.py / starter.py make theirs (tracing interceptor)."""
    target = temporal_env.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=target, payload_keys_file=None))
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path, client=client) as estate:
        yield estate


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def test_one_trace_follows_a_deal_from_the_crm_webhook_to_cash_application(
    traced_estate: Estate, spans: InMemorySpanExporter
) -> None:
    estate = traced_estate
    api = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
    instrument_api(api)
    async with serving(api) as url, crm_webhook_to(estate, url, WEBHOOK_SECRET):
        deal_id = await estate.closed_deal(USD_DEAL)  # the CRM posts the signed webhook to the API
        workflow_id = ids.saga_id("salesforce", deal_id)
        handle = estate.client.get_workflow_handle_for(CustomerToCash.run, workflow_id)

        async def started() -> Any:
            try:
                return await handle.describe()
            except RPCError:
                return None

        await eventually(started)
        assert (await handle.result()).outcome is Stage.COMPLETED

    finished = spans.get_finished_spans()
    # Everything done for this saga is in one trace (the CRM's account-change callouts make traces of their own).
    saga_spans = [s for s in finished if (s.attributes or {}).get("c2c.correlation_id") == workflow_id]
    [trace_id] = {s.context.trace_id for s in saga_spans if s.context is not None}
    in_trace = [s for s in finished if s.context is not None and s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace if s.context is not None}
    [webhook] = [s for s in in_trace if s.parent is None]  # the root: the CRM's closed-won webhook
    assert (webhook.name, webhook.kind) == ("POST /webhooks/salesforce", trace.SpanKind.SERVER)
    assert webhook.attributes is not None
    assert webhook.attributes["http.response.status_code"] == 202

    [start] = [s for s in in_trace if s.name == "StartWorkflow:CustomerToCash"]
    assert webhook in ancestors(start, by_id)
    [run] = [s for s in in_trace if s.name == "RunWorkflow:CustomerToCash"]
    assert start in ancestors(run, by_id)

    # Temporal's interceptor ends workflow spans at once, so the workflow's StartActivity spans hang off the
    # StartWorkflow context, beside RunWorkflow; each RunActivity is under its StartActivity.
    activities = [s for s in in_trace if s.name.startswith("RunActivity:")]
    saga_activities = [s for s in activities if (s.attributes or {}).get("c2c.correlation_id") == workflow_id]
    for span in saga_activities:
        chain = ancestors(span, by_id)
        assert chain[0].name == span.name.replace("RunActivity:", "StartActivity:")
        assert start in chain
    assert {(s.attributes or {}).get("c2c.stage") for s in saga_activities} >= SAGA_STAGES

    vendor_calls = [s for s in in_trace if s.kind is trace.SpanKind.CLIENT and "c2c.vendor" in (s.attributes or {})]
    saga_calls = [s for s in vendor_calls if (s.attributes or {}).get("c2c.correlation_id") == workflow_id]
    assert saga_calls
    for call in saga_calls:
        assert call.parent is not None
        assert by_id[call.parent.span_id].name.startswith("RunActivity:")
    with_record = {(s.attributes or {})["c2c.vendor"] for s in saga_calls if "c2c.record_id" in (s.attributes or {})}
    assert with_record == VENDORS

    # The end of the trace: the ERP's customer payment applied to the invoice, under its activity.
    [apply] = [s for s in saga_activities if s.name == "RunActivity:erp.apply_payment"]
    result = await handle.result()
    applied = [s for s in saga_calls if s.parent is not None and s.parent.span_id == apply.context.span_id]
    assert any((s.attributes or {}).get("c2c.record_id") == result.external_ids["erp_payment"] for s in applied)


class Collector(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector: records each POST's path, content type and body."""

    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's handler naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def collector() -> Any:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Collector.received
    server.shutdown()
    server.server_close()


def test_spans_are_exported_over_otlp_http_when_an_endpoint_is_set(collector: Any) -> None:
    endpoint, received = collector
    provider = tracer_provider(Settings(otlp_endpoint=endpoint, service_name="c2c-test"), "worker")
    assert provider is not None
    with provider.get_tracer("test").start_as_current_span("stripe POST"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()

    [(path, content_type, body)] = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert (resource["service.name"], resource["c2c.component"]) == ("c2c-test", "worker")
    assert [s.name for scope in resource_spans.scope_spans for s in scope.spans] == ["stripe POST"]


def test_nothing_is_installed_or_exported_without_an_endpoint(collector: Any) -> None:
    _, received = collector
    before = trace.get_tracer_provider()
    assert tracer_provider(Settings(otlp_endpoint=None), "worker") is None
    assert setup_tracing(Settings(otlp_endpoint=None), "worker") is None
    assert trace.get_tracer_provider() is before  # no SDK, no exporter, no processor: spans stay no-ops
    with trace.get_tracer("test").start_as_current_span("stripe POST"):
        pass
    assert received == []
