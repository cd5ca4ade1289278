"""Refunds of a paid invoice on the dev server with the emulators over HTTP: finance's partial refund through the
API (credit note with refund_amount in Stripe, credit memo + customer refund in NetSuite, the credit's committed tax
document in AvaTax) once despite a lost answer; a refund made in Stripe directly booked once from its
`charge.refunded` webhook despite a lost ERP answer, a redelivery (same or new event id) changing nothing; bad
requests refused naming the rule, nothing written. Disputes and refused refunds: test_refund_disputes.py."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import ids
from sandbox.stripe.webhooks import signature_header
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.histories import record_history
from tests.support.polling import eventually
from tests.support.sagas import USD_DEAL, start
from workflows.refund import Refund, RefundResult


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path, http_timeout=2.5) as estate:
        yield estate


@pytest.fixture
async def api(estate: Estate) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
    assert estate.settings.api_token is not None
    token = {"Authorization": f"Bearer {estate.settings.api_token.get_secret_value()}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", headers=token) as http:
        yield http


async def paid_invoice(estate: Estate) -> tuple[str, str]:
    """(deal, its paid first invoice) of a completed USD saga."""
    deal_id, handle = await start(estate, USD_DEAL)
    result = await handle.result()
    return deal_id, result.external_ids["invoice"]


def mine(records: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


async def test_finance_refunds_part_of_a_paid_invoice_once_in_every_system_despite_a_lost_answer(
    estate: Estate, api: httpx.AsyncClient
) -> None:
    deal_id, invoice_id = await paid_invoice(estate)
    # The credit note is made, but its answer is lost: the retry must find it by its key, not refund twice.
    await estate.fault("stripe", method="POST", path_prefix="/v1/credit_notes", kind="delay_after", seconds=4.0)
    body = {"amount": "100.00", "reason": "service outage", "actor": "ana@finance", "note": "ticket 42", "key": "k1"}
    answer = await api.post(f"/invoices/{deal_id}/refunds", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["workflow_id"] == ids.refund_id(invoice_id, "k1")
    handle: WorkflowHandle[Any, RefundResult] = estate.client.get_workflow_handle_for(
        Refund.run, answer.json()["workflow_id"]
    )
    result = await handle.result()
    assert result.amount.amount == 100_00
    assert (await api.post(f"/invoices/{invoice_id}/refunds", json=body)).json()["started"] is False

    stripe = await estate.state("stripe")
    notes = mine(stripe["credit_notes"], invoice=invoice_id)
    assert [n["total"] for n in notes] == [100_00]
    refunds = [r for r in stripe["refunds"] if r["id"] == result.refund_id]
    assert [r["amount"] for r in refunds] == [100_00]
    assert notes[0]["refund"] == result.refund_id

    netsuite = await estate.state("netsuite")
    [memo] = mine(netsuite["creditMemo"], externalId=result.credit_note_id)
    [refund] = mine(netsuite["customerRefund"], externalId=result.refund_id)
    assert refund["total"] == 100
    assert refund["apply"]["items"][0]["doc"]["id"] == memo["id"]
    assert memo["total"] == 100
    assert memo["unapplied"] == 0  # paid out by the customer refund
    [invoice] = mine(netsuite["invoice"], externalId=invoice_id)
    assert memo["createdFrom"]["id"] == invoice["id"]

    avatax = await estate.state("avatax")
    [document] = [d for d in avatax["documents"] if d["code"] == result.tax_document_code]
    assert document["status"] == "Committed"
    assert document["totalTax"] < 0
    assert 0 < result.tax.amount < 100_00  # the invoice's share of tax: the rest credits its lines

    # More than what is left, and a refund of an unknown invoice: refused, naming the rule; nothing more written.
    too_much = await api.post(f"/invoices/{invoice_id}/refunds", json={**body, "amount": "100000", "key": "k2"})
    assert too_much.status_code == 422
    assert too_much.json()["error"] == "amount_exceeds_refundable"
    unknown = await api.post("/invoices/in_nope/refunds", json={**body, "key": "k3"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "invoice_not_found"
    for amount, rule in (("0", "amount_not_positive"), ("-5", "amount_not_positive"), ("1.001", "invalid_amount")):
        refused = await api.post(f"/invoices/{invoice_id}/refunds", json={**body, "amount": amount, "key": "k4"})
        assert (refused.status_code, refused.json().get("error")) == (422, rule), refused.text
    wrong = await api.post(f"/invoices/{invoice_id}/refunds", json={**body, "currency": "EUR", "key": "k5"})
    assert (wrong.status_code, wrong.json()["error"]) == (422, "currency_mismatch")
    assert len(mine((await estate.state("stripe"))["credit_notes"], invoice=invoice_id)) == 1

    await record_history(handle, "refund_finance_partial")


async def test_a_refund_made_in_stripe_reaches_the_erp_once_from_its_webhook(
    estate: Estate, api: httpx.AsyncClient
) -> None:
    _, invoice_id = await paid_invoice(estate)
    stripe_url = estate.urls["stripe"]
    headers = {"Authorization": "Bearer sk_test_dashboard"}
    invoice = (await estate.http.get(f"{stripe_url}/v1/invoices/{invoice_id}", headers=headers)).json()
    made = await estate.http.post(
        f"{stripe_url}/v1/refunds",
        data={"payment_intent": invoice["payment_intent"], "amount": "2500"},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    refund_id = made.json()["id"]
    [event] = [
        e
        for e in (await estate.state("stripe"))["events"]
        if e["type"] == "charge.refunded" and e["data"]["object"]["invoice"] == invoice_id
    ]
    payload = json.dumps(event).encode()
    secret = estate.settings.stripe_webhook_secret.get_secret_value()
    signed = {
        "Stripe-Signature": signature_header(payload, secret, int(time.time())),
        "Content-Type": "application/json",
    }
    # The ERP writes the customer refund but its answer is lost: the retry must find it by its external id.
    await estate.fault(
        "netsuite", method="PUT", path_prefix="/services/rest/record/v1/customerRefund", kind="delay_after", seconds=4.0
    )
    first = await api.post("/webhooks/stripe", content=payload, headers=signed)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "refunds booked: 1 started"
    handle = estate.client.get_workflow_handle_for(Refund.run, ids.refund_id(invoice_id, refund_id))
    result = await handle.result()
    assert (result.origin, result.refund_id, result.amount.amount, result.credit_note_id) == (
        "billing",
        refund_id,
        25_00,
        None,
    )
    again = await api.post("/webhooks/stripe", content=payload, headers=signed)
    assert again.json()["status"] == "duplicate"
    # The same news under another event id (Stripe retried it, or the inbox lost its record): the workflow id holds.
    resent = json.dumps({**event, "id": f"{event['id']}x"}).encode()
    resigned = {**signed, "Stripe-Signature": signature_header(resent, secret, int(time.time()))}
    assert (await api.post("/webhooks/stripe", content=resent, headers=resigned)).json()["status"] == (
        "refunds booked: 0 started"
    )

    async def booked() -> list[dict[str, Any]] | None:
        found = mine((await estate.state("netsuite"))["customerRefund"], externalId=refund_id)
        return found or None

    [refund] = await eventually(booked)
    assert refund["total"] == 25
    [memo] = mine((await estate.state("netsuite"))["creditMemo"], externalId=refund_id)
    assert memo["total"] == 25
    assert mine((await estate.state("stripe"))["credit_notes"], invoice=invoice_id) == []  # c2c wrote nothing there
