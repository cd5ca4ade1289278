"""Canonical objects for tests that do not go through the emulators."""

from __future__ import annotations

from datetime import date

from canonical import (
    Address,
    BillingPeriod,
    CreditNote,
    Customer,
    Deal,
    DealLine,
    Invoice,
    InvoiceAdjustment,
    Money,
    Payment,
    PaymentStatus,
    TaxLine,
    TaxQuote,
)


def usd(amount: int) -> Money:
    return Money(amount=amount, currency="USD")


def make_deal(deal_id: str = "006TEST", **changes: object) -> Deal:
    deal = Deal(
        crm="salesforce",
        deal_id=deal_id,
        name="Acme — platform",
        stage="Closed Won",
        closed_won=True,
        close_date=date(2026, 11, 27),
        currency="USD",
        legal_entity="US01",
        term_months=12,
        billing_period=BillingPeriod.MONTH,
        customer=Customer(
            legal_name="Acme Corp",
            tax_id="US-94-1111111",
            address=Address(line1="1 Infinite Loop", city="Cupertino", region="CA", postal_code="95014", country="US"),
            external_refs={"salesforce": "001ACME"},
        ),
        lines=[DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=usd(49_00))],
    )
    return deal.model_copy(update=changes)


def make_quote(document_code: str, taxable: int = 490_00, tax: int = 35_53) -> TaxQuote:
    return TaxQuote(
        document_code=document_code,
        currency="USD",
        lines=[TaxLine(number=1, taxable=usd(taxable), tax=usd(tax), rate="0.0725")],
        total_taxable=usd(taxable),
        total_tax=usd(tax),
    )


def with_billing_id(invoice: Invoice, invoice_id: str = "in_1", number: str | None = None) -> Invoice:
    return invoice.model_copy(
        update={"external_refs": {"stripe": invoice_id}, "number": number, "status": "open" if number else "draft"}
    )


def make_payment(invoice_id: str, amount: int, status: PaymentStatus = PaymentStatus.SUCCEEDED) -> Payment:
    return Payment(
        invoice_id=invoice_id,
        amount=usd(amount),
        fee=usd(1_75),
        status=status,
        external_refs={"stripe": "pi_1"},
    )


def cancellation_credit(annual: Invoice, amount: Money, period_end: date, ref: str) -> CreditNote:
    """The credit note of a cancellation on 2021-10-01 of 7 of `annual`'s seats: their unused time to `period_end`, as
    billing prorates it (`amount`), in the invoice's entity and currency; `ref` is billing's credit note id."""
    return CreditNote(
        golden_customer_id=annual.golden_customer_id,
        legal_entity=annual.legal_entity,
        currency=annual.currency,
        issue_date=date(2021, 10, 1),
        invoice_id=annual.external_refs["stripe"],
        reason="cancellation",
        lines=[
            InvoiceAdjustment(
                product_code="PLAT-SEAT",
                description="Unused time on 7 x Platform seat",
                quantity=7,
                amount=amount,
                period_start=date(2021, 10, 1),
                period_end=period_end,
            )
        ],
        tax=Money(amount=0, currency=annual.currency),
        external_refs={"stripe": ref},
    )
