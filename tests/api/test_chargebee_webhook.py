"""`POST /webhooks/chargebee`: Chargebee's payment events, checked by basic auth and deduplicated by event id, read
the payment back and signal the saga of the deal (as Stripe's `invoice.paid` does); anything else is refused or
ignored and signals nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from connectors.factory import build_connectors
from operations.starts import Trigger
from sandbox.server import EMULATORS
from store import create_schema, make_engine
from tests.support import chargebee as cb
from tests.support.fuzz_surface import Recorder, fuzz_settings, recording_client
from tests.support.servers import serve_in_thread


@dataclass
class Api:
    http: httpx.AsyncClient
    recorder: Recorder
    chargebee_url: str


@pytest.fixture
async def api(temporal_env: WorkflowEnvironment, emulators: Any, tmp_path: Path) -> AsyncIterator[Api]:
    urls = {name: emulators.url(name) for name in EMULATORS}
    cb.reset(urls["chargebee"])
    recorder = Recorder()
    settings = fuzz_settings(urls, f"sqlite:///{tmp_path / 'c2c.db'}")
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    trigger = Trigger.from_settings(recording_client(temporal_env, recorder), connectors.crm, engine, settings)
    chargebee = cb.connector(connectors.http, urls["chargebee"])
    app = create_api(trigger, connectors.billing, engine, settings, chargebee=chargebee)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://trigger.test") as http:
            yield Api(http, recorder, urls["chargebee"])
    finally:
        await connectors.close()
        engine.dispose()
        cb.reset(urls["chargebee"])


JSON = {"Content-Type": "application/json"}


def basic(username: str = "c2c", password: str = "cb_webhook_sandbox") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", **JSON}


async def paid_invoice(url: str, deal: str) -> list[dict[str, Any]]:
    """A deal's first invoice paid in the emulator; the events Chargebee emitted for its payment."""
    gid = f"gc_{uuid.uuid4().hex[:20]}"
    contract = cb.de_contract(deal, gid)
    async with httpx.AsyncClient(timeout=10) as http:
        billing = cb.connector(http, url)
        customer = await billing.create_customer(gid, "Beispiel", idempotency_key=f"{deal}:c")
        prices = await cb.price_ids(billing, contract, f"{deal}:p")
        subscription = await billing.create_subscription(customer, contract, prices, idempotency_key=f"{deal}:s")
        invoice = await billing.create_invoice(customer, subscription.id, cb.de_invoice(contract), idempotency_key="i")
        invoice_id = invoice.external_refs["chargebee"]
        await billing.finalize_invoice(invoice_id, idempotency_key=f"{deal}:f")
        await billing.collect_payment(invoice_id, idempotency_key=f"{deal}:pay")
    return [e for e in cb.state(url)["events"] if e["event_type"] == "payment_succeeded"]


async def test_payment_succeeded_signals_the_deals_saga_once(api: Api) -> None:
    (event,) = await paid_invoice(api.chargebee_url, "CB-HOOK-1")
    body = json.dumps(event).encode()
    first = await api.http.post("/webhooks/chargebee", content=body, headers=basic())
    assert first.status_code == 200, first.text
    assert first.json()["saga"] == "c2c:salesforce:CB-HOOK-1"
    assert first.json()["status"] == "saga closed"  # no such saga runs here: the signal was sent and not found
    again = await api.http.post("/webhooks/chargebee", content=body, headers=basic())
    assert again.json()["status"] == "duplicate"
    signals = [(s.kind, s.workflow_id, s.name) for s in api.recorder.sent]
    assert signals == [("signal", "c2c:salesforce:CB-HOOK-1", "payment_settled")]


async def test_the_emulator_delivers_its_events_with_basic_auth(api: Api) -> None:
    """Chargebee's own delivery (the emulator's dispatcher) reaches the endpoint and passes its auth."""
    # The emulator posts over real HTTP: point it at a recorder served in this loop.
    relay = FastAPI()
    bodies: list[tuple[str | None, bytes]] = []

    @relay.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        bodies.append((request.headers.get("Authorization"), await request.body()))
        return {"ok": "yes"}

    server = serve_in_thread(relay)
    try:
        httpx.post(f"{api.chargebee_url}/_sandbox/webhook", json={"url": f"{server.url}/hook"}).raise_for_status()
        await paid_invoice(api.chargebee_url, "CB-HOOK-2")
        for _ in range(100):
            if any(b'"payment_succeeded"' in body for _, body in bodies):
                break
            await asyncio.sleep(0.05)
    finally:
        httpx.post(f"{api.chargebee_url}/_sandbox/webhook", json={"url": None}).raise_for_status()
        server.stop()
    auth, body = next((a, b) for a, b in bodies if b'"payment_succeeded"' in b)
    answer = await api.http.post("/webhooks/chargebee", content=body, headers={"Authorization": auth or "", **JSON})
    assert answer.status_code == 200, answer.text
    assert answer.json()["saga"] == "c2c:salesforce:CB-HOOK-2"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (JSON, b"{}", 401),
        (basic(password="wrong"), b"{}", 401),
        (basic("someone-else"), b"{}", 401),
        (basic(), b"not json", 400),
        (basic(), json.dumps({"id": "ev_1", "event_type": "payment_succeeded", "occurred_at": 1}).encode(), 400),
        (
            basic(),
            json.dumps({"id": "ev_1", "event_type": "payment_succeeded", "occurred_at": 1, "content": {}}).encode(),
            400,
        ),
        (
            basic(),
            json.dumps(
                {"id": "ev_2", "event_type": "payment_succeeded", "occurred_at": 1, "content": {"invoice": {"id": "X"}}}
            ).encode(),
            422,
        ),
        (
            basic(),
            json.dumps({"id": "ev_3", "event_type": "payment_refunded", "occurred_at": 1, "content": {}}).encode(),
            400,
        ),
        (
            basic(),
            json.dumps(
                {
                    "id": "ev_4",
                    "event_type": "payment_refunded",
                    "occurred_at": 1,
                    "content": {"transaction": {"id": "X"}},
                }
            ).encode(),
            422,
        ),
    ],
)
async def test_bad_deliveries_are_refused_and_signal_nothing(
    api: Api, headers: dict[str, str], body: bytes, status: int
) -> None:
    answer = await api.http.post("/webhooks/chargebee", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    assert api.recorder.sent == []


async def test_other_events_are_acknowledged_and_ignored(api: Api) -> None:
    event = {"id": "ev_x", "event_type": "customer_created", "occurred_at": 1, "content": {"customer": {"id": "c"}}}
    answer = await api.http.post("/webhooks/chargebee", content=json.dumps(event).encode(), headers=basic())
    assert answer.json() == {"status": "ignored", "event_id": "ev_x"}
    assert api.recorder.sent == []


async def test_a_refund_made_in_chargebee_of_an_invoice_no_saga_billed_starts_nothing(api: Api) -> None:
    await paid_invoice(api.chargebee_url, "CB-HOOK-3")  # billed without a saga: its subscription names none
    invoice_id = cb.state(api.chargebee_url)["invoices"][0]["id"]
    made = httpx.post(
        f"{api.chargebee_url}/api/v2/invoices/{invoice_id}/refund", data={"refund_amount": "100"}, auth=(cb.API_KEY, "")
    )
    assert made.status_code == 200, made.text
    (event,) = [e for e in cb.state(api.chargebee_url)["events"] if e["event_type"] == "payment_refunded"]
    answer = await api.http.post("/webhooks/chargebee", content=json.dumps(event).encode(), headers=basic())
    assert answer.json()["status"] == "ignored: not a c2c invoice", answer.text
    assert api.recorder.sent == []
