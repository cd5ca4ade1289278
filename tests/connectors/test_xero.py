"""The Xero ERP connector against the Xero emulator over HTTP: each write of the Erp role, its lookup before create,
the refusals Xero answers (validation, lock date, tenant, token) and the reconciler's reads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from canonical import CreditNote, InvoiceAdjustment, JournalEntry, JournalLine, Money, Payment, PaymentStatus
from connectors.errors import BusinessRuleError, PermanentError, TransientError
from connectors.xero import XeroCredentials, XeroErp
from tests.support.xero import ENTITY, TENANT, uk_customer, uk_invoice, xero_connector, xero_state

TOTAL = "706.80"  # 10 x 39.00 + 199.00 + 117.80 tax


@pytest.fixture
async def xero_url(emulators: Any, http: httpx.AsyncClient) -> AsyncIterator[str]:
    url: str = emulators.url("xero")
    await http.delete(f"{url}/_sandbox/faults")
    yield url
    await http.post(f"{url}/_sandbox/lock", json={"tenant": TENANT, "before": None})
    await http.post(f"{url}/_sandbox/limits", json={})


@pytest.fixture
def erp(http: httpx.AsyncClient, xero_url: str) -> XeroErp:
    return xero_connector(http, xero_url)


def mine(rows: list[dict[str, Any]], field: str, value: str) -> list[dict[str, Any]]:
    return [row for row in rows if row.get(field) == value]


async def test_customer_is_one_contact_per_golden_customer_and_entity(erp: XeroErp, xero_url: str, http: Any) -> None:
    customer = uk_customer()
    first = await erp.upsert_customer(customer, ENTITY, "GBP")
    moved = customer.model_copy(update={"tax_id": None, "email": "new@brit.test"})
    assert await erp.upsert_customer(moved, ENTITY, "GBP") == first
    assert (
        await erp.update_customer(moved.model_copy(update={"legal_name": "Renamed " + customer.legal_name}), ENTITY)
        == first
    )
    contacts = mine((await xero_state(http, xero_url))["Contacts"], "ContactNumber", f"{customer.golden_id}-UK01")
    assert len(contacts) == 1
    assert contacts[0]["Name"] == "Renamed " + customer.legal_name
    assert contacts[0]["TaxNumber"] == ""
    assert contacts[0]["DefaultCurrency"] == "GBP"
    assert contacts[0]["Addresses"][0]["City"] == "London"
    [read] = await erp.customers_by_external_id([f"{customer.golden_id}-UK01", "gc_nobody-UK01"])
    assert read.internal_id == first
    assert read.fields.name == "Renamed " + customer.legal_name


async def test_two_deals_of_a_new_customer_at_once_make_one_contact(erp: XeroErp, xero_url: str, http: Any) -> None:
    """Both look, find nothing and create; the second is refused for the name the first just took, and takes the
    first's contact (its number is ours) instead of making a second one under another name."""
    customer = uk_customer()
    usd = customer.model_copy(update={"email": "other-deal@brit.test"})  # another deal's copy: another request body
    first, second = await asyncio.gather(
        erp.upsert_customer(customer, ENTITY, "GBP"), erp.upsert_customer(usd, ENTITY, "GBP")
    )
    assert first == second
    contacts = mine((await xero_state(http, xero_url))["Contacts"], "ContactNumber", f"{customer.golden_id}-UK01")
    assert len(contacts) == 1


async def test_a_second_customer_with_the_same_legal_name_gets_its_number_in_the_name(erp: XeroErp) -> None:
    one, two = uk_customer(), uk_customer()
    two = two.model_copy(update={"legal_name": one.legal_name})
    assert await erp.upsert_customer(one, ENTITY, "GBP") != await erp.upsert_customer(two, ENTITY, "GBP")
    [read] = await erp.customers_by_external_id([f"{two.golden_id}-UK01"])
    assert read.fields.name == one.legal_name  # the number the name carries is not part of it


async def test_update_of_a_customer_xero_does_not_hold_is_customer_not_found(erp: XeroErp) -> None:
    with pytest.raises(PermanentError) as refused:
        await erp.update_customer(uk_customer(), ENTITY)
    assert refused.value.code == "customer_not_found"


