"""`POST /webhooks/chargebee`: Chargebee's subscription events reach the subscription's lifecycle as Stripe's do —
`subscription_renewed` reads the renewal back and signals `renewal_invoiced`, `subscription_cancelled` reads the
end and signals `billing_ended`, once per event id, and a later period's payment goes to the lifecycle too; one about
a record Chargebee does not have signals nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.test_chargebee_webhook import Api, api, basic, paid_invoice  # noqa: F401 (`api` is the fixture)
from tests.support import chargebee as cb


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
