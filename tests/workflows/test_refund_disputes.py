"""Disputes and refused refunds on the dev server with the emulators over HTTP: a chargeback in billing reaches the
ERP once from its `charge.dispute.created` webhook (delivered twice, redelivered under a new event id, its ERP answer
lost) while an inquiry books nothing; a refund billing or the ERP refuses, or one that breaks a rule, parks for
finance (stage needs_attention, C2CException, the `resolve` update) instead of failing."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import Money, ids
from estate.book import DealSpec
from sandbox.stripe.webhooks import signature_header
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.histories import record_history
from tests.support.polling import eventually
from tests.support.sagas import USD_DEAL, start
from workflows import search_attributes
from workflows.refund import Refund, RefundInput, RefundResult, RefundStatus
from workflows.saga import Resolution, ResolutionAction

STRIPE_KEY = {"Authorization": "Bearer sk_test_dashboard"}
REFUND = {"reason": "goodwill", "actor": "ana@finance", "note": "ticket 7"}


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


async def paid_invoice(estate: Estate, spec: DealSpec = USD_DEAL) -> tuple[str, dict[str, Any]]:
    """(deal, its paid first invoice as Stripe has it) of a completed saga."""
    deal_id, handle = await start(estate, spec)
    invoice_id = (await handle.result()).external_ids["invoice"]
    invoice = await estate.http.get(f"{estate.urls['stripe']}/v1/invoices/{invoice_id}", headers=STRIPE_KEY)
    return deal_id, invoice.json()


async def open_dispute(estate: Estate, charge: str, **body: Any) -> dict[str, Any]:
    opened = await estate.http.post(f"{estate.urls['stripe']}/_sandbox/disputes", json={"charge": charge, **body})
    assert opened.status_code == 200, opened.text
    return dict(opened.json())


def signed(estate: Estate, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event).encode()
    secret = estate.settings.stripe_webhook_secret.get_secret_value()
    headers = {
        "Stripe-Signature": signature_header(payload, secret, int(time.time())),
        "Content-Type": "application/json",
    }
    return payload, headers


async def dispute_event(estate: Estate, dispute_id: str) -> dict[str, Any]:
    events = (await estate.state("stripe"))["events"]
    [event] = [e for e in events if e["type"] == "charge.dispute.created" and e["data"]["object"]["id"] == dispute_id]
    return dict(event)


def mine(records: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


async def parked(handle: WorkflowHandle[Any, Any]) -> RefundStatus:
    async def status() -> RefundStatus | None:
        found: RefundStatus = await handle.query(Refund.status)
        return found if found.stage == "needs_attention" else None

    return await eventually(status)


async def in_queue(estate: Estate, workflow_id: str, code: str) -> None:
    """Finance's Temporal UI query finds the parked refund by its exception code (visibility is eventual)."""
    query = f"WorkflowId = '{workflow_id}' AND C2CStage = 'needs_attention' AND C2CException = '{code}'"

    async def listed() -> bool | None:
        return True if [wf async for wf in estate.client.list_workflows(query)] else None

    await eventually(listed)


