"""Refunds and disputes on Chargebee against the emulator: a partial refund of a paid invoice through the credit
note path the Refund workflow takes, read back every way (the note's refund, the refund, the payment's refunds, the
refunds since), exactly once with its answer lost (key replayed or forgotten), refusals with nothing written, and
a dispute read back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from canonical import CreditNote, InvoiceAdjustment, Money
from connectors.chargebee import ChargebeeBilling
from connectors.errors import BusinessRuleError, PermanentError, UncertainOutcome
from tests.support import chargebee as cb
from tests.support.chargebee import fresh_site  # noqa: F401 - the fixture `url`

IMPATIENT = httpx.Timeout(0.3)
LOST_AFTER = 1.0


@pytest.fixture
async def billing(url: str) -> AsyncIterator[ChargebeeBilling]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield cb.connector(http, url)


async def paid_invoice(billing: ChargebeeBilling, deal: str) -> tuple[str, str, int]:
    """(invoice id, payment id, total) of a paid first invoice of a new DE01 deal (EUR)."""
    gid = f"gc_{uuid.uuid4().hex[:20]}"
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key=f"{deal}:c")
    contract = cb.de_contract(deal, gid)
    prices = await cb.price_ids(billing, contract, f"{deal}:p")
    subscription = await billing.create_subscription(customer_id, contract, prices, idempotency_key=f"{deal}:s")
    invoice = await billing.create_invoice(
        customer_id, subscription.id, cb.de_invoice(contract), idempotency_key=f"{deal}:i"
    )
    invoice_id = invoice.external_refs["chargebee"]
    await billing.finalize_invoice(invoice_id, idempotency_key=f"{deal}:f")
    payment = await billing.collect_payment(invoice_id, idempotency_key=f"{deal}:collect")
    return invoice_id, payment.external_refs["chargebee"], invoice.total.amount


def credit(invoice_id: str, amount: int, currency: str = "EUR") -> CreditNote:
    """A refund's credit as canonical.refunds.refund_credit makes it: one line and no tax, for brevity."""
    line = InvoiceAdjustment(
        product_code="PLAT-SEAT",
        description="Refund: PLAT-SEAT",
        quantity=1,
        amount=Money(amount=amount, currency=currency),
        period_start=date(2026, 12, 1),
        period_end=date(2026, 12, 31),
    )
    return CreditNote(
        golden_customer_id="gc",
        legal_entity="DE01",
        currency=currency,
        issue_date=date(2026, 12, 1),
        invoice_id=invoice_id,
        reason="goodwill (by ana@finance)",
        lines=[line],
        tax=Money.zero(currency),
    )


