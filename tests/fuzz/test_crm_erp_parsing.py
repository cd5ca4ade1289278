"""Fuzzing every Salesforce and NetSuite answer c2c parses beyond the saga's main reads (those are in
test_vendor_parsing.py): contracts and amendments, the reconciler's reads, customer writes and credit notes. A real
exchange is recorded once and replayed with one value of one answer removed or replaced; the connector returns
normally or raises its taxonomy (or a ValueError) naming the field, never KeyError, TypeError or AttributeError."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical import CreditNote, InvoiceAdjustment, Money
from canonical.reference import LEGAL_ENTITIES
from connectors.salesforce import SalesforceCrm
from estate.amendments import amendment_deal
from estate.book import GLOBEX, DealSpec
from estate.deals import seed_deal
from tests.support.fuzzing import fuzzing
from tests.support.netsuite import erp_connector, ns_customer, ns_invoice
from tests.support.replay import Exchange, Operation, mutations, not_keys, survives

CRM = [
    "salesforce.upsert_contract",
    "salesforce.get_amendment",
    "salesforce.closed_won_deals",
    "salesforce.accounts",
]
# Writes answer 204 with a Location header, fuzzed in test_vendor_parsing.py; these answers have JSON bodies.
ERP = [
    "netsuite.post_credit_note",
    "netsuite.invoices_modified_since",
    "netsuite.payments_modified_since",
    "netsuite.credit_memos_modified_since",
    "netsuite.customers_by_external_id",
]


@pytest.fixture(scope="module")
async def recorded(emulators: Any) -> dict[str, Operation]:
    urls = {name: emulators.url(name) for name in ("salesforce", "netsuite")}
    tag = uuid.uuid4().hex[:8]
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with httpx.AsyncClient(timeout=10) as http:
        crm = SalesforceCrm(http, urls["salesforce"], "c2c-fuzz", "fuzz-secret")
        spec = DealSpec(f"FUZZ-CRM-{tag}", GLOBEX, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))])
        deal = await crm.get_deal(await seed_deal(crm, spec, close=False))
        contract_id = await crm.upsert_contract(deal, f"sub_fz{tag}", date(2026, 1, 1), 12)
        change_id = await amendment_deal(crm, f"FUZZ-CRM-{tag}-up", contract_id, lines=(("PLAT-SEAT", 2, 49),))
        account_id = deal.customer.external_refs["salesforce"]

        erp = erp_connector(http, urls["netsuite"])
        customer = ns_customer()
        erp_customer = await erp.upsert_customer(customer, LEGAL_ENTITIES["US01"], "USD")
        invoice = ns_invoice(f"in_fzc{tag}")
        invoice_id = await erp.post_invoice(invoice, erp_customer)
        await erp.post_credit_memo(invoice, invoice_id, erp_customer)
    credit = credit_note(f"cn_fz{tag}", invoice.external_refs["stripe"])
    erp_customer_ids = [f"{customer.golden_id}-US01"]

    def sf(http: httpx.AsyncClient) -> SalesforceCrm:
        return SalesforceCrm(http, urls["salesforce"], "c2c-fuzz", "fuzz-secret")

    def ns(http: httpx.AsyncClient) -> Any:
        return erp_connector(http, urls["netsuite"])

    operations = [
        Operation(
            "salesforce.upsert_contract", lambda h: sf(h).upsert_contract(deal, "sub_other", date(2026, 2, 1), 6)
        ),
        Operation("salesforce.get_amendment", lambda h: sf(h).get_amendment(change_id)),
        Operation("salesforce.closed_won_deals", lambda h: sf(h).closed_won_deals(since)),
        Operation("salesforce.accounts", lambda h: sf(h).accounts([account_id], [])),
        Operation("netsuite.upsert_customer", lambda h: ns(h).upsert_customer(customer, LEGAL_ENTITIES["US01"], "USD")),
        Operation("netsuite.post_credit_note", lambda h: ns(h).post_credit_note(credit, invoice_id, erp_customer)),
        Operation("netsuite.invoices_modified_since", lambda h: ns(h).invoices_modified_since(since.date())),
        Operation("netsuite.payments_modified_since", lambda h: ns(h).payments_modified_since(since.date())),
        Operation("netsuite.credit_memos_modified_since", lambda h: ns(h).credit_memos_modified_since(since.date())),
        Operation("netsuite.customers_by_external_id", lambda h: ns(h).customers_by_external_id(erp_customer_ids)),
    ]
    for operation in operations:
        await operation.record()
    return {operation.name: operation for operation in operations}


def credit_note(credit_id: str, invoice_id: str) -> CreditNote:
    amount = Money(amount=10_00, currency="USD")
    line = InvoiceAdjustment(
        product_code="PLAT-SEAT",
        description="Unused time",
        quantity=2,
        amount=amount,
        period_start=date(2026, 3, 15),
        period_end=date(2026, 3, 31),
    )
    return CreditNote(
        golden_customer_id="gc_1",
        legal_entity="US01",
        invoice_id=invoice_id,
        currency="USD",
        issue_date=date(2026, 3, 15),
        lines=[line],
        tax=Money(amount=0, currency="USD"),
        reason="cancellation",
        external_refs={"stripe": credit_id},
    )


def outside_login(answer: Exchange) -> bool:
    return "token" not in answer.path


@given(data=st.data())
@fuzzing(200)
async def test_crm_answers_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Contracts, amendments and the reconciler's reads, each answer with a field removed or of another type, or a
    whole body replaced."""
    op = data.draw(st.sampled_from([recorded[name] for name in CRM]))
    mutation = data.draw(mutations(op, keep=not_keys("records"), answers=outside_login, root=True))
    await survives(op, mutation)


@given(data=st.data())
@fuzzing(200)
async def test_erp_answers_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Customer writes, credit notes and the reconciler's collection pages and records, likewise."""
    op = data.draw(st.sampled_from([recorded[name] for name in ERP]))
    mutation = data.draw(mutations(op, keep=not_keys("externalId"), answers=outside_login, root=True))
    await survives(op, mutation)
