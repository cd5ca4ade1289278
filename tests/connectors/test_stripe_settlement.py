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
    PaymentNotice,
    StripeBilling,
    payment_notice,
    verify_event,
)
from sandbox.server import build_app
from tests.support.servers import serve_in_thread
from tests.support.stripe import API_KEY, SECRET, make_invoice, open_invoice, sandbox_state, subscribe
from tests.support.stripe_wire import EventSink

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


def event_of(type_: str, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "evt_1", "type": type_, "created": 1_700_000_000, "data": {"object": obj}, **extra}


INVOICE = {"id": "in_1", "object": "invoice", "payment_intent": "pi_1", "metadata": {"c2c_saga": "c2c:sf:006A"}}
INTENT = {"id": "pi_1", "object": "payment_intent", "invoice": "in_1", "metadata": {}}
CHARGE = {"id": "ch_1", "object": "charge", "invoice": "in_1", "payment_intent": "pi_1", "metadata": {}}


def notice(type_: str, **fields: Any) -> PaymentNotice:
    return PaymentNotice(event_id="evt_1", type=type_, created=1_700_000_000, **fields)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            event_of("invoice.paid", INVOICE),
            notice("invoice.paid", invoice_id="in_1", payment_intent_id="pi_1", saga_id="c2c:sf:006A"),
        ),
        (
            event_of("invoice.payment_failed", {**INVOICE, "payment_intent": None, "metadata": {"golden_id": "g"}}),
            notice("invoice.payment_failed", invoice_id="in_1"),
        ),
        (
            event_of("payment_intent.succeeded", INTENT),
            notice("payment_intent.succeeded", invoice_id="in_1", payment_intent_id="pi_1"),
        ),
        (  # newer API versions no longer link an intent to its invoice
            event_of("payment_intent.payment_failed", {"id": "pi_1", "object": "payment_intent"}),
            notice("payment_intent.payment_failed", payment_intent_id="pi_1"),
        ),
        (
            event_of("charge.refunded", {**CHARGE, "invoice": {"id": "in_1", "object": "invoice"}}),
            notice("charge.refunded", invoice_id="in_1", payment_intent_id="pi_1"),
        ),
        (event_of("invoice.finalized", INVOICE), None),
        (event_of("charge.succeeded", CHARGE), None),
        ({"type": "customer.updated"}, None),
    ],
)
def test_payment_notice_reads_the_five_payment_events_only(
    event: dict[str, Any], expected: PaymentNotice | None
) -> None:
    assert payment_notice(event) == expected


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({**event_of("invoice.paid", INVOICE), "id": None}, "has no id"),
        ({**event_of("invoice.paid", INVOICE), "created": "yesterday"}, "no integer `created`"),
        ({"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {}}, "carries no object"),
        (event_of("invoice.paid", INTENT), "not a invoice with an id"),
        (event_of("charge.refunded", {"object": "charge"}), "not a charge with an id"),
        (event_of("payment_intent.succeeded", {**INTENT, "invoice": 42}), "payment_intent.invoice is 42"),
        (event_of("invoice.paid", {**INVOICE, "metadata": "c2c"}), "metadata is not an object"),
    ],
)
def test_a_malformed_payment_event_raises_value_error_naming_the_problem(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        payment_notice(event)


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


async def saga_invoice(billing: StripeBilling, key: str, saga: str) -> str:
    """A finalized invoice whose metadata names `saga`."""
    customer_id, subscription = await subscribe(billing, key)
    wanted = make_invoice().model_copy(update={"external_refs": {"c2c": saga}})
    draft = await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key=f"{key}:invoice")
    invoice_id = draft.external_refs["stripe"]
    await billing.finalize_invoice(invoice_id, idempotency_key=f"{key}:finalize")
    return invoice_id


async def test_every_payment_notice_of_a_settled_bank_debit_leads_to_the_saga_and_the_payment(
    http: httpx.AsyncClient, hooked: tuple[EventSink, str]
) -> None:
    sink, url = hooked
    billing = StripeBilling(http, url, API_KEY, default_payment_method="pm_usBankAccount")
    invoice_id = await saga_invoice(billing, "wf37", "c2c:salesforce:006ACH")
    pending = await billing.collect_payment(invoice_id, idempotency_key="wf37:collect")

    delivered = await sink.wait_for("invoice.paid", "payment_intent.succeeded")
    notices = [payment_notice(verify_event(payload, signature, SECRET)) for payload, signature in delivered]
    by_type = {n.type: n for n in notices if n is not None}
    completed = {kind: await billing.complete_notice(n) for kind, n in by_type.items()}
    payment = await billing.payment_for_invoice(invoice_id)

    intent_id = pending.external_refs["stripe"]
    assert sorted(by_type) == ["invoice.paid", "payment_intent.succeeded"]
    assert (by_type["invoice.paid"].invoice_id, by_type["invoice.paid"].saga_id) == (
        invoice_id,
        "c2c:salesforce:006ACH",
    )
    assert (by_type["payment_intent.succeeded"].invoice_id, by_type["payment_intent.succeeded"].saga_id) == (
        invoice_id,
        None,  # an intent does not carry the invoice's metadata
    )
    for done in completed.values():
        assert (done.invoice_id, done.payment_intent_id, done.saga_id) == (
            invoice_id,
            intent_id,
            "c2c:salesforce:006ACH",
        )
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.external_refs == pending.external_refs
    assert payment.fee == Money(amount=2227, currency="USD")


async def test_complete_notice_finds_the_invoice_of_an_intent_and_leaves_what_stripe_lacks_unset(
    billing: StripeBilling,
) -> None:
    invoice_id = await saga_invoice(billing, "wf38", "c2c:salesforce:006CARD")
    intent_id = (await billing.collect_payment(invoice_id, idempotency_key="wf38:collect")).external_refs["stripe"]
    _, plain = await open_invoice(billing, "wf39")
    plain_id = plain.external_refs["stripe"]
    await billing.collect_payment(plain_id, idempotency_key="wf39:collect")

    # As a newer API version would send it: the intent no longer names its invoice.
    bare = await billing.complete_notice(
        PaymentNotice(event_id="evt_x", type="payment_intent.succeeded", created=1, payment_intent_id=intent_id)
    )
    no_saga = await billing.complete_notice(
        PaymentNotice(event_id="evt_y", type="invoice.paid", created=1, invoice_id=plain_id)
    )
    nothing = PaymentNotice(event_id="evt_z", type="charge.refunded", created=1)

    assert (bare.invoice_id, bare.payment_intent_id, bare.saga_id) == (invoice_id, intent_id, "c2c:salesforce:006CARD")
    assert (no_saga.saga_id, no_saga.payment_intent_id) == (
        None,
        (await billing.get_invoice(plain_id))["payment_intent"],
    )
    assert await billing.complete_notice(nothing) == nothing


async def test_a_refunded_payment_still_reads_as_succeeded_with_what_was_received(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf40r")
    invoice_id = invoice.external_refs["stripe"]
    paid = await billing.collect_payment(invoice_id, idempotency_key="wf40r:collect")

    await billing.refund(paid.external_refs["stripe"], None, idempotency_key="wf40r:refund")
    after = await billing.payment_for_invoice(invoice_id)

    assert after == paid
    assert (after.status, after.amount, after.fee) == (
        PaymentStatus.SUCCEEDED,
        Money(amount=757_70, currency="USD"),
        Money(amount=2227, currency="USD"),
    )
    [charge] = (await sandbox_state(http, stripe_url))["charges"]
    assert (charge["refunded"], charge["amount_refunded"]) == (True, 757_70)
