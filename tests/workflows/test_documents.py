"""The documents a saga sends, built from its inputs alone: amounts, accounts, dates, codes and external ids."""

from __future__ import annotations

from datetime import date

import pytest

from canonical import BillingPeriod, DealLine, Invoice, JournalEntry
from tests.support.factories import make_deal, make_payment, make_quote, usd, with_billing_id
from workflows import documents

ISSUED = date(2026, 11, 30)
TWO_LINES = [
    DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=usd(45_00)),
    DealLine(product_code="ANALYTICS", quantity=1, unit_price=usd(150_00)),
]


def sides(entry: JournalEntry) -> list[tuple[str, int, int]]:
    return [
        (line.account, line.debit.amount if line.debit else 0, line.credit.amount if line.credit else 0)
        for line in entry.lines
    ]


def test_price_requests_put_the_negotiated_unit_price_on_the_catalog_product() -> None:
    requests = documents.price_requests(make_deal(lines=TWO_LINES))
    assert [(r.price.product_code, r.price.unit_amount, r.product_name) for r in requests] == [
        ("PLAT-SEAT", usd(45_00), "Platform seat"),  # catalog says 49.00; the deal's 45.00 wins
        ("ANALYTICS", usd(150_00), "Analytics add-on"),
    ]
    assert {r.price.period for r in requests} == {BillingPeriod.MONTH}


def test_contract_carries_the_deals_terms_for_the_golden_customer() -> None:
    deal = make_deal(lines=TWO_LINES, term_months=24)
    contract = documents.contract(deal, "gc_1")
    assert (contract.deal_id, contract.golden_customer_id, contract.legal_entity, contract.currency) == (
        "006TEST",
        "gc_1",
        "US01",
        "USD",
    )
    assert (contract.start_date, contract.term_months, contract.lines) == (date(2026, 11, 27), 24, TWO_LINES)


def test_tax_request_ships_from_the_legal_entity_to_the_customer_with_numbered_lines() -> None:
    deal = make_deal(lines=TWO_LINES)
    request = documents.tax_request(deal, "gc_1", "c2c-salesforce-006TEST", ISSUED)
    assert (request.document_code, request.company_code, request.customer_code, request.date) == (
        "c2c-salesforce-006TEST",
        "US01",
        "gc_1",
        ISSUED,
    )
    assert request.customer_tax_id == "US-94-1111111"
    assert request.ship_from.postal_code == "94105"  # c2c Software Inc., San Francisco
    assert request.ship_to.postal_code == "95014"  # the customer, Cupertino
    assert [(line.number, line.product_code, line.tax_code, line.amount) for line in request.lines] == [
        (1, "PLAT-SEAT", "SW054000", usd(450_00)),
        (2, "ANALYTICS", "SW054000", usd(150_00)),
    ]


def test_invoice_draft_adds_the_quoted_tax_and_is_due_after_the_terms() -> None:
    deal = make_deal(lines=TWO_LINES)
    quote = make_quote("c2c-salesforce-006TEST", taxable=600_00, tax=43_50)
    draft = documents.invoice_draft(deal, quote, "gc_1", "c2c:salesforce:006TEST", issued=ISSUED, terms_days=14)
    assert (draft.issue_date, draft.due_date) == (ISSUED, date(2026, 12, 14))
    assert [(line.description, line.quantity, line.amount) for line in draft.lines] == [
        ("Platform seat (monthly)", 10, usd(450_00)),
        ("Analytics add-on (monthly)", 1, usd(150_00)),
    ]
    assert (draft.subtotal, draft.tax, draft.total) == (usd(600_00), usd(43_50), usd(643_50))
    assert draft.tax_document_code == "c2c-salesforce-006TEST"
    assert draft.external_refs == {"c2c": "c2c:salesforce:006TEST"}  # billing webhooks find the saga by it
    assert (draft.golden_customer_id, draft.legal_entity, draft.currency) == ("gc_1", "US01", "USD")


def test_fee_entry_books_the_processor_fee_against_undeposited_funds() -> None:
    payment = make_payment("in_1", 643_50)  # fee 1.75
    entry = documents.fee_entry(payment, "US01", "pi_1", ISSUED)
    assert (entry.external_id, entry.legal_entity, entry.date) == ("fee-pi_1", "US01", ISSUED)
    assert entry.memo == "Payment processing fee pi_1"
    assert sides(entry) == [("6150", 1_75, 0), ("1050", 0, 1_75)]


def test_fee_entry_refuses_a_payment_without_fee() -> None:
    payment = make_payment("in_1", 643_50).model_copy(update={"fee": None})
    with pytest.raises(ValueError, match="no fee"):
        documents.fee_entry(payment, "US01", "pi_1", ISSUED)


def invoice(number: str | None = "INV-0042") -> Invoice:
    deal = make_deal(lines=TWO_LINES)
    draft = documents.invoice_draft(deal, make_quote("doc", 600_00, 43_50), "gc_1", "wf", ISSUED, 3)
    return with_billing_id(draft, "in_9", number)


def test_bad_debt_entry_provisions_the_invoice_total_and_its_reversal_mirrors_it() -> None:
    provision = documents.bad_debt_entry(invoice(), "in_9", ISSUED, reverse=False)
    reversal = documents.bad_debt_entry(invoice(), "in_9", ISSUED, reverse=True)
    assert (provision.external_id, reversal.external_id) == ("baddebt-in_9", "baddebt-rev-in_9")
    assert sides(provision) == [("6200", 643_50, 0), ("1110", 0, 643_50)]  # expense / allowance
    assert sides(reversal) == [("1110", 643_50, 0), ("6200", 0, 643_50)]
    assert provision.memo == "Bad debt provision for invoice INV-0042"
    assert reversal.memo == "Reverse bad debt provision for invoice INV-0042"
    assert (provision.legal_entity, provision.date) == ("US01", ISSUED)


def test_bad_debt_entry_names_the_billing_id_when_the_invoice_has_no_number() -> None:
    entry = documents.bad_debt_entry(invoice(number=None), "in_9", ISSUED, reverse=False)
    assert entry.memo == "Bad debt provision for invoice in_9"
