"""The reads reconciliation needs for every billing period, against dedicated emulators over real HTTP: Stripe
credit notes (every page, down to the window's start), invoices' billing reason and legal entity, subscriptions'
end (cancel_at, ended_at) and by id; Salesforce contracts by subscription and by deal."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest

from canonical import CreditNote, InvoiceAdjustment, Money
from connectors.salesforce import SalesforceCrm
from connectors.stripe import StripeBilling
from connectors.stripe import reads as stripe_reads
from sandbox.server import build_app
from tests.connectors.test_salesforce_amendments import won_deal
from tests.support.servers import Serve
from tests.support.stripe import API_KEY, make_customer, open_invoice


def before(seconds: int = 5) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def credit_for(invoice_id: str, amount: int) -> CreditNote:
    usd = Money(amount=amount, currency="USD")
    return CreditNote(
        golden_customer_id="gc_acme",
        legal_entity="US01",
        currency="USD",
        issue_date=date(2025, 3, 15),
        invoice_id=invoice_id,
        reason="order_change",
        lines=[
            InvoiceAdjustment(
                product_code="PLAT-SEAT",
                description="Unused time",
                quantity=1,
                amount=usd,
                period_start=date(2025, 3, 15),
                period_end=date(2025, 4, 1),
            )
        ],
        tax=Money(amount=0, currency="USD"),
    )


async def test_credit_notes_invoices_and_subscriptions_carry_what_every_period_needs(
    http: httpx.AsyncClient, own_server: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_reads, "LIST_PAGE", 1)
    url = own_server(build_app("stripe")).url
    billing = StripeBilling(http, url, API_KEY)
    opened = [await open_invoice(billing, f"p{n}", make_customer(f"gc_p{n}")) for n in range(3)]
    invoice_ids = [invoice.external_refs["stripe"] for _, invoice in opened]
    notes = [
        await billing.issue_credit_note(credit_for(invoice_id, 10_00 * (n + 1)), idempotency_key=f"c2c:k{n}:credit")
        for n, invoice_id in enumerate(invoice_ids[:2])
    ]

    read = await billing.credit_notes_created_since(before())
    assert sorted(n.credit_note_id for n in read) == sorted(n.external_refs["stripe"] for n in notes)
    first = next(n for n in read if n.invoice_id == invoice_ids[0])
    assert (first.total, first.currency, first.status, first.key) == (10_00, "USD", "issued", "c2c:k0:credit")
    assert await billing.credit_notes_created_since(datetime.now(UTC) + timedelta(minutes=1)) == []

    invoices = await billing.invoices_created_since(before())
    assert {(i.billing_reason, i.legal_entity) for i in invoices} == {("subscription_create", "US01")}

    subscriptions = await billing.subscriptions_created_since(before())
    [term_end] = {s.cancel_at for s in subscriptions}  # the 12-month term's end, midnight UTC
    assert term_end is not None
    assert term_end.time() == time()
    assert timedelta(days=364) < term_end - datetime.now(UTC) < timedelta(days=367)
    assert {(s.legal_entity, s.status, s.ended_at) for s in subscriptions} == {("US01", "active", None)}
    ended = subscriptions[0].subscription_id
    await billing.cancel_subscription(ended, idempotency_key="p:end")
    [again] = await billing.subscriptions_by_id([ended, "sub_unknown"])
    assert (again.subscription_id, again.status, again.deal_id) == (ended, "canceled", "006DEAL1")
    assert again.ended_at is not None
    assert again.ended_at >= before(60)


async def test_contracts_are_read_by_subscription_and_by_deal(http: httpx.AsyncClient, own_server: Serve) -> None:
    url = own_server(build_app("salesforce", query_batch_size=1)).url
    crm = SalesforceCrm(http, url, "c2c", "sandbox-secret")
    deal = await won_deal(crm, "first")
    other = await won_deal(crm, "second")
    first_id = await crm.upsert_contract(deal, "sub_first", date(2024, 7, 1), 12)
    second_id = await crm.upsert_contract(other, "sub_second", date(2024, 2, 29), 1)

    [contract] = await crm.contracts_of(["sub_first", "sub_unknown"], [])
    assert (contract.contract_id, contract.deal_id, contract.subscription_id) == (first_id, deal.deal_id, "sub_first")
    assert (contract.status, contract.start_date, contract.term_months) == ("Activated", date(2024, 7, 1), 12)
    assert contract.end_date == date(2025, 6, 30)  # StartDate + 12 months - 1 day
    assert contract.account_id == deal.customer.external_refs["salesforce"]

    both = await crm.contracts_of(["sub_first"], [deal.deal_id, other.deal_id])
    assert [c.contract_id for c in both] == sorted([first_id, second_id])
    assert next(c for c in both if c.contract_id == second_id).end_date == date(2024, 3, 28)
    assert await crm.contracts_of([], []) == []
