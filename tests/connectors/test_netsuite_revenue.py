"""Posting rules for revenue in NetSuite (emulator over HTTP): subscription lines are billed into deferred revenue
(rev rec dates), recognition journals move it to revenue, and the ledger read gives both back with the balance."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from canonical import Invoice, InvoiceLine, JournalEntry, JournalLine, Money
from canonical.reference import REVENUE_ACCOUNTS
from canonical.revenue import recognition_entry
from connectors.errors import PermanentError
from connectors.netsuite import NetSuiteErp
from tests.connectors.test_netsuite_credits import close_before, customer_in, make_credit, make_invoice, proration, usd
from tests.support.netsuite import sandbox_state

RECORDS = "/services/rest/record/v1"
SEAT = Money(amount=49_00, currency="USD")


def subscription_invoice(**changes: Any) -> Invoice:
    """Two seats for March 2025 (billing's period end is exclusive: 2025-04-01), a proration, tax."""
    invoice = make_invoice(adjustments=[proration(12_00)])
    line = invoice.lines[0].model_copy(update={"period_start": date(2025, 3, 1), "period_end": date(2025, 4, 1)})
    return invoice.model_copy(update={"lines": [line], **changes})


async def record(http: httpx.AsyncClient, base_url: str, kind: str, internal_id: str) -> dict[str, Any]:
    found = [r for r in (await sandbox_state(http, base_url))[kind] if r["id"] == internal_id]
    assert len(found) == 1
    return found[0]


async def test_subscription_lines_post_to_deferred_revenue_with_their_service_period(
    erp: NetSuiteErp, http: httpx.AsyncClient, netsuite_url: str
) -> None:
    invoice = subscription_invoice()
    erp_id = await erp.post_invoice(invoice, await customer_in(erp))

    posted = await record(http, netsuite_url, "invoice", erp_id)

    seat, prorated, tax = posted["item"]["items"]
    assert (seat["account"]["id"], seat["revRecStartDate"], seat["revRecEndDate"]) == ("30", "2025-03-01", "2025-03-31")
    assert (prorated["account"]["id"], prorated["revRecStartDate"], prorated["revRecEndDate"]) == (
        "30",
        "2025-03-15",
        "2025-03-31",
    )
    assert tax["account"]["id"] == "25"  # sales tax payable: never revenue
    assert Money.from_decimal(posted["total"], "USD") == invoice.total  # the accounts change, the total does not


async def test_a_line_without_a_service_period_is_revenue_when_invoiced(
    erp: NetSuiteErp, http: httpx.AsyncClient, netsuite_url: str
) -> None:
    erp_id = await erp.post_invoice(make_invoice(), await customer_in(erp))

    line = (await record(http, netsuite_url, "invoice", erp_id))["item"]["items"][0]

    assert line["account"]["id"] == "54"
    assert "revRecStartDate" not in line


async def test_the_ledger_reads_deferred_lines_recognitions_and_the_balance(erp: NetSuiteErp) -> None:
    invoice = subscription_invoice()
    customer = await customer_in(erp)
    invoice_erp_id = await erp.post_invoice(invoice, customer)
    await erp.post_credit_note(make_credit(invoice, amount=30_00), invoice_erp_id, customer)
    entry = recognition_entry("US01", "2025-03", usd(50_00), REVENUE_ACCOUNTS["US01"])
    await erp.post_journal_entry(entry)
    # A journal someone posted by hand on deferred revenue moves the balance but recognizes nothing.
    manual = JournalEntry(
        external_id=f"manual-{uuid.uuid4().hex[:8]}",
        legal_entity="US01",
        date=date(2025, 3, 31),
        lines=[
            JournalLine(account="2400", debit=usd(1_00)),
            JournalLine(account="4000", credit=usd(1_00)),
        ],
    )
    await erp.post_journal_entry(manual)

    ledger = await erp.revenue_ledger("US01")

    mine = [line for line in ledger.lines if line.document_id == invoice.external_refs["stripe"]]
    assert [(x.amount.amount, x.service_start, x.service_end) for x in mine] == [
        (98_00, date(2025, 3, 1), date(2025, 4, 1)),
        (12_00, date(2025, 3, 15), date(2025, 4, 1)),
    ]
    credit = [line for line in ledger.lines if line.document_id.startswith("cn_")]
    assert [(x.amount.amount, x.service_start, x.service_end) for x in credit] == [
        (-30_00, date(2025, 3, 20), date(2025, 4, 1))
    ]
    assert [(r.external_id, r.amount, r.posted_on) for r in ledger.recognitions] == [
        ("rev-US01-USD-2025-03", 50_00, date(2025, 3, 31))
    ]
    assert ledger.deferred_balance == {"USD": 98_00 + 12_00 - 30_00 - 50_00 - 1_00}
    assert (await erp.revenue_ledger("DE01")).lines == []


async def test_a_recognition_for_a_closed_period_posts_in_the_next_open_one_with_a_note(
    erp: NetSuiteErp, http: httpx.AsyncClient, netsuite_url: str
) -> None:
    await close_before(http, netsuite_url, "2025-05-01")
    entry = recognition_entry("US01", "2025-03", Money(amount=7_000, currency="JPY"), REVENUE_ACCOUNTS["US01"])

    await erp.post_journal_entry(entry)
    found = await erp.recognition("US01", entry.external_id)

    assert found is not None
    assert (found.posted_on, found.month, found.amount) == (date(2025, 5, 1), "2025-03", 7_000)
    assert found.memo is not None
    assert "[for 2025-03-31; period closed, posted in the next open one]" in found.memo
    assert await erp.recognition("US01", "rev-US01-JPY-2025-04") is None


async def test_the_emulator_refuses_a_line_with_one_rev_rec_date(
    erp: NetSuiteErp, http: httpx.AsyncClient, netsuite_url: str
) -> None:
    customer = await customer_in(erp)
    line = {"item": {"id": "10"}, "quantity": 1, "rate": 10, "amount": 10, "revRecStartDate": "2025-03-01"}
    body = {"entity": {"id": customer}, "tranDate": "2025-03-01", "item": {"items": [line]}}

    response = await erp._request("PUT", "invoice/eid:in_half_dated", body=body, classifier=lambda r: None)

    assert response.status_code == 400
    assert "Rev. Rec. End Date" in response.text
    assert await erp.get_by_external_id("invoice", "in_half_dated") is None


def test_an_unknown_entity_has_no_subsidiary_to_read() -> None:
    from connectors.netsuite.revenue import subsidiary_id

    with pytest.raises(PermanentError, match="no NetSuite subsidiary for 'XX01'"):
        subsidiary_id("XX01")


def test_a_line_with_half_a_service_period_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a start and an end"):
        InvoiceLine(
            product_code="PLAT-SEAT",
            description="seat",
            quantity=1,
            unit_amount=SEAT,
            amount=SEAT,
            period_start=date(2025, 3, 1),
        )
