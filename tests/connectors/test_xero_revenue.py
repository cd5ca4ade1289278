"""Deferred revenue read from a Xero organisation (the Xero emulator over HTTP): invoice and credit note lines on
deferred revenue with the service period their description carries, the recognition manual journals, and the
account's balance; the check before posting finds a journal by its external id, a voided one no longer counts.

The emulator is reset around each test: the ledger is the organisation's whole deferred revenue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from canonical import CreditNote, InvoiceAdjustment, InvoiceLine, JournalEntry, JournalLine, Money
from canonical.reference import REVENUE_ACCOUNTS
from canonical.revenue import recognition_entry
from connectors.xero import XeroErp
from connectors.xero import revenue as xero_revenue
from connectors.xero.client import journal_key
from tests.support.xero import ENTITY, TENANT, uk_customer, uk_invoice, xero_connector, xero_state

ANNUAL = (date(2021, 1, 15), date(2022, 1, 15))


def gbp(amount: int) -> Money:
    return Money(amount=amount, currency="GBP")


@pytest.fixture
async def erp(emulators: Any, http: httpx.AsyncClient) -> AsyncIterator[XeroErp]:
    url = emulators.url("xero")
    (await http.post(f"{url}/_sandbox/reset")).raise_for_status()
    yield xero_connector(http, url)
    (await http.post(f"{url}/_sandbox/reset")).raise_for_status()


async def book(erp: XeroErp) -> tuple[str, str, str]:
    """An annual seat invoice (deferred) with a one-off line (revenue), credited in part: (invoice, note, contact)."""
    contact = await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    invoice = uk_invoice(tax=0).model_copy(
        update={
            "issue_date": ANNUAL[0],
            "due_date": ANNUAL[0],
            "lines": [
                InvoiceLine(
                    product_code="PLAT-SEAT",
                    description="Platform seat (annual)",
                    quantity=5,
                    unit_amount=gbp(720_00),
                    amount=gbp(3600_00),
                    period_start=ANNUAL[0],
                    period_end=ANNUAL[1],
                ),
                InvoiceLine(
                    product_code="SUPPORT-PREM",
                    description="Onboarding",
                    quantity=1,
                    unit_amount=gbp(50_00),
                    amount=gbp(50_00),
                ),
            ],
        }
    )
    invoice_id = await erp.post_invoice(invoice, contact)
    credit = CreditNote(
        golden_customer_id=invoice.golden_customer_id,
        legal_entity="UK01",
        currency="GBP",
        issue_date=date(2021, 10, 1),
        invoice_id=invoice.external_refs["stripe"],
        reason="cancellation",
        lines=[
            InvoiceAdjustment(
                product_code="PLAT-SEAT",
                description="Unused time on 5 x Platform seat",
                quantity=5,
                amount=gbp(1045_48),
                period_start=date(2021, 10, 1),
                period_end=ANNUAL[1],
            )
        ],
        tax=gbp(0),
        external_refs={"stripe": f"cn_{uuid.uuid4().hex[:10]}"},
    )
    await erp.post_credit_note(credit, invoice_id, contact)
    return invoice.external_refs["stripe"], credit.external_refs["stripe"], contact


async def test_the_ledger_holds_the_deferred_lines_with_their_periods_and_the_balance(erp: XeroErp) -> None:
    invoice, note, _ = await book(erp)

    ledger = await erp.revenue_ledger("UK01")

    assert [(line.source_id, line.amount.amount, line.service_start, line.service_end) for line in ledger.lines] == [
        (f"{note}#1", -1045_48, date(2021, 10, 1), ANNUAL[1]),
        (f"{invoice}#1", 3600_00, *ANNUAL),
    ]
    assert {line.booked_on for line in ledger.lines} == {ANNUAL[0], date(2021, 10, 1)}
    assert ledger.deferred_balance == {"GBP": 3600_00 - 1045_48}  # the one-off line went to revenue
    assert ledger.recognitions == []


async def test_a_recognition_journal_is_found_by_its_id_and_moves_the_balance(
    erp: XeroErp, http: httpx.AsyncClient, emulators: Any
) -> None:
    await book(erp)
    entry = recognition_entry("UK01", "2021-01", gbp(167_67), REVENUE_ACCOUNTS["UK01"], lines=2)
    assert await erp.recognition("UK01", entry.external_id) is None

    journal_id = await erp.post_journal_entry(entry)
    found = await erp.recognition("UK01", entry.external_id)

    assert found is not None
    assert (found.external_id, found.currency, found.month, found.amount) == (
        "rev-UK01-GBP-2021-01",
        "GBP",
        "2021-01",
        167_67,
    )
    assert (found.posted_on, found.erp_id) == (date(2021, 1, 31), journal_id)
    assert found.memo == entry.memo
    ledger = await erp.revenue_ledger("UK01")
    assert ledger.recognitions == [found]
    assert ledger.deferred_balance == {"GBP": 3600_00 - 1045_48 - 167_67}
    # A journal of another kind on deferred revenue counts in the balance, not as a recognition.
    by_hand = JournalEntry(
        external_id=f"adj-{uuid.uuid4().hex[:8]}",
        legal_entity="UK01",
        date=date(2021, 2, 3),
        lines=[
            JournalLine(account="2400", debit=gbp(1_00)),
            JournalLine(account="4000", credit=gbp(1_00)),
        ],
    )
    await erp.post_journal_entry(by_hand)
    assert (await erp.revenue_ledger("UK01")).deferred_balance == {"GBP": 3600_00 - 1045_48 - 167_67 - 1_00}

    url = emulators.url("xero")
    void = {"ManualJournals": [{"ManualJournalID": journal_id, "Status": "VOIDED"}]}
    await erp._write(TENANT, "POST", "ManualJournals", void, "ManualJournals")  # finance voids it in Xero
    voided = [j for j in (await xero_state(http, url))["ManualJournals"] if j["ManualJournalID"] == journal_id]
    assert voided[0]["Status"] == "VOIDED"
    assert await erp.recognition("UK01", entry.external_id) is None
    assert (await erp.revenue_ledger("UK01")).recognitions == []


async def test_a_recognition_journal_is_sent_with_its_external_id_as_the_idempotency_key(
    erp: XeroErp, http: httpx.AsyncClient, emulators: Any
) -> None:
    url = emulators.url("xero")
    entry = recognition_entry("UK01", "2021-02", gbp(5_00), REVENUE_ACCOUNTS["UK01"])
    sent: list[str] = []

    async def keep(request: httpx.Request) -> None:
        if request.method == "PUT":
            sent.append(request.headers.get("Idempotency-Key", ""))

    async with httpx.AsyncClient(timeout=5.0, event_hooks={"request": [keep]}) as watched:
        await xero_connector(watched, url).post_journal_entry(entry)
    assert sent == ["c2c-rev-UK01-GBP-2021-02@2021-02-28"]
    long = entry.model_copy(update={"external_id": "rev-" + "x" * 130})
    assert len(journal_key(TENANT, long.external_id, date(2021, 2, 28))) <= 128


def test_a_service_period_is_read_from_the_end_of_a_line_description() -> None:
    assert xero_revenue.service_period("Seat (2021-01-15 to 2022-01-15)") == ANNUAL
    assert xero_revenue.service_period("Unused time (5 x PLAT-SEAT, 2021-10-01 to 2022-01-15)") == (
        date(2021, 10, 1),
        ANNUAL[1],
    )
    for text in (None, "Seat", "Seat (2021-02-30 to 2022-01-15)", "Seat (2022-01-15 to 2021-01-15)"):
        assert xero_revenue.service_period(text) is None


def test_only_a_posted_base_currency_journal_with_a_recognition_id_is_a_recognition() -> None:
    def journal(narration: str, status: str = "POSTED") -> dict[str, Any]:
        lines = [{"AccountCode": "2400", "LineAmount": 10}, {"AccountCode": "4000", "LineAmount": -10}]
        return {
            "ManualJournalID": "j1",
            "Narration": narration,
            "Status": status,
            "Date": "/Date(1612051200000+0000)/",
            "JournalLines": lines,
        }

    assert xero_revenue.recognition(journal("[rev-UK01-GBP-2021-01] x"), "UK01", "GBP") is not None
    for other in (
        journal("[rev-UK01-GBP-2021-01] x", "DRAFT"),
        journal("[rev-UK01-USD-2021-01] x"),
        journal("[rev-UK01-GBP-2021-13] x"),
        journal("[rev-DE01-GBP-2021-01] x"),
        journal("rev-UK01-GBP-2021-01 without brackets"),
    ):
        assert xero_revenue.recognition(other, "UK01", "GBP") is None
    # A line on deferred revenue without a period counts in the balance only.
    invoice = {
        "InvoiceNumber": "in_1",
        "Status": "AUTHORISED",
        "CurrencyCode": "GBP",
        "Date": "/Date(1612051200000+0000)/",
        "LineItems": [{"AccountCode": "2400", "LineAmount": 5, "Description": "no period"}],
    }
    ledger = xero_revenue.ledger("UK01", "GBP", [invoice], [], [journal("[rev-UK01-GBP-2021-01] x")])
    assert (ledger.lines, ledger.deferred_balance) == ([], {"GBP": 5_00 - 10_00})
