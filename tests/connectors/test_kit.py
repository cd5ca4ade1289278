"""The shared connector kit: transport failures, Retry-After, exact-decimal JSON, tracing spans."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from connectors import kit
from connectors.errors import ConnectorError, PermanentError, TransientError, UncertainOutcome


def never_classified(response: httpx.Response) -> ConnectorError | None:
    return kit.default_status_error("test", response, "http_error", response.text)


def raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


async def send(transport: httpx.MockTransport, method: str = "POST") -> httpx.Response:
    async with httpx.AsyncClient(transport=transport) as client:
        return await kit.send(
            client, "test", client.build_request(method, "http://vendor.test/v1/things"), never_classified
        )


async def test_a_refused_connection_is_transient_even_for_a_write() -> None:
    with pytest.raises(TransientError) as caught:
        await send(raising(httpx.ConnectError("refused")))
    assert caught.value.code == "connect_failed"


async def test_a_timeout_after_a_write_was_sent_is_an_uncertain_outcome() -> None:
    with pytest.raises(UncertainOutcome):
        await send(raising(httpx.ReadTimeout("slow")), "POST")


async def test_a_timeout_on_a_read_is_just_transient() -> None:
    with pytest.raises(TransientError) as caught:
        await send(raising(httpx.ReadTimeout("slow")), "GET")
    assert caught.value.code == "read_failed"


@pytest.mark.parametrize(
    ("status", "error"), [(429, TransientError), (503, TransientError), (409, TransientError), (400, PermanentError)]
)
async def test_default_status_mapping(status: int, error: type[ConnectorError]) -> None:
    with pytest.raises(error):
        await send(httpx.MockTransport(lambda request: httpx.Response(status, text="no")))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert kit.retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < (kit.retry_after_seconds(httpx.Response(429, headers={"Retry-After": later})) or 0) <= 120
    assert kit.retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert kit.retry_after_seconds(httpx.Response(429)) is None


def test_json_keeps_decimals_exact_and_refuses_floats() -> None:
    body = kit.encode_json({"amount": Decimal("10.10"), "n": 3, "when": datetime(2026, 1, 2, tzinfo=UTC).date()})
    assert body == b'{"amount":10.10,"n":3,"when":"2026-01-02"}'
    assert json.loads(body, parse_float=Decimal)["amount"] == Decimal("10.10")
    with pytest.raises(TypeError, match="floats"):
        kit.encode_json({"amount": 10.1})


async def test_every_call_is_a_client_span_with_the_error_type() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    original, kit._tracer = kit._tracer, tracer
    try:
        await send(httpx.MockTransport(lambda request: httpx.Response(200, json={})))
        with pytest.raises(TransientError):
            await send(httpx.MockTransport(lambda request: httpx.Response(503)))
    finally:
        kit._tracer = original
    ok, failed = exporter.get_finished_spans()
    assert (ok.name, ok.kind, ok.attributes["http.response.status_code"]) == ("test POST", trace.SpanKind.CLIENT, 200)
    assert failed.attributes["error.type"] == "TransientError"


@pytest.mark.parametrize(
    "location",
    ["\x7fhttps://erp.test/record/v1/invoice/42", "https://erp.test/record/v1/invoice/42\x85", "http://[erp/42"],
)
def test_the_record_id_of_an_unreadable_location_is_none_or_its_last_segment(location: str) -> None:
    """The span's record id never raises, whatever a vendor puts in a Location header (latin-1 bytes)."""
    response = httpx.Response(204, headers=[(b"Location", location.encode("latin-1"))])
    assert kit.record_id(response) in (None, "42", "42\x85")