async def test_invoice_payment_fee_journal_and_reads(erp: XeroErp, xero_url: str, http: Any) -> None:
    contact = await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    invoice = uk_invoice()
    billing_id = invoice.external_refs["stripe"]
    invoice_id = await erp.post_invoice(invoice, contact)
    assert await erp.post_invoice(invoice, contact) == invoice_id  # found by number, not created again
    payment = Payment(
        invoice_id=billing_id,
        amount=Money.from_decimal(TOTAL, "GBP"),
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": f"py_{uuid.uuid4().hex[:12]}"},
    )
    payment_id = await erp.apply_payment(payment, contact, invoice_id)
    assert await erp.apply_payment(payment, contact, invoice_id) == payment_id
    fee = JournalEntry(
        external_id=f"fee-{uuid.uuid4().hex[:8]}",
        legal_entity="UK01",
        date=date(2025, 3, 2),
        memo="Stripe fee",
        lines=[
            JournalLine(account="6150", debit=Money(amount=2_35, currency="GBP")),
            JournalLine(account="1050", credit=Money(amount=2_35, currency="GBP")),
        ],
    )
    journal = await erp.post_journal_entry(fee)
    assert await erp.post_journal_entry(fee) == journal
    state = await xero_state(http, xero_url)
    [posted] = mine(state["Invoices"], "InvoiceNumber", billing_id)
    assert posted["Status"] == "PAID"
    assert Decimal(str(posted["Total"])) == Decimal(TOTAL)
    assert posted["Type"] == "ACCREC"
    assert {line["AccountCode"] for line in posted["LineItems"]} == {"2400", "2200"}
    assert len(mine(state["Payments"], "Reference", payment.external_refs["stripe"])) == 1
    assert len([j for j in state["ManualJournals"] if j["Narration"].startswith(f"[{fee.external_id}]")]) == 1
    since = date(2000, 1, 1)
    [read] = [i for i in await erp.invoices_modified_since(since) if i.external_id == billing_id]
    assert (read.total, read.amount_remaining, read.reference, read.currency) == (706_80, 0, "UK-0001", "GBP")
    [paid] = [p for p in await erp.payments_modified_since(since) if p.external_id == payment.external_refs["stripe"]]
    assert paid.applied == {invoice_id: 706_80}


async def test_reversal_and_credit_note_are_allocated_to_what_is_due(erp: XeroErp) -> None:
    contact = await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    invoice = uk_invoice()
    invoice_id = await erp.post_invoice(invoice, contact)
    credit = CreditNote(
        golden_customer_id="gc_brit",
        legal_entity="UK01",
        currency="GBP",
        issue_date=date(2025, 3, 10),
        invoice_id=invoice.external_refs["stripe"],
        reason="goodwill",
        lines=[
            InvoiceAdjustment(
                product_code="ANALYTICS",
                description="Credit",
                quantity=1,
                amount=Money(amount=100_00, currency="GBP"),
                period_start=date(2025, 3, 1),
                period_end=date(2025, 4, 1),
            )
        ],
        tax=Money(amount=20_00, currency="GBP"),
        external_refs={"stripe": f"cn_{uuid.uuid4().hex[:12]}"},
    )
    note = await erp.post_credit_note(credit, invoice_id, contact)
    assert await erp.post_credit_note(credit, invoice_id, contact) == note
    reversal = await erp.post_credit_memo(invoice, invoice_id, contact)
    assert await erp.post_credit_memo(invoice, invoice_id, contact) == reversal
    [read] = [i for i in await erp.invoices_modified_since(date(2000, 1, 1)) if i.internal_id == invoice_id]
    assert read.amount_remaining == 0
    assert read.status == "PAID"
    memos = {m.external_id: m for m in await erp.credit_memos_modified_since(date(2000, 1, 1))}
    assert memos[credit.external_refs["stripe"]].total == 120_00
    assert memos["cm-" + invoice.external_refs["stripe"]].created_from == invoice_id  # allocated what was left


async def test_credit_on_an_unknown_invoice_writes_nothing(erp: XeroErp) -> None:
    contact = await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    with pytest.raises(PermanentError) as refused:
        await erp.post_credit_memo(uk_invoice(), str(uuid.uuid4()), contact)
    assert refused.value.code == "invoice_not_found"