async def test_a_partial_refund_is_a_refunded_credit_note_read_back_every_way(
    billing: ChargebeeBilling, url: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    invoice_id, payment_id, total = await paid_invoice(billing, "R1")
    before = await billing.refundable_invoice(invoice_id)
    assert (before.status, before.paid.amount, before.refunded.amount, before.deal_id) == ("paid", total, 0, "R1")
    assert before.invoice.legal_entity == "DE01"

    key = f"c2c:refund:{invoice_id}:k1:credit"
    issued = await billing.issue_credit_note(credit(invoice_id, 100_00), idempotency_key=key)
    note_id = issued.external_refs["chargebee"]
    refund_id = await billing.credit_note_refund(note_id)
    assert refund_id is not None
    # A retry (same key) finds the same note; nothing more is refunded.
    again = await billing.issue_credit_note(credit(invoice_id, 100_00), idempotency_key=key)
    assert again.external_refs["chargebee"] == note_id

    state = cb.state(url)
    [note] = [n for n in state["credit_notes"] if n["reference_invoice_id"] == invoice_id]
    assert (note["type"], note["status"], note["total"], note["amount_refunded"]) == (
        "refundable",
        "refunded",
        100_00,
        100_00,
    )
    [refund] = [t for t in state["transactions"] if t["type"] == "refund"]
    assert (refund["id"], refund["amount"], refund["refunded_txn_id"]) == (refund_id, 100_00, payment_id)

    described = await billing.billing_refund(refund_id)
    assert (described.invoice_id, described.credit_note_id, described.c2c_key) == (invoice_id, note_id, key)
    assert (described.amount, described.status) == (Money(amount=100_00, currency="EUR"), "succeeded")
    assert await billing.refunds_of_charge(payment_id) == [described]
    assert await billing.refunds_created_since(since) == [described]
    after = await billing.refundable_invoice(invoice_id)
    assert (after.refunded.amount, after.refundable.amount) == (100_00, total - 100_00)


async def test_a_refund_of_more_than_is_left_or_in_another_currency_writes_nothing(
    billing: ChargebeeBilling, url: str
) -> None:
    invoice_id, payment_id, total = await paid_invoice(billing, "R2")
    await billing.refund(payment_id, Money(amount=total - 1_00, currency="EUR"), idempotency_key="r2:first")
    with pytest.raises(BusinessRuleError, match="100 left to refund") as too_much:
        await billing.issue_credit_note(credit(invoice_id, 1_01), idempotency_key="r2:second")
    assert too_much.value.code == "credit_exceeds_invoice"
    with pytest.raises(PermanentError) as wrong_currency:
        await billing.issue_credit_note(credit(invoice_id, 50, "GBP"), idempotency_key="r2:gbp")
    assert wrong_currency.value.code == "currency_mismatch"
    with pytest.raises(PermanentError) as wrong_currency:
        await billing.refund(payment_id, Money(amount=50, currency="GBP"), idempotency_key="r2:gbp2")
    assert wrong_currency.value.code == "currency_mismatch"
    state = cb.state(url)
    assert len([t for t in state["transactions"] if t["type"] == "refund"]) == 1
    assert len(state["credit_notes"]) == 1
    # The rest (all that is left) is still refundable in full.
    rest = await billing.refund(payment_id, None, idempotency_key="r2:rest")
    assert (await billing.billing_refund(rest)).amount == Money(amount=1_00, currency="EUR")
    assert (await billing.refundable_invoice(invoice_id)).refundable.amount == 0


@pytest.mark.parametrize("forget", [False, True], ids=["key-replayed", "key-forgotten"])
async def test_a_lost_refund_answer_retried_refunds_once(url: str, forget: bool) -> None:
    async with httpx.AsyncClient(timeout=IMPATIENT) as impatient, httpx.AsyncClient(timeout=5.0) as patient:
        invoice_id, _, _ = await paid_invoice(cb.connector(patient, url), f"R3{int(forget)}")
        cb.arm(
            url,
            method="POST",
            path_prefix="/api/v2/invoices/",
            path_suffix="/refund",
            kind="delay_after",
            seconds=LOST_AFTER,
        )
        key = f"c2c:refund:{invoice_id}:k3:credit"
        with pytest.raises(UncertainOutcome):
            await cb.connector(impatient, url).issue_credit_note(credit(invoice_id, 30_00), idempotency_key=key)
        if forget:
            (await patient.post(f"{url}/_sandbox/reset_idempotency")).raise_for_status()
        issued = await cb.connector(patient, url).issue_credit_note(credit(invoice_id, 30_00), idempotency_key=key)
    state = cb.state(url)
    assert [n["id"] for n in state["credit_notes"]] == [issued.external_refs["chargebee"]]
    assert [t["amount"] for t in state["transactions"] if t["type"] == "refund"] == [30_00]


async def test_a_refund_made_in_chargebee_directly_has_no_c2c_key(billing: ChargebeeBilling, url: str) -> None:
    invoice_id, payment_id, _ = await paid_invoice(billing, "R4")
    async with httpx.AsyncClient(auth=(cb.API_KEY, "")) as http:  # someone in Chargebee's UI
        made = await http.post(f"{url}/api/v2/invoices/{invoice_id}/refund", data={"refund_amount": "5000"})
    assert made.status_code == 200, made.text
    [found] = await billing.refunds_of_charge(payment_id)
    assert (found.refund_id, found.invoice_id, found.c2c_key) == (made.json()["transaction"]["id"], invoice_id, None)


async def test_a_chargeback_is_read_back_with_the_invoice_its_payment_paid(billing: ChargebeeBilling, url: str) -> None:
    invoice_id, payment_id, total = await paid_invoice(billing, "R5")
    opened = httpx.post(f"{url}/_sandbox/disputes", json={"transaction_id": payment_id, "reason": "fraud"})
    assert opened.status_code == 200, opened.text
    dispute = await billing.billing_dispute(opened.json()["dispute"]["id"])
    assert (dispute.charge_id, dispute.invoice_id, dispute.amount.amount) == (payment_id, invoice_id, total)
    assert (dispute.status, dispute.funds_withdrawn) == ("funds_withdrawn", True)
    inquiry = await paid_invoice(billing, "R6")
    body = {"transaction_id": inquiry[1], "type": "inquiry", "status": "initiated"}
    asked = httpx.post(f"{url}/_sandbox/disputes", json=body).json()["dispute"]
    assert (await billing.billing_dispute(asked["id"])).funds_withdrawn is False
    with pytest.raises(PermanentError) as unknown:
        await billing.billing_dispute("dsp_nope")
    assert unknown.value.code == "resource_missing"