async def test_a_chargeback_reaches_the_erp_once_from_its_webhook_despite_redeliveries_and_a_lost_answer(
    estate: Estate, api: httpx.AsyncClient
) -> None:
    _, invoice = await paid_invoice(estate)
    dispute = await open_dispute(estate, invoice["charge"], amount=3_000, reason="product_not_received")
    # The ERP writes the customer refund but its answer is lost: the retry must find it by its external id.
    await estate.fault(
        "netsuite", method="PUT", path_prefix="/services/rest/record/v1/customerRefund", kind="delay_after", seconds=4.0
    )
    event = await dispute_event(estate, dispute["id"])
    payload, headers = signed(estate, event)
    first = await api.post("/webhooks/stripe", content=payload, headers=headers)
    assert (first.status_code, first.json()["status"]) == (200, "dispute booked: 1 started"), first.text
    assert (await api.post("/webhooks/stripe", content=payload, headers=headers)).json()["status"] == "duplicate"
    # Billing sends the same news under another event id (a retried event, or the inbox lost its record).
    resent, resent_headers = signed(estate, {**event, "id": f"{event['id']}x"})
    again = await api.post("/webhooks/stripe", content=resent, headers=resent_headers)
    assert again.json()["status"] == "dispute booked: 0 started"

    handle: WorkflowHandle[Any, RefundResult] = estate.client.get_workflow_handle_for(
        Refund.run, ids.refund_id(invoice["id"], dispute["id"])
    )
    result = await handle.result()
    assert (result.origin, result.refund_id, result.amount.amount, result.credit_note_id) == (
        "dispute",
        dispute["id"],
        30_00,
        None,
    )
    netsuite = await estate.state("netsuite")
    [refund] = mine(netsuite["customerRefund"], externalId=dispute["id"])
    [memo] = mine(netsuite["creditMemo"], externalId=dispute["id"])
    [erp_invoice] = mine(netsuite["invoice"], externalId=invoice["id"])
    assert (refund["total"], memo["total"], memo["unapplied"]) == (30, 30, 0)
    assert memo["createdFrom"]["id"] == erp_invoice["id"]
    assert refund["apply"]["items"][0]["doc"]["id"] == memo["id"]
    assert refund["memo"].startswith(f"Chargeback {dispute['id']}")
    assert mine((await estate.state("stripe"))["credit_notes"], invoice=invoice["id"]) == []  # c2c wrote nothing there

    # An inquiry withdraws nothing: it books nothing.
    _, other = await paid_invoice(estate, replace(USD_DEAL, key="E2E-USD-INQ"))
    inquiry = await open_dispute(estate, other["charge"], status="warning_needs_response")
    payload, headers = signed(estate, await dispute_event(estate, inquiry["id"]))
    ignored = await api.post("/webhooks/stripe", content=payload, headers=headers)
    assert ignored.json()["status"] == "ignored: dispute warning_needs_response, no funds withdrawn"
    assert mine((await estate.state("netsuite"))["customerRefund"], externalId=inquiry["id"]) == []


async def test_a_refund_billing_refuses_parks_for_finance_who_cancel_it(estate: Estate, api: httpx.AsyncClient) -> None:
    deal_id, invoice = await paid_invoice(estate)
    await open_dispute(estate, invoice["charge"])  # a chargeback: Stripe refuses any refund of the charge now
    answer = await api.post(f"/invoices/{deal_id}/refunds", json={**REFUND, "amount": "10.00", "key": "cb"})
    assert answer.status_code == 202, answer.text
    workflow_id = answer.json()["workflow_id"]
    handle: WorkflowHandle[Any, RefundResult] = estate.client.get_workflow_handle_for(Refund.run, workflow_id)

    status = await parked(handle)
    assert status.problem is not None
    assert (status.problem.step, status.problem.system, status.problem.code) == ("billing", "stripe", "charge_disputed")
    assert status.problem.error_type == "BusinessRuleError"
    await in_queue(estate, workflow_id, "charge_disputed")
    shown = await api.get(f"/refunds/{workflow_id}")
    assert (shown.status_code, shown.json()["stage"]) == (200, "needs_attention")

    for bad, rule in (
        ({"action": "retry_with_address", "actor": "ana"}, "resolved with retry or cancel"),
        ({"action": "cancel", "actor": "ana"}, "cancel needs a note"),
    ):
        refused = await api.post(f"/refunds/{workflow_id}/resolve", json=bad)
        assert refused.status_code == 409, refused.text
        assert rule in refused.text
    unknown = await api.get("/refunds/c2c:refund:in_nope:k")
    assert unknown.status_code == 404
    cancel = {"action": "cancel", "actor": "ana@finance", "note": "charged back: the bank decides"}
    assert (await api.post(f"/refunds/{workflow_id}/resolve", json=cancel)).status_code == 200
    result = await handle.result()
    assert (result.outcome, result.refund_id, result.erp_credit_memo_id) == ("cancelled", None, None)
    assert mine((await estate.state("stripe"))["credit_notes"], invoice=invoice["id"]) == []
    assert (await handle.query(Refund.status)).decisions == [f"cancel by ana@finance: {cancel['note']}"]
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(search_attributes.STAGE) == "cancelled"
    assert attributes.get(search_attributes.EXCEPTION) is None


