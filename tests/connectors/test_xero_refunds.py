"""Refunds and the calls that name their legal entity on the Xero connector, against the emulator over HTTP: a paid
invoice's credit note keeps its credit, a refund pays it out once, and the reconciler tells refunds from payments."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from canonical import Money, Payment, PaymentStatus
from canonical.refunds import CustomerRefund
from connectors.errors import PermanentError
from tests.support.xero import ENTITY, uk_customer, uk_invoice, xero_connector, xero_state


async def test_a_refund_pays_the_credit_note_out_once_and_reads_apart_from_payments(
    emulators: Any, http: httpx.AsyncClient
) -> None:
    url = emulators.url("xero")
    erp = xero_connector(http, url)
    contact = await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    invoice = uk_invoice()
    billing_id = invoice.external_refs["stripe"]
    invoice_id = await erp.post_invoice(invoice, contact)
    paid = Payment(
        invoice_id=billing_id,
        amount=Money.from_decimal("706.80", "GBP"),
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": f"py_{uuid.uuid4().hex[:12]}"},
    )
    payment_id = await erp.apply_payment(paid, contact, invoice_id, legal_entity="UK01")
    found = await erp.erp_invoice_of(billing_id, "UK01")
    assert (found.erp_id, found.customer_erp_id, found.currency) == (invoice_id, contact, "GBP")
    memo = await erp.post_credit_memo(invoice, invoice_id, contact)  # nothing due: the credit stays for a refund
    refund = CustomerRefund(
        refund_id=f"re_{uuid.uuid4().hex[:12]}",
        customer_erp_id=contact,
        credit_memo_erp_id=memo,
        amount=Money(amount=100_00, currency="GBP"),
        on=date(2025, 3, 10),
        memo="partial refund",
    )
    first = await erp.refund_customer(refund, "UK01")
    assert await erp.refund_customer(refund) == first  # found by billing's refund id, in any organisation

    state = await xero_state(http, url)
    [note] = [n for n in state["CreditNotes"] if n["CreditNoteID"] == memo]
    assert str(note["RemainingCredit"]) == "606.8"
    refunds = [p for p in state["Payments"] if p["Reference"] == refund.refund_id]
    assert [(p["PaymentType"], p["CreditNote"]["CreditNoteID"]) for p in refunds] == [("ARCREDITPAYMENT", memo)]
    since = datetime.now(UTC).date() - timedelta(days=1)
    [read] = [r for r in await erp.customer_refunds_modified_since(since) if r.external_id == refund.refund_id]
    assert (read.erp_id, read.amount, read.credit_memo_erp_ids) == (first, refund.amount, [memo])
    payments = {p.internal_id for p in await erp.payments_modified_since(since)}
    assert payment_id in payments
    assert first not in payments  # a refund is not a customer payment


async def test_an_entity_without_an_organisation_is_refused_before_any_call(
    emulators: Any, http: httpx.AsyncClient
) -> None:
    erp = xero_connector(http, emulators.url("xero"))
    with pytest.raises(PermanentError, match="no Xero organisation for 'US01'"):
        await erp.erp_invoice_of("in_nothing", "US01")
