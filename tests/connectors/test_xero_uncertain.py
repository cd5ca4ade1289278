"""Xero writes with their answer lost, retried: exactly one record, whether Xero still holds the Idempotency-Key
(the retry replays it) or forgot it (`/_sandbox/reset_idempotency`: the lookup before create finds the record)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from canonical import JournalEntry, JournalLine, Money, Payment, PaymentStatus
from connectors.errors import UncertainOutcome
from tests.support.xero import ENTITY, uk_customer, uk_invoice, xero_connector, xero_state

IMPATIENT = httpx.Timeout(0.3)
LOST_AFTER = 1.0


@pytest.mark.parametrize("forget", [False, True], ids=["key-replayed", "key-forgotten"])
@pytest.mark.parametrize("write", ["Contacts", "Invoices", "Payments", "ManualJournals"])
async def test_a_lost_answer_retried_leaves_exactly_one_record(emulators: Any, write: str, forget: bool) -> None:
    url = emulators.url("xero")
    async with httpx.AsyncClient(timeout=IMPATIENT) as impatient, httpx.AsyncClient(timeout=5.0) as patient:
        setup = xero_connector(patient, url)
        customer = uk_customer()
        invoice = uk_invoice()
        contact = await setup.upsert_customer(customer, ENTITY, "GBP") if write != "Contacts" else ""
        invoice_id = await setup.post_invoice(invoice, contact) if write == "Payments" else ""
        payment = Payment(
            invoice_id="in_x",
            amount=Money.from_decimal("706.80", "GBP"),
            status=PaymentStatus.SUCCEEDED,
            external_refs={"stripe": f"py_{uuid.uuid4().hex[:12]}"},
        )
        entry = JournalEntry(
            external_id=f"fee-{uuid.uuid4().hex[:8]}",
            legal_entity="UK01",
            date=date(2025, 3, 2),
            lines=[
                JournalLine(account="6150", debit=Money(amount=2_35, currency="GBP")),
                JournalLine(account="1050", credit=Money(amount=2_35, currency="GBP")),
            ],
        )

        async def call(http: httpx.AsyncClient) -> str:
            erp = xero_connector(http, url)
            if write == "Contacts":
                return await erp.upsert_customer(customer, ENTITY, "GBP")
            if write == "Invoices":
                return await erp.post_invoice(invoice, contact)
            if write == "Payments":
                return await erp.apply_payment(payment, contact, invoice_id)
            return await erp.post_journal_entry(entry)

        rule = {"method": "*", "path_prefix": f"/api.xro/2.0/{write}", "kind": "delay_after", "seconds": LOST_AFTER}
        # GETs (the lookup) pass first; the fault is armed on the write: PUT, or POST for contacts.
        rule["method"] = "POST" if write == "Contacts" else "PUT"
        (await patient.post(f"{url}/_sandbox/faults", json=rule)).raise_for_status()
        with pytest.raises(UncertainOutcome):
            await call(impatient)
        if forget:
            await patient.post(f"{url}/_sandbox/reset_idempotency")
        answered = await call(patient)
        state = await xero_state(patient, url)
        key = {
            "Contacts": ("ContactNumber", f"{customer.golden_id}-UK01", "ContactID"),
            "Invoices": ("InvoiceNumber", invoice.external_refs["stripe"], "InvoiceID"),
            "Payments": ("Reference", payment.external_refs["stripe"], "PaymentID"),
            "ManualJournals": ("Narration", f"[{entry.external_id}] Journal", "ManualJournalID"),
        }[write]
        records = [r for r in state[write] if r.get(key[0]) == key[1]]
        assert [r[key[2]] for r in records] == [answered]
