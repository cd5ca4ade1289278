"""GET /status: the worker's business metrics as a small HTML page, read from a canned Prometheus scrape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from api.app import create_api
from api.status import parse, posting_latency, quantile, render
from settings import Settings
from store import make_engine
from tests.support.servers import free_port

# As Temporal's core serves it: every business metric carries service_name, namespace, task_queue, workflow_type.
TAGS = 'namespace="default",service_name="c2c-worker",task_queue="c2c"'
SAGA = f'{TAGS},workflow_type="CustomerToCash"'
LIFE = f'{TAGS},workflow_type="SubscriptionLifecycle"'
POSTING = "c2c_invoice_posting_latency_seconds"
SCRAPE = f"""# HELP c2c_saga_stage_entries_total saga stage entries
# TYPE c2c_saga_stage_entries_total counter
c2c_saga_stage_entries_total{{{SAGA},stage="onboard"}} 4
c2c_saga_stage_entries_total{{{SAGA},stage="completed"}} 3
c2c_saga_stage_entries_total{{{SAGA},stage="needs_attention"}} 1
c2c_saga_stage_entries_total{{{LIFE},stage="waiting"}} 7
c2c_saga_exceptions_total{{{SAGA},stage="tax",system="avatax",code="address_invalid"}} 1
c2c_saga_exceptions_total{{{LIFE},stage="settle",system="stripe",code="card_declined"}} 2
# TYPE {POSTING} histogram
{POSTING}_bucket{{{SAGA},le="10"}} 0
{POSTING}_bucket{{{SAGA},le="30"}} 2
{POSTING}_bucket{{{SAGA},le="60"}} 3
{POSTING}_bucket{{{SAGA},le="300"}} 4
{POSTING}_bucket{{{SAGA},le="+Inf"}} 4
{POSTING}_sum{{{SAGA}}} 400
{POSTING}_count{{{SAGA}}} 4
{POSTING}_bucket{{{LIFE},le="10"}} 0
{POSTING}_bucket{{{LIFE},le="+Inf"}} 9
{POSTING}_count{{{LIFE}}} 9
c2c_payment_applications_total{{{SAGA},outcome="applied"}} 3
c2c_payment_applications_total{{{LIFE},outcome="applied"}} 5
c2c_payment_applications_total{{{SAGA},outcome="failed"}} 1
temporal_workflow_completed{{{SAGA}}} 3
"""


def test_posting_latency_is_interpolated_within_the_buckets_like_histogram_quantile() -> None:
    samples = parse(SCRAPE)
    # p50: the 2nd of 4 observations, at the top of (10, 30]; p95: 3.8th, 80% into (60, 300].
    assert posting_latency(samples) == {"p50": 30.0, "p95": pytest.approx(252.0)}
    assert quantile(0.5, {}) is None
    assert quantile(0.5, {10.0: 0, float("inf"): 0}) is None
    assert quantile(0.99, {10.0: 1, float("inf"): 2}) == 10.0  # the open top bucket: its lower bound


def test_the_page_shows_stages_parked_codes_latency_and_payments() -> None:
    page = render(parse(SCRAPE))
    assert '<td>onboard</td><td class="n">4</td>' in page
    assert '<td>needs_attention</td><td class="n">1</td>' in page
    assert "waiting" not in page  # stages of the saga, not of subscription lifecycles
    assert '<td>avatax</td><td>address_invalid</td><td class="n">1</td>' in page
    assert '<td>stripe</td><td>card_declined</td><td class="n">2</td>' in page  # parked from any workflow
    assert "4 invoices: p50 <b>30.0 s</b>, p95 <b>4.2 min</b>" in page
    assert '<td>applied</td><td class="n">8</td>' in page
    assert '<td>failed</td><td class="n">1</td>' in page
    assert "none yet" in render(parse(""))
    assert "p50 <b>—</b>" in render(parse(""))


def test_label_values_are_escaped() -> None:
    page = render(parse('c2c_saga_exceptions_total{system="<script>",code="a&b"} 1\n'))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "a&amp;b" in page


def metrics_app() -> FastAPI:
    app = FastAPI()

    @app.get("/metrics")
    def scrape() -> PlainTextResponse:
        return PlainTextResponse(SCRAPE)

    return app


async def test_the_api_serves_the_page_without_a_token_and_503_when_the_worker_is_silent(
    own_server: Any, http: httpx.AsyncClient
) -> None:
    worker = own_server(metrics_app())
    port = int(worker.url.rsplit(":", 1)[1])
    for metrics_host, metrics_port, status in (("0.0.0.0", port, 200), ("127.0.0.1", free_port(), 503)):  # noqa: S104
        settings = Settings(
            _env_file=None, metrics_host=metrics_host, metrics_port=metrics_port, payload_keys_file=None
        )
        api = own_server(create_api(None, None, make_engine("sqlite://"), settings))  # type: ignore[arg-type]
        answer = await http.get(f"{api.url}/status")
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("text/html")
        assert ("p95 <b>4.2 min</b>" in answer.text) is (status == 200)
    off = Settings(_env_file=None, metrics_port=0, payload_keys_file=None)
    api = own_server(create_api(None, None, make_engine("sqlite://"), off))  # type: ignore[arg-type]
    assert "metrics are off" in (await http.get(f"{api.url}/status")).text
