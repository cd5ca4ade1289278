"""Validation rules of deals, invoices, tax quotes, events, names and the catalog."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from canonical import (
    Address,
    BillingPeriod,
    BusinessEvent,
    Customer,
    Deal,
    DealLine,
    EventType,
    Invoice,
    InvoiceLine,
    Money,
    TaxLine,
    TaxQuote,
    normalise_legal_name,
)
from canonical.reference import CATALOG

ADDRESS = Address(line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country="US")


def usd(amount: int) -> Money:
    return Money(amount=amount, currency="USD")


def deal(**overrides: Any) -> Deal:
    fields: dict[str, Any] = {
        "crm": "salesforce",
        "deal_id": "006A",
        "name": "Acme platform",
        "stage": "Closed Won",
        "closed_won": True,
        "close_date": date(2024, 5, 1),
        "currency": "USD",
        "legal_entity": "US01",
        "term_months": 12,
        "billing_period": BillingPeriod.MONTH,
        "customer": Customer(legal_name="Acme, Inc.", address=ADDRESS, external_refs={"salesforce": "001A"}),
        "lines": [
            DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=usd(4900)),
            DealLine(product_code="ANALYTICS", quantity=1, unit_price=usd(19900)),
        ],
    }
    return Deal(**(fields | overrides))


def invoice_line(quantity: int = 2, unit: Money | None = None, amount: Money | None = None) -> InvoiceLine:
    unit = unit or usd(4900)
    return InvoiceLine(
        product_code="PLAT-SEAT",
        description="Platform seat",
        quantity=quantity,
        unit_amount=unit,
        amount=amount or unit.times(quantity),
    )


def invoice(**overrides: Any) -> Invoice:
    fields: dict[str, Any] = {
        "golden_customer_id": "gc_1",
        "legal_entity": "US01",
        "currency": "USD",
        "issue_date": date(2024, 5, 1),
        "due_date": date(2024, 5, 31),
        "lines": [invoice_line(2), invoice_line(1, usd(19900))],
        "tax": usd(1432),
    }
    return Invoice(**(fields | overrides))


def test_a_valid_deal_prices_one_billing_period() -> None:
    assert deal().period_amount == usd(10 * 4900 + 19900)


def test_a_deal_rejects_a_line_in_another_currency() -> None:
    line = DealLine(product_code="PLAT-SEAT", quantity=1, unit_price=Money(amount=4500, currency="EUR"))
    with pytest.raises(ValidationError, match="line PLAT-SEAT is in EUR, deal is in USD"):
        deal(lines=[line])


def test_a_deal_rejects_a_negative_price() -> None:
    with pytest.raises(ValidationError, match="negative price"):
        deal(lines=[DealLine(product_code="PLAT-SEAT", quantity=1, unit_price=usd(-1))])


@pytest.mark.parametrize(("term", "period"), [(18, BillingPeriod.YEAR), (6, BillingPeriod.YEAR)])
def test_a_deal_term_must_be_whole_billing_periods(term: int, period: BillingPeriod) -> None:
    with pytest.raises(ValidationError, match="not a whole number of years"):
        deal(term_months=term, billing_period=period)


def test_a_deal_accepts_a_term_of_whole_years_and_any_monthly_term() -> None:
    assert deal(term_months=24, billing_period=BillingPeriod.YEAR).term_months == 24
    assert deal(term_months=7, billing_period=BillingPeriod.MONTH).term_months == 7


@pytest.mark.parametrize("overrides", [{"lines": []}, {"term_months": 0}, {"term_months": 121}])
def test_a_deal_rejects_empty_lines_and_out_of_range_terms(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        deal(**overrides)


def test_invoice_totals_are_lines_plus_tax() -> None:
    inv = invoice()
    assert inv.subtotal == usd(2 * 4900 + 19900)
    assert inv.total == usd(2 * 4900 + 19900 + 1432)


def test_invoice_rejects_tax_in_another_currency() -> None:
    with pytest.raises(ValidationError, match="invoice is in USD but has an amount in EUR"):
        invoice(tax=Money(amount=100, currency="EUR"))


def test_invoice_rejects_a_line_in_another_currency() -> None:
    with pytest.raises(ValidationError, match="has an amount in JPY"):
        invoice(lines=[invoice_line(1, Money(amount=7200, currency="JPY"))])


def test_invoice_rejects_negative_tax() -> None:
    with pytest.raises(ValidationError, match="negative tax"):
        invoice(tax=usd(-1))


def test_invoice_line_amount_must_be_quantity_times_unit() -> None:
    with pytest.raises(ValidationError, match="amount != quantity x unit_amount"):
        invoice_line(2, usd(4900), amount=usd(9801))


def test_tax_quote_lines_must_add_up_to_the_total() -> None:
    lines = [
        TaxLine(number=1, taxable=usd(10000), tax=usd(725), rate=Decimal("0.0725")),
        TaxLine(number=2, taxable=usd(19900), tax=usd(1443), rate=Decimal("0.0725")),
    ]
    quote = TaxQuote(
        document_code="c2c-006A-1", currency="USD", lines=lines, total_taxable=usd(29900), total_tax=usd(2168)
    )
    assert quote.total_tax == usd(2168)
    with pytest.raises(ValidationError, match="do not add up"):
        TaxQuote(
            document_code="c2c-006A-1",
            currency="USD",
            lines=lines,
            total_taxable=usd(29900),
            total_tax=usd(2167),
        )


def test_business_event_for_step_has_a_deterministic_id_and_cloudevents_attributes() -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def make(data: dict[str, Any]) -> BusinessEvent:
        return BusinessEvent.for_step(
            workflow_id="c2c:salesforce:006A",
            event_type=EventType.INVOICE_POSTED,
            business_key="006A",
            time=when,
            data=data,
            causation_id="c2c:salesforce:006A:invoice.issued",
            subject="in_1",
        )

    first, retried = make({"invoice": "in_1", "erp_invoice": "7"}), make({"invoice": "in_1", "erp_invoice": "8"})
    assert first.id == retried.id == "c2c:salesforce:006A:invoice.posted"

    wire = first.model_dump(mode="json")
    assert {k: wire[k] for k in ("specversion", "type", "source", "subject", "time", "datacontenttype")} == {
        "specversion": "1.0",
        "type": "invoice.posted",
        "source": "c2c/workflows/customer-to-cash",
        "subject": "in_1",
        "time": "2024-05-01T12:00:00Z",
        "datacontenttype": "application/json",
    }
    assert (wire["correlationid"], wire["causationid"], wire["businesskey"]) == (
        "c2c:salesforce:006A",
        "c2c:salesforce:006A:invoice.issued",
        "006A",
    )
    assert BusinessEvent.model_validate_json(first.model_dump_json()) == first


def test_business_event_ids_differ_per_step_and_per_workflow() -> None:
    when = datetime(2024, 5, 1, tzinfo=timezone(timedelta(hours=2)))
    data = {
        EventType.INVOICE_POSTED: {"erp_invoice": "7"},
        EventType.PAYMENT_SETTLED: {"payment": "pi_1", "amount": {"amount": 100, "currency": "USD"}},
    }
    ids = {
        BusinessEvent.for_step(workflow_id=wf, event_type=t, business_key="k", time=when, data=data[t]).id
        for wf in ("c2c:salesforce:A", "c2c:salesforce:B")
        for t in (EventType.INVOICE_POSTED, EventType.PAYMENT_SETTLED)
    }
    assert len(ids) == 4


def test_business_event_refuses_a_naive_time() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        BusinessEvent.for_step(
            workflow_id="c2c:salesforce:006A",
            event_type=EventType.CUSTOMER_CREATED,
            business_key="006A",
            time=datetime(2024, 5, 1),  # noqa: DTZ001 - the point of the test
            data={"golden_id": "g-1", "refs": {}},
        )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme, Inc.", "ACME Inc"),
        ("Acme Incorporated", "acme"),
        ("Müller GmbH", "Muller"),
        ("Smith & Sons Ltd.", "smith and sons"),
        ("  Globex   Corporation ", "GLOBEX"),
        ("Initech, LLC", "Initech"),
        pytest.param("Nakatomi K.K.", "Nakatomi KK"),
        pytest.param("Société Générale S.A.", "Societe Generale SA"),
        ("Co-op Bank", "Co-op Bank"),
    ],
)
def test_normalise_legal_name_matches_spellings_of_one_company(a: str, b: str) -> None:
    assert normalise_legal_name(a) == normalise_legal_name(b)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Acme, Inc.", "acme"),
        ("Société Générale SA", "societe generale"),
        ("Smith & Sons Ltd.", "smith and sons"),
        ("Coca Cola Co", "coca cola"),
    ],
)
def test_normalise_legal_name_keys(name: str, key: str) -> None:
    assert normalise_legal_name(name) == key


def test_normalise_legal_name_keeps_different_companies_apart() -> None:
    assert normalise_legal_name("Acme Inc") != normalise_legal_name("Acme Labs Inc")
    assert normalise_legal_name("Incognito Ltd") == "incognito"


def test_catalog_looks_up_products_and_prices() -> None:
    assert CATALOG.product("PLAT-SEAT").tax_code == "SW054000"
    yearly = CATALOG.price("PLAT-SEAT", BillingPeriod.YEAR, "JPY")
    assert yearly.unit_amount == Money(amount=72_000, currency="JPY")
    assert yearly.lookup_key == "plat-seat-year-jpy-72000"
    assert CATALOG.price("ANALYTICS", BillingPeriod.MONTH, "USD").unit_amount == usd(19900)


def test_catalog_raises_key_error_for_unknown_products_and_missing_prices() -> None:
    with pytest.raises(KeyError, match="unknown product code 'NOPE'"):
        CATALOG.product("NOPE")
    with pytest.raises(KeyError, match="no monthly CHF price for product 'PLAT-SEAT'"):
        CATALOG.price("PLAT-SEAT", BillingPeriod.MONTH, "CHF")
    with pytest.raises(KeyError):
        CATALOG.price("NOPE", BillingPeriod.MONTH, "USD")
