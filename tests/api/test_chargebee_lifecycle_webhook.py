"""`POST /webhooks/chargebee`: Chargebee's subscription events reach the subscription's lifecycle as Stripe's do —
`subscription_renewed` reads the renewal back and signals `renewal_invoiced`, `subscription_cancelled` reads the
end and signals `billing_ended`, once per event id, and a later period's payment goes to the lifecycle too; one about
a record Chargebee does not have signals nothing; with two CRMs served, a HubSpot deal's lifecycle is the one told."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from connectors.factory import build_connectors
from connectors.routing import ByVendor
from operations.starts import Trigger
from sandbox.server import EMULATORS
from store import create_schema, make_engine
from tests.api.test_chargebee_webhook import Api, api, basic, paid_invoice  # noqa: F401 (`api` is the fixture)
from tests.support import chargebee as cb
from tests.support.fuzz_surface import Recorder, fuzz_settings, recording_client


def post(url: str, path: str, **form: Any) -> None:
    httpx.post(f"{url}/api/v2/{path}", data=form, auth=(cb.API_KEY, "")).raise_for_status()


def event(url: str, kind: str) -> bytes:
    [found] = [e for e in cb.state(url)["events"] if e["event_type"] == kind]
    return json.dumps(found).encode()


async def test_a_renewal_and_the_end_of_the_term_signal_the_lifecycle_once(api: Api) -> None:  # noqa: F811
    url = api.chargebee_url
    await paid_invoice(url, "CB-LIFE-1")
    [subscription] = cb.state(url)["subscriptions"]
    post(url, "time_machines/delorean/travel_forward", destination_time=subscription["current_term_end"] + 1)
    renewed = event(url, "subscription_renewed")
    first = await api.http.post("/webhooks/chargebee", content=renewed, headers=basic())
    assert first.status_code == 200, first.text
    assert first.json()["saga"] == "c2c:salesforce:CB-LIFE-1:subscription"
    assert first.json()["status"] == "lifecycle not running"  # none runs here: signalled, and not found
    again = await api.http.post("/webhooks/chargebee", content=renewed, headers=basic())
    assert again.json()["status"] == "duplicate"
    # The renewal's payment is the lifecycle's news, not the saga's.
    renewal_id = json.loads(renewed)["content"]["invoice"]["id"]
    post(url, f"invoices/{renewal_id}/close")
    post(url, f"invoices/{renewal_id}/collect_payment")
    [paid] = [
        e
        for e in cb.state(url)["events"]
        if e["event_type"] == "payment_succeeded" and e["content"]["invoice"]["id"] == renewal_id
    ]
    settled = await api.http.post("/webhooks/chargebee", content=json.dumps(paid).encode(), headers=basic())
    assert settled.json()["saga"] == "c2c:salesforce:CB-LIFE-1:subscription"

    post(url, f"subscriptions/{subscription['id']}/cancel_for_items", end_of_term="true")
    [current] = cb.state(url)["subscriptions"]
    post(url, "time_machines/delorean/travel_forward", destination_time=current["current_term_end"] + 1)
    ended = await api.http.post("/webhooks/chargebee", content=event(url, "subscription_cancelled"), headers=basic())
    assert ended.json()["saga"] == "c2c:salesforce:CB-LIFE-1:subscription"
    signals = [(s.workflow_id, s.name) for s in api.recorder.sent]
    lifecycle = "c2c:salesforce:CB-LIFE-1:subscription"
    assert signals == [(lifecycle, "renewal_invoiced"), (lifecycle, "payment_settled"), (lifecycle, "billing_ended")]


async def test_a_renewal_event_about_an_invoice_chargebee_does_not_have_signals_nothing(api: Api) -> None:  # noqa: F811
    body = {
        "id": "ev_r",
        "event_type": "subscription_renewed",
        "occurred_at": 1,
        "content": {"subscription": {"id": "c2c-sub-X"}, "invoice": {"id": "INV-X"}},
    }
    answer = await api.http.post("/webhooks/chargebee", content=json.dumps(body).encode(), headers=basic())
    assert answer.status_code == 422, answer.text
    no_invoice = {**body, "id": "ev_r2", "content": {"subscription": {"id": "c2c-sub-X"}}}
    refused = await api.http.post("/webhooks/chargebee", content=json.dumps(no_invoice).encode(), headers=basic())
    assert refused.status_code == 400, refused.text
    assert api.recorder.sent == []


@pytest.fixture
async def two_crms(temporal_env: WorkflowEnvironment, emulators: Any, tmp_path: Path) -> AsyncIterator[Api]:
    """The trigger API serving Salesforce (the default) and HubSpot, as the chaos run and the demo do."""
    urls = {name: emulators.url(name) for name in EMULATORS}
    cb.reset(urls["chargebee"])
    recorder = Recorder()
    settings = fuzz_settings(urls, f"sqlite:///{tmp_path / 'c2c.db'}")
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    trigger = Trigger.from_settings(recording_client(temporal_env, recorder), connectors.crm, engine, settings)
    triggers = ByVendor("crm", {"salesforce": trigger, "hubspot": trigger}, "salesforce")
    chargebee = cb.connector(connectors.http, urls["chargebee"])
    app = create_api(trigger, connectors.billing, engine, settings, chargebee=chargebee, triggers=triggers)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://trigger.test") as http:
            yield Api(http, recorder, urls["chargebee"])
    finally:
        await connectors.close()
        engine.dispose()
        cb.reset(urls["chargebee"])


async def test_a_hubspot_deals_renewal_and_its_payment_reach_its_lifecycle(
    two_crms: Api, temporal_env: WorkflowEnvironment
) -> None:
    """Chargebee names the deal, not its CRM: a HubSpot deal's lifecycle (`c2c:hubspot:…`) is the one told, not the
    default CRM's (which the chaos run found never was: every HubSpot renewal waited)."""
    url, deal = two_crms.chargebee_url, f"{uuid.uuid4().int % 10**11}"
    lifecycle = f"c2c:hubspot:{deal}:subscription"
    # A workflow under the lifecycle's id, never run (no worker polls its queue): signals to it are accepted.
    running = await temporal_env.client.start_workflow("SubscriptionLifecycle", id=lifecycle, task_queue="nowhere")
    try:
        await paid_invoice(url, deal)
        [subscription] = cb.state(url)["subscriptions"]
        post(url, "time_machines/delorean/travel_forward", destination_time=subscription["current_term_end"] + 1)
        renewed = await two_crms.http.post(
            "/webhooks/chargebee", content=event(url, "subscription_renewed"), headers=basic()
        )
        assert renewed.json() == {"status": "signalled", "event_id": renewed.json()["event_id"], "saga": lifecycle}
        renewal_id = json.loads(event(url, "subscription_renewed"))["content"]["invoice"]["id"]
        post(url, f"invoices/{renewal_id}/close")
        post(url, f"invoices/{renewal_id}/collect_payment")
        [paid] = [
            e
            for e in cb.state(url)["events"]
            if e["event_type"] == "payment_succeeded" and e["content"]["invoice"]["id"] == renewal_id
        ]
        settled = await two_crms.http.post("/webhooks/chargebee", content=json.dumps(paid).encode(), headers=basic())
        assert (settled.json()["status"], settled.json()["saga"]) == ("signalled", lifecycle)
        told = [(s.workflow_id, s.name) for s in two_crms.recorder.sent if s.workflow_id == lifecycle]
        assert told == [(lifecycle, "renewal_invoiced"), (lifecycle, "payment_settled")]
    finally:
        await running.terminate()