async def test_a_locked_period_moves_the_document_to_the_next_open_month(
    erp: XeroErp, xero_url: str, http: Any
) -> None:
    contact = await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    await http.post(f"{xero_url}/_sandbox/lock", json={"tenant": TENANT, "before": "2025-03-31"})
    with pytest.raises(BusinessRuleError, match="period lock date"):
        await erp.post_invoice(uk_invoice(), contact)  # an invoice keeps billing's date: finance decides
    entry = JournalEntry(
        external_id=f"bad-{uuid.uuid4().hex[:8]}",
        legal_entity="UK01",
        date=date(2025, 3, 20),
        lines=[
            JournalLine(account="6200", debit=Money(amount=10_00, currency="GBP")),
            JournalLine(account="1110", credit=Money(amount=10_00, currency="GBP")),
        ],
    )
    await erp.post_journal_entry(entry)
    [journal] = [
        j
        for j in (await xero_state(http, xero_url))["ManualJournals"]
        if j["Narration"].startswith(f"[{entry.external_id}]")
    ]
    assert "period locked" in journal["Narration"]
    assert journal["Date"].startswith("/Date(1743465600000")


async def test_refusals_name_the_problem_and_change_nothing(erp: XeroErp, xero_url: str, http: Any) -> None:
    bad = JournalEntry(
        external_id=f"ar-{uuid.uuid4().hex[:8]}",
        legal_entity="UK01",
        date=date(2025, 5, 1),
        lines=[
            JournalLine(account="1100", debit=Money(amount=1_00, currency="GBP")),
            JournalLine(account="4000", credit=Money(amount=1_00, currency="GBP")),
        ],
    )
    with pytest.raises(BusinessRuleError, match="system account"):
        await erp.post_journal_entry(bad)
    journals = (await xero_state(http, xero_url))["ManualJournals"]
    assert not [j for j in journals if j["Narration"].startswith(f"[{bad.external_id}]")]
    with pytest.raises(PermanentError) as unmapped:
        await erp.post_journal_entry(bad.model_copy(update={"legal_entity": "US01"}))
    assert unmapped.value.code == "unmapped_tenant"


async def test_rate_limit_is_retryable_with_xeros_delay(erp: XeroErp, xero_url: str, http: Any) -> None:
    await erp.upsert_customer(uk_customer(), ENTITY, "GBP")  # a token, and the minute's first calls
    await http.post(f"{xero_url}/_sandbox/limits", json={"day": 0})
    with pytest.raises(TransientError) as limited:
        await erp.customers_by_external_id([f"gc_x-{ENTITY.code}"])
    assert limited.value.code == "rate_limit_day"
    assert limited.value.retry_after == 3600


async def test_token_is_refetched_once_after_a_revocation_and_bad_credentials_are_permanent(
    erp: XeroErp, xero_url: str, http: httpx.AsyncClient
) -> None:
    await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    await http.post(f"{xero_url}/_sandbox/tokens/revoke")
    await erp.upsert_customer(uk_customer(), ENTITY, "GBP")  # the 401 fetched a new token
    wrong = XeroErp(http, xero_url, XeroCredentials("c2c-xero-client", "wrong", {"UK01": TENANT}))
    with pytest.raises(PermanentError) as refused:
        await wrong.upsert_customer(uk_customer(), ENTITY, "GBP")
    assert refused.value.code == "auth"
    other = XeroErp(http, xero_url, XeroCredentials("c2c-xero-client", "c2c-xero-secret", {"UK01": str(uuid.uuid4())}))
    with pytest.raises(PermanentError) as forbidden:
        await other.upsert_customer(uk_customer(), ENTITY, "GBP")
    assert forbidden.value.status == 403


async def test_token_is_renewed_before_it_expires(http: httpx.AsyncClient, xero_url: str) -> None:
    now = [0.0]
    erp = xero_connector(http, xero_url, clock=lambda: now[0])
    await erp.upsert_customer(uk_customer(), ENTITY, "GBP")
    first = await erp._tokens.token()
    now[0] = 1800 - 61  # still valid for longer than the margin
    assert await erp._tokens.token() == first
    now[0] = 1800 - 59
    assert await erp._tokens.token() != first
