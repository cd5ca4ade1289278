"""Every vendor call carries the saga's correlation id as a header and names the record it touched on its span."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from connectors import kit
from connectors.errors import ConnectorError
from observability import correlation


def unclassified(response: httpx.Response) -> ConnectorError | None:
    return kit.default_status_error("stripe", response, "http_error", response.text)


async def call(answer: httpx.Response) -> httpx.Request:
    """Send one request through kit.send to a transport that answers `answer`; the request as it went out."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        request = client.build_request("POST", "http://vendor.test/v1/customers?email=x", content=b"name=Someone")
        await kit.send(client, "stripe", request, unclassified)
    return sent[0]


async def test_inside_saga_work_the_call_carries_the_correlation_id_and_names_the_record(
    spans: InMemorySpanExporter,
) -> None:
    with correlation.bound(correlation_id="c2c:salesforce:006X", stage="onboard", system="billing"):
        request = await call(httpx.Response(200, json={"id": "cus_123", "object": "customer"}))
    assert request.headers[correlation.CORRELATION_HEADER] == "c2c:salesforce:006X"
    [span] = spans.get_finished_spans()
    assert span.kind is trace.SpanKind.CLIENT
    assert (
        dict(span.attributes or {}).items()
        >= {
            "c2c.vendor": "stripe",
            "c2c.record_id": "cus_123",
            "c2c.correlation_id": "c2c:salesforce:006X",
            "c2c.stage": "onboard",
            "url.path": "/v1/customers",  # never the query string: it may hold customer data
        }.items()
    )


async def test_outside_saga_work_no_correlation_header_is_sent(spans: InMemorySpanExporter) -> None:
    request = await call(httpx.Response(200, json={"id": "cus_9"}))
    assert correlation.CORRELATION_HEADER not in request.headers
    [span] = spans.get_finished_spans()
    assert "c2c.correlation_id" not in (span.attributes or {})


@pytest.mark.parametrize(
    ("answer", "record"),
    [
        (httpx.Response(204, headers={"Location": "https://ns.test/services/rest/record/v1/invoice/4711"}), "4711"),
        (httpx.Response(200, json={"id": 5521, "code": "c2c-salesforce-006X"}), "5521"),  # AvaTax transaction
        (httpx.Response(200, json={"totalSize": 1, "records": [{"Id": "0015g00000AbCdEAAV"}]}), "0015g00000AbCdEAAV"),
        (httpx.Response(200, json={"totalSize": 2, "records": [{"Id": "a"}, {"Id": "b"}]}), None),
        (httpx.Response(200, json={"object": "list", "data": [{"id": "cus_1"}]}), None),
        (httpx.Response(200, json={"access_token": "secret", "id": "https://login.test/id/00D/005"}), None),
        (httpx.Response(204), None),
        (httpx.Response(200, text="not json"), None),
    ],
    ids=["location", "json-id", "one-row-query", "many-rows", "list", "token", "no-body", "text"],
)
def test_the_record_id_is_read_where_the_answer_names_one(answer: httpx.Response, record: str | None) -> None:
    assert kit.record_id(answer) == record
