"""A UK01 deal end to end when UK01 bills on Chargebee and books in Xero (US01 stays Stripe + NetSuite): real dev
server, real connectors, emulators over HTTP. The saga names no vendor: its input says the entity's billing system
is Chargebee, and every billing call lands there, exactly once even when Chargebee's answer is lost."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import Money, Vendors
from cli.finance import chargebee_webhooks
from connectors.chargebee import ChargebeeBilling
from connectors.stripe import StripeBilling
from estate.book import THAMES, DealSpec
from reconcile.outcome import Report
from sandbox.chargebee.app import API_KEY as CHARGEBEE_KEY
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import next_whole_second
from tests.support.sagas import GBP_DEAL, USD_DEAL, by_id, start
from tests.support.xero import TENANT
from workflows.reconciliation import ReconcileInput, Reconciliation
from workflows.refund import Refund, RefundResult
from workflows.saga import Stage

UK_ON_CHARGEBEE = {"UK01": {"billing": "chargebee", "erp": "xero"}}
LOST_AFTER = 4.0  # the client gives up after 2.5 s; the emulator answers after the write is done


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(
        temporal_env,
        all_emulators(emulators),
        task_queue,
        tmp_path,
        dunning_days=[],
        http_timeout=2.5,
        vendors_by_entity=UK_ON_CHARGEBEE,
    ) as estate:
        yield estate


def minor(amount: Any) -> int:
    return int(Decimal(str(amount)).scaleb(2))


async def test_the_worker_routes_each_entitys_billing_to_its_vendor(estate: Estate) -> None:
    assert estate.settings.vendors_for("UK01") == Vendors(billing="chargebee", erp="xero")
    billings = estate.connectors.billings
    assert billings.names() == ["chargebee", "stripe"]
    assert isinstance(billings["chargebee"], ChargebeeBilling)
    assert isinstance(billings[None], StripeBilling)  # an input recorded before routing meant Stripe
    # The API's /webhooks/chargebee reads payments back through the same routed connector the workers bill with.
    assert chargebee_webhooks(estate.connectors) is billings["chargebee"]


async def test_a_uk_deal_completes_on_chargebee_and_xero_and_nothing_reaches_stripe(estate: Estate) -> None:
    _, handle = await start(estate, GBP_DEAL)
    result = await handle.result()

    assert result.outcome is Stage.COMPLETED, result
    ids, totals = result.external_ids, result.totals
    chargebee, stripe = await estate.state("chargebee"), await estate.state("stripe")
    [customer] = by_id(chargebee["customers"], "id", ids["billing_customer"])
    assert customer["id"] == f"c2c-{ids['golden_customer']}"
    [subscription] = by_id(chargebee["subscriptions"], "id", ids["subscription"])
    assert subscription["currency_code"] == "GBP"
    [invoice] = by_id(chargebee["invoices"], "id", ids["invoice"])
    assert (invoice["status"], invoice["total"], invoice["amount_due"]) == ("paid", totals["total"], 0)
    assert by_id(chargebee["transactions"], "id", ids["payment"])
    assert not by_id(stripe.get("invoices", []), "id", ids["invoice"])
    assert not [
        c for c in stripe.get("customers", []) if c.get("metadata", {}).get("golden_id") == ids["golden_customer"]
    ]

    xero = (await estate.state("xero"))[TENANT]
    [booked] = by_id(xero["Invoices"], "InvoiceNumber", ids["invoice"])
    assert (booked["CurrencyCode"], minor(booked["Total"]), booked["Status"]) == ("GBP", totals["total"], "PAID")
    [payment] = by_id(xero["Payments"], "Reference", ids["payment"])
    assert minor(payment["Amount"]) == totals["paid"]


async def test_each_entity_bills_in_its_own_system_side_by_side(estate: Estate) -> None:
    (_, uk), (_, us) = await start(estate, GBP_DEAL), await start(estate, USD_DEAL)
    uk_ids, us_ids = (await uk.result()).external_ids, (await us.result()).external_ids
    chargebee, stripe = await estate.state("chargebee"), await estate.state("stripe")
    assert by_id(chargebee["invoices"], "id", uk_ids["invoice"])
    assert not by_id(chargebee["invoices"], "id", us_ids["invoice"])
    assert by_id(stripe["invoices"], "id", us_ids["invoice"])


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [("/api/v2/customers", ""), ("/api/v2/subscriptions", ""), ("/api/v2/invoices/", "/collect_payment")],
)
async def test_a_lost_chargebee_answer_is_retried_into_exactly_one_record(
    estate: Estate, prefix: str, suffix: str
) -> None:
    await estate.fault(
        "chargebee", method="POST", path_prefix=prefix, path_suffix=suffix, kind="delay_after", seconds=LOST_AFTER
    )
    spec = DealSpec(f"E2E-CB-LOST-{uuid.uuid4().hex[:6]}", THAMES, "UK01", "GBP", [("PLAT-SEAT", 4, Decimal("39.00"))])
    _, handle = await start(estate, spec)
    result = await handle.result()

    assert result.outcome is Stage.COMPLETED, result
    ids, chargebee = result.external_ids, await estate.state("chargebee")
    golden = ids["golden_customer"]
    assert len([c for c in chargebee["customers"] if c["id"] == f"c2c-{golden}"]) == 1
    assert len([s for s in chargebee["subscriptions"] if s["customer_id"] == ids["billing_customer"]]) == 1
    assert len(by_id(chargebee["invoices"], "id", ids["invoice"])) == 1
    payments = [t for t in chargebee["transactions"] if t.get("type") == "payment" and _pays(t, ids["invoice"])]
    assert len(payments) == 1
    assert await _retried(handle) >= 1  # the lost answer did cost a retry


def _refunds(transaction: dict[str, Any], invoice_id: str) -> bool:
    return any(link.get("cn_reference_invoice_id") == invoice_id for link in transaction.get("linked_credit_notes", []))


def _pays(transaction: dict[str, Any], invoice_id: str) -> bool:
    return any(link.get("invoice_id") == invoice_id for link in transaction.get("linked_invoices", []))


async def _retried(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return len(
        [
            e
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
            and e.activity_task_started_event_attributes.attempt > 1
        ]
    )


async def test_reconciliation_reads_each_billing_system_once_and_finds_both_deals_in_place(estate: Estate) -> None:
    since = await next_whole_second()
    (uk_deal, uk), (us_deal, us) = await start(estate, GBP_DEAL), await start(estate, USD_DEAL)
    assert (await uk.result()).outcome is (await us.result()).outcome is Stage.COMPLETED
    both = {uk_deal, us_deal}

    report: Report = await estate.client.execute_workflow(
        Reconciliation.run,
        ReconcileInput(since=since, vendors_by_entity=estate.settings.every_entitys_vendors()),
        id=f"test-reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=estate.settings.task_queue,
    )
    assert [m for m in report.mismatches if m.deal_id in both] == []


async def test_finance_refunds_part_of_a_chargebee_invoice_once_in_chargebee_and_xero_despite_a_lost_answer(
    estate: Estate,
) -> None:
    """The path finance takes for a Stripe refund: `POST /invoices/{deal}/refunds`. The invoice id names no entity,
    so the API asks each billing system (Stripe first, which does not know it); the Refund workflow then goes to
    UK01's Chargebee and Xero. Chargebee's answer to the refund is lost: the retry finds the credit note by its mark,
    so one credit note, one refund, one Xero credit note and one Xero refund. Then someone refunds in Chargebee
    directly: its `payment_refunded` webhook books that one (once, however often it comes), c2c's own is left to
    its workflow, and reconciliation, reading UK01's refunds from Chargebee, finds both in Xero."""
    since = await next_whole_second()
    deal_id, saga = await start(estate, GBP_DEAL)
    invoice_id = (await saga.result()).external_ids["invoice"]
    await estate.fault(
        "chargebee",
        method="POST",
        path_prefix="/api/v2/invoices/",
        path_suffix="/refund",
        kind="delay_after",
        seconds=LOST_AFTER,
    )
    body = {"amount": "10.00", "reason": "goodwill", "actor": "ana@finance", "key": "cb1"}
    async with finance_api(estate) as api:
        too_much = await api.post(f"/invoices/{deal_id}/refunds", json={**body, "amount": "100000.00", "key": "cb0"})
        assert too_much.status_code == 422, too_much.text
        assert "amount_exceeds_refundable" in too_much.text
        wrong = await api.post(f"/invoices/{deal_id}/refunds", json={**body, "currency": "USD", "key": "cb2"})
        assert wrong.status_code == 422, wrong.text
        assert "currency_mismatch" in wrong.text
        started = await api.post(f"/invoices/{deal_id}/refunds", json=body)
        assert started.status_code == 202, started.text
        workflow_id = started.json()["workflow_id"]
        handle: WorkflowHandle[Any, RefundResult] = estate.client.get_workflow_handle_for(Refund.run, workflow_id)
        result = await handle.result()
        assert (await api.post(f"/invoices/{invoice_id}/refunds", json=body)).json()["started"] is False
        assert (await api.get(f"/refunds/{workflow_id}")).json()["stage"] == "refunded"

    assert result.amount == Money(amount=10_00, currency="GBP")
    assert await _retried(handle) >= 1  # the lost answer did cost a retry
    state = await estate.state("chargebee")
    notes = [n for n in state["credit_notes"] if n["reference_invoice_id"] == invoice_id]
    assert [(n["id"], n["type"], n["status"], n["total"]) for n in notes] == [
        (result.credit_note_id, "refundable", "refunded", 10_00)
    ]
    refunds = [t for t in state["transactions"] if t["type"] == "refund" and _refunds(t, invoice_id)]
    assert [(t["id"], t["amount"]) for t in refunds] == [(result.refund_id, 10_00)]
    await _booked_once_in_xero(estate, result.credit_note_id, result.refund_id, 10_00)
    assert not [n for n in (await estate.state("stripe")).get("credit_notes", []) if n.get("invoice") == invoice_id]

    direct = await estate.http.post(
        f"{estate.urls['chargebee']}/api/v2/invoices/{invoice_id}/refund",
        data={"refund_amount": "500"},
        auth=(CHARGEBEE_KEY, ""),
    )
    assert direct.status_code == 200, direct.text
    made = direct.json()
    events = {
        e["content"]["transaction"]["id"]: e
        for e in (await estate.state("chargebee"))["events"]
        if e["event_type"] == "payment_refunded"
    }
    auth = (estate.settings.chargebee_webhook_username, estate.settings.chargebee_webhook_password.get_secret_value())
    async with finance_api(estate) as api:
        ours = await api.post("/webhooks/chargebee", json=events[result.refund_id], auth=auth)
        assert ours.json()["status"] == "ignored: made by c2c", ours.text
        theirs = [await api.post("/webhooks/chargebee", json=events[made["transaction"]["id"]], auth=auth)]
        again = {**events[made["transaction"]["id"]], "id": "ev_redelivered_as_new"}
        theirs += [await api.post("/webhooks/chargebee", json=again, auth=auth)]
    assert [t.json()["status"] for t in theirs] == ["refund booked: 1 started", "refund booked: 0 started"]
    booked = await estate.client.get_workflow_handle_for(Refund.run, theirs[0].json()["saga"]).result()
    assert (booked.origin, booked.credit_note_id) == ("billing", made["credit_note"]["id"])
    await _booked_once_in_xero(estate, made["credit_note"]["id"], made["transaction"]["id"], 5_00)

    report: Report = await estate.client.execute_workflow(
        Reconciliation.run,
        ReconcileInput(
            since=since, vendors_by_entity=estate.settings.every_entitys_vendors(), stuck_after=timedelta(0)
        ),
        id=f"test-reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=estate.settings.task_queue,
    )
    assert [m for m in report.mismatches if m.deal_id == deal_id] == []


@asynccontextmanager
async def finance_api(estate: Estate) -> AsyncIterator[httpx.AsyncClient]:
    """The API as finance and Chargebee's webhooks reach it, every billing system configured."""
    chargebee = chargebee_webhooks(estate.connectors)
    app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings, chargebee=chargebee)
    assert estate.settings.api_token is not None
    token = {"Authorization": f"Bearer {estate.settings.api_token.get_secret_value()}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", headers=token) as api:
        yield api


async def _booked_once_in_xero(estate: Estate, credit_note_id: str | None, refund_id: str | None, amount: int) -> None:
    """One Xero credit note numbered with Chargebee's credit note, one refund out of it referenced by the refund."""
    xero = (await estate.state("xero"))[TENANT]
    [memo] = by_id(xero["CreditNotes"], "CreditNoteNumber", credit_note_id)
    assert minor(memo["Total"]) == amount
    [paid_back] = by_id(xero["Payments"], "Reference", refund_id)
    assert minor(paid_back["Amount"]) == amount