async def test_a_refund_the_erp_refuses_parks_and_a_retry_books_it_once(estate: Estate, api: httpx.AsyncClient) -> None:
    deal_id, invoice = await paid_invoice(estate)
    refusal = {"o:errorDetails": [{"detail": "The customer is inactive.", "o:errorCode": "USER_ERROR"}]}
    await estate.fault(
        "netsuite",
        method="PUT",
        path_prefix="/services/rest/record/v1/customerRefund",
        kind="status",
        status=400,
        body=refusal,
    )
    answer = await api.post(f"/invoices/{deal_id}/refunds", json={**REFUND, "amount": "20.00", "key": "erp"})
    workflow_id = answer.json()["workflow_id"]
    handle: WorkflowHandle[Any, RefundResult] = estate.client.get_workflow_handle_for(Refund.run, workflow_id)

    status = await parked(handle)
    assert status.problem is not None
    assert (status.problem.step, status.problem.system, status.problem.code) == ("erp", "netsuite", "USER_ERROR")
    await in_queue(estate, workflow_id, "USER_ERROR")
    # Billing has refunded: cancelling would leave the ERP short of the money that left.
    cancel = {"action": "cancel", "actor": "ana", "note": "never mind"}
    refused = await api.post(f"/refunds/{workflow_id}/resolve", json=cancel)
    assert (refused.status_code, refused.json()["error"]) == (409, "resolution_rejected")
    assert "billing has given the money back" in refused.json()["message"]

    retried = await api.post(f"/refunds/{workflow_id}/resolve", json={"action": "retry", "actor": "ana@finance"})
    assert retried.status_code == 200, retried.text
    result = await handle.result()
    assert result.outcome == "refunded"
    stripe = await estate.state("stripe")
    assert [n["total"] for n in mine(stripe["credit_notes"], invoice=invoice["id"])] == [20_00]  # once
    netsuite = await estate.state("netsuite")
    assert [r["total"] for r in mine(netsuite["customerRefund"], externalId=result.refund_id)] == [20]
    assert len(mine(netsuite["creditMemo"], externalId=result.credit_note_id)) == 1
    assert (await handle.describe()).typed_search_attributes.get(search_attributes.STAGE) == "refunded"
    await record_history(handle, "refund_parked_then_retried")


async def test_a_refund_that_breaks_a_rule_parks_instead_of_failing(estate: Estate, task_queue: str) -> None:
    _, invoice = await paid_invoice(estate)
    # Two refunds raced past the API's check: the workflow's own check finds this one too large.
    workflow_id = ids.refund_id(invoice["id"], "raced")
    handle = await estate.client.start_workflow(
        Refund.run,
        RefundInput(
            invoice_id=invoice["id"],
            refund_key="raced",
            amount=Money(amount=invoice["amount_paid"] + 1, currency="USD"),
            reason="goodwill",
            actor="ana@finance",
        ),
        id=workflow_id,
        task_queue=task_queue,
    )
    status = await parked(handle)
    assert status.problem is not None
    assert (status.problem.step, status.problem.code) == ("read", "amount_exceeds_refundable")
    await in_queue(estate, workflow_id, "amount_exceeds_refundable")
    await handle.execute_update(Refund.resolve, Resolution(action=ResolutionAction.RETRY, actor="ana"))  # parks again

    async def parked_again() -> RefundStatus | None:
        found: RefundStatus = await handle.query(Refund.status)
        return found if found.stage == "needs_attention" and len(found.decisions) == 1 else None

    await eventually(parked_again)
    cancel = Resolution(action=ResolutionAction.CANCEL, actor="ana", note="typo in the amount")
    await handle.execute_update(Refund.resolve, cancel)
    assert (await handle.result()).outcome == "cancelled"
    assert mine((await estate.state("stripe"))["credit_notes"], invoice=invoice["id"]) == []


async def test_a_refund_billing_refused_is_retried_under_a_new_key_and_made_once(
    estate: Estate, api: httpx.AsyncClient
) -> None:
    deal_id, invoice = await paid_invoice(estate)
    # Billing refuses once (Stripe keeps a refused request's answer under its key for 24 hours).
    refusal = {"error": {"type": "invalid_request_error", "code": "charge_already_refunded", "message": "refunded"}}
    await estate.fault("stripe", method="POST", path_prefix="/v1/credit_notes", kind="status", status=400, body=refusal)
    answer = await api.post(f"/invoices/{deal_id}/refunds", json={**REFUND, "amount": "15.00", "key": "again"})
    workflow_id = answer.json()["workflow_id"]
    handle: WorkflowHandle[Any, RefundResult] = estate.client.get_workflow_handle_for(Refund.run, workflow_id)
    status = await parked(handle)
    assert status.problem is not None
    assert (status.problem.step, status.problem.code) == ("billing", "charge_already_refunded")

    await handle.execute_update(Refund.resolve, Resolution(action=ResolutionAction.RETRY, actor="ana@finance"))
    result = await handle.result()
    [note] = mine((await estate.state("stripe"))["credit_notes"], invoice=invoice["id"])
    assert (note["id"], note["total"]) == (result.credit_note_id, 15_00)
    assert note["metadata"]["c2c_key"] == f"{workflow_id}:credit:r1"
