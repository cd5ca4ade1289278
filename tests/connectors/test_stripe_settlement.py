"""Asynchronous settlement: bank debits pending, settled or failed, and the webhooks that report them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from canonical import (
    Money,
    PaymentStatus,
)
from connectors.errors import BusinessRuleError, PermanentError
from connectors.stripe import (
    InvoiceEvent,
    StripeBilling,
    invoice_event,
    verify_event,
)
from sandbox.server import build_app, serve_in_thread
from tests.connectors.stripe_support import (
    API_KEY,
    make_invoice,
    open_invoice,
    sandbox_state,
    subscribe,
)
from tests.connectors.test_stripe_errors import SECRET
from tests.sandbox.test_stripe import EventSink

# -- asynchronous settlement (bank debits) ------------------------------------------------------------


@pytest.fixture
async def slow_url_reset(slow_stripe_url: str, http: httpx.AsyncClient) -> str:
    (await http.post(f"{slow_stripe_url}/_sandbox/reset")).raise_for_status()
    return slow_stripe_url


async def test_bank_debit_collects_pending_and_payment_for_invoice_reads_the_settled_payment_with_fee(
    http: httpx.AsyncClient, slow_url_reset: str
) -> None:
    url = slow_url_reset
    billing = StripeBilling(http, url, API_KEY, default_payment_method="pm_usBankAccount")
    _, invoice = await open_invoice(billing, "wf30")
    invoice_id = invoice.external_refs["stripe"]

    pending = await billing.collect_payment(invoice_id, idempotency_key="wf30:collect")
    replayed = await billing.collect_payment(invoice_id, idempotency_key="wf30:collect")
    other_key = await billing.collect_payment(invoice_id, idempotency_key="wf30:collect:2")
    still_pending = await billing.payment_for_invoice(invoice_id)
    (await http.post(f"{url}/_sandbox/settle")).raise_for_status()
    settled = await billing.payment_for_invoice(invoice_id)
    after = await billing.collect_payment(invoice_id, idempotency_key="wf30:collect:3")

    assert pending.status is PaymentStatus.PENDING
    assert (pending.amount, pending.fee) == (Money(amount=757_70, currency="USD"), None)
    assert pending.external_refs["stripe"].startswith("pi_")
    assert pending == replayed == other_key == still_pending
    assert settled.status is PaymentStatus.SUCCEEDED
    assert settled.external_refs == pending.external_refs
    assert (settled.amount, settled.fee) == (Money(amount=757_70, currency="USD"), Money(amount=2227, currency="USD"))
    assert after == settled
    state = await sandbox_state(http, url)
    assert len(state["payment_intents"]) == len(state["charges"]) == 1


async def test_failed_bank_debit_reads_as_failed_and_the_invoice_can_still_be_voided(
    http: httpx.AsyncClient, slow_url_reset: str
) -> None:
    url = slow_url_reset
    billing = StripeBilling(http, url, API_KEY, default_payment_method="pm_usBankAccount_insufficientFunds")
    _, invoice = await open_invoice(billing, "wf31")
    invoice_id = invoice.external_refs["stripe"]
    pending = await billing.collect_payment(invoice_id, idempotency_key="wf31:collect")

    with pytest.raises(PermanentError) as busy:
        await billing.void_invoice(invoice_id, idempotency_key="wf31:void:early")
    (await http.post(f"{url}/_sandbox/settle")).raise_for_status()
    failed = await billing.payment_for_invoice(invoice_id)
    await billing.void_invoice(invoice_id, idempotency_key="wf31:void")

    assert busy.value.code == "payment_intent_unexpected_state"
    assert pending.status is PaymentStatus.PENDING
    assert failed.status is PaymentStatus.FAILED
    assert (failed.amount, failed.fee) == (Money(amount=757_70, currency="USD"), None)
    assert failed.external_refs == pending.external_refs
    assert (await billing.get_invoice(invoice_id))["status"] == "void"


async def test_bank_debit_settles_on_the_emulator_timer_without_admin_help(
    http: httpx.AsyncClient, stripe_url: str
) -> None:
    billing = StripeBilling(http, stripe_url, API_KEY, default_payment_method="pm_usBankAccount_success")
    _, invoice = await open_invoice(billing, "wf32")
    invoice_id = invoice.external_refs["stripe"]
    await billing.collect_payment(invoice_id, idempotency_key="wf32:collect")

    async with asyncio.timeout(5):
        while (payment := await billing.payment_for_invoice(invoice_id)).status is PaymentStatus.PENDING:
            await asyncio.sleep(0.02)

    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.fee == Money(amount=2227, currency="USD")


async def test_payment_for_invoice_of_a_card_payment_matches_collect_and_refuses_unattempted_invoices(
    billing: StripeBilling,
) -> None:
    _, invoice = await open_invoice(billing, "wf33")
    invoice_id = invoice.external_refs["stripe"]

    with pytest.raises(PermanentError) as unattempted:
        await billing.payment_for_invoice(invoice_id)
    collected = await billing.collect_payment(invoice_id, idempotency_key="wf33:collect")

    assert unattempted.value.code == "payment_not_attempted"
    assert await billing.payment_for_invoice(invoice_id) == collected


async def test_declined_card_reads_as_a_failed_payment(http: httpx.AsyncClient, stripe_url: str) -> None:
    billing = StripeBilling(http, stripe_url, API_KEY, default_payment_method="pm_card_chargeDeclined")
    _, invoice = await open_invoice(billing, "wf34")
    with pytest.raises(BusinessRuleError):
        await billing.collect_payment(invoice.external_refs["stripe"], idempotency_key="wf34:collect")

    payment = await billing.payment_for_invoice(invoice.external_refs["stripe"])

    assert (payment.status, payment.amount) == (PaymentStatus.FAILED, Money(amount=757_70, currency="USD"))


async def test_saga_id_goes_into_invoice_metadata_and_comes_back_in_external_refs(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id, subscription = await subscribe(billing, "wf35")
    other_customer, other = await subscribe(billing, "wf36")
    saga = "c2c:salesforce:006DEAL1"
    wanted = make_invoice().model_copy(update={"external_refs": {"c2c": saga}})

    draft = await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key="wf35:invoice")
    finalized = await billing.finalize_invoice(draft.external_refs["stripe"], idempotency_key="wf35:finalize")
    plain = await billing.create_invoice(other_customer, other.id, make_invoice(), idempotency_key="wf36:invoice")

    assert draft.external_refs == finalized.external_refs == {"stripe": draft.external_refs["stripe"], "c2c": saga}
    assert plain.external_refs == {"stripe": plain.external_refs["stripe"]}
    stored = {i["id"]: i["metadata"] for i in (await sandbox_state(http, stripe_url))["invoices"]}
    assert stored[draft.external_refs["stripe"]]["c2c_saga"] == saga
    assert "c2c_saga" not in stored[plain.external_refs["stripe"]]


def invoice_payload(type_: str, metadata: dict[str, str]) -> dict[str, Any]:
    return {"id": "evt_1", "type": type_, "data": {"object": {"id": "in_1", "object": "invoice", "metadata": metadata}}}


@pytest.mark.parametrize(
    ("event", "notice"),
    [
        (
            invoice_payload("invoice.paid", {"c2c_saga": "c2c:salesforce:006A"}),
            InvoiceEvent(event_id="evt_1", type="invoice.paid", invoice_id="in_1", saga_id="c2c:salesforce:006A"),
        ),
        (
            invoice_payload("invoice.payment_failed", {"golden_id": "gc_1"}),
            InvoiceEvent(event_id="evt_1", type="invoice.payment_failed", invoice_id="in_1", saga_id=None),
        ),
        (invoice_payload("invoice.finalized", {"c2c_saga": "c2c:salesforce:006A"}), None),
        ({"id": "evt_2", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}, None),
    ],
)
def test_invoice_event_reads_paid_and_failed_invoice_notices_only(
    event: dict[str, Any], notice: InvoiceEvent | None
) -> None:
    assert invoice_event(event) == notice


def test_invoice_event_without_an_invoice_is_malformed() -> None:
    with pytest.raises(ValueError, match="carries no invoice"):
        invoice_event({"id": "evt_3", "type": "invoice.paid", "data": {}})


@pytest.fixture
def hooked() -> Iterator[tuple[EventSink, str]]:
    """An emulator delivering webhooks to a sink, settling bank debits on a short timer."""
    sink = EventSink()
    hooks = serve_in_thread(sink.app)
    stripe = serve_in_thread(
        build_app("stripe", webhook_url=f"{hooks.url}/hooks", webhook_secret=SECRET, async_settle_seconds=0.05)
    )
    yield sink, stripe.url
    stripe.stop()
    hooks.stop()


async def test_webhook_of_a_settled_bank_debit_names_the_saga_and_the_api_reports_the_payment(
    http: httpx.AsyncClient, hooked: tuple[EventSink, str]
) -> None:
    sink, url = hooked
    billing = StripeBilling(http, url, API_KEY, default_payment_method="pm_usBankAccount")
    customer_id, subscription = await subscribe(billing, "wf37")
    wanted = make_invoice().model_copy(update={"external_refs": {"c2c": "c2c:salesforce:006ACH"}})
    draft = await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key="wf37:invoice")
    invoice_id = draft.external_refs["stripe"]
    await billing.finalize_invoice(invoice_id, idempotency_key="wf37:finalize")
    pending = await billing.collect_payment(invoice_id, idempotency_key="wf37:collect")

    delivered = await sink.wait_for("invoice.paid")
    notices = [invoice_event(verify_event(payload, signature, SECRET)) for payload, signature in delivered]
    [paid] = [n for n in notices if n is not None and n.type == "invoice.paid"]
    payment = await billing.payment_for_invoice(paid.invoice_id)

    assert (paid.invoice_id, paid.saga_id) == (invoice_id, "c2c:salesforce:006ACH")
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.external_refs == pending.external_refs
    assert payment.fee == Money(amount=2227, currency="USD")
