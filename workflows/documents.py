"""The business documents a saga sends out, built from what it knows: pure functions, no clock, no I/O.

The workflow passes in the dates (from `workflow.now()`) and the vendor ids; the same inputs always give
the same document, which is what makes a replayed saga send byte-identical activity inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from canonical import (
    Contract,
    CreditNote,
    Deal,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    TaxQuote,
    TaxRequest,
    TaxRequestLine,
)
from canonical.reference import CATALOG, GL_ACCOUNTS, LEGAL_ENTITIES
from workflows.interface import PriceRequest


def price_requests(deal: Deal) -> list[PriceRequest]:
    """One billing price per deal line: the catalog product at the deal's negotiated unit price; a usage line's
    price is metered (per unit of its product's meter)."""
    return [
        PriceRequest(
            price=CATALOG.price(line.product_code, deal.billing_period, deal.currency).model_copy(
                update={"unit_amount": line.unit_price, "meter": CATALOG.product(line.product_code).meter}
            ),
            product_name=CATALOG.product(line.product_code).name,
        )
        for line in [*deal.lines, *deal.usage_lines]
    ]


def contract(deal: Deal, golden_id: str) -> Contract:
    """The subscription's terms: the deal's lines, term and period, starting on its close date."""
    return Contract(
        deal_id=deal.deal_id,
        golden_customer_id=golden_id,
        legal_entity=deal.legal_entity,
        currency=deal.currency,
        start_date=deal.close_date,
        term_months=deal.term_months,
        billing_period=deal.billing_period,
        lines=deal.lines,
        usage_lines=deal.usage_lines,
    )


def tax_request(
    deal: Deal, golden_id: str, document_code: str, on: date, adjustments: Sequence[InvoiceAdjustment] = ()
) -> TaxRequest:
    """The tax quote for one period of the deal's lines (and the prorations billed with them, signed), shipped
    from the legal entity to the customer's address."""
    entity = LEGAL_ENTITIES[deal.legal_entity]
    prorations = [
        TaxRequestLine(
            number=len(deal.lines) + n,
            product_code=adjustment.product_code,
            tax_code=CATALOG.product(adjustment.product_code).tax_code,
            quantity=max(adjustment.quantity, 1),
            amount=adjustment.amount,
        )
        for n, adjustment in enumerate(adjustments, start=1)
    ]
    return TaxRequest(
        document_code=document_code,
        company_code=entity.code,
        customer_code=golden_id,
        customer_tax_id=deal.customer.tax_id,
        date=on,
        currency=deal.currency,
        ship_from=entity.address,
        ship_to=deal.customer.address,
        lines=[
            TaxRequestLine(
                number=n,
                product_code=line.product_code,
                tax_code=CATALOG.product(line.product_code).tax_code,
                quantity=line.quantity,
                amount=line.amount,
            )
            for n, line in enumerate(deal.lines, start=1)
        ]
        + prorations,
    )


def credit_tax_request(deal: Deal, golden_id: str, document_code: str, credit: CreditNote) -> TaxRequest:
    """The tax of a credit note: its lines as negative amounts on a document of their own (the credited invoice's
    document stays as billed, so the two still agree), from the same entity to the same customer."""
    negative = [line.model_copy(update={"amount": -line.amount}) for line in credit.lines]
    return tax_request(deal.model_copy(update={"lines": []}), golden_id, document_code, credit.issue_date, negative)


def invoice_draft(
    deal: Deal,
    quote: TaxQuote,
    golden_id: str,
    workflow_id: str,
    issued: date,
    terms_days: int,
    adjustments: Sequence[InvoiceAdjustment] = (),
) -> Invoice:
    """A period's invoice: the deal's lines, the prorations billing added, and the quoted tax, due `terms_days`
    after `issued`."""
    return Invoice(
        golden_customer_id=golden_id,
        legal_entity=deal.legal_entity,
        currency=deal.currency,
        issue_date=issued,
        due_date=issued + timedelta(days=terms_days),
        lines=[
            InvoiceLine(
                product_code=line.product_code,
                description=f"{CATALOG.product(line.product_code).name} ({deal.billing_period.value}ly)",
                quantity=line.quantity,
                unit_amount=line.unit_price,
                amount=line.amount,
            )
            for line in deal.lines
        ],
        adjustments=list(adjustments),
        tax=quote.total_tax,
        tax_document_code=quote.document_code,
        external_refs={"c2c": workflow_id},  # lets billing webhooks find the saga
    )


def fee_entry(payment: Payment, legal_entity: str, payment_id: str, on: date) -> JournalEntry:
    """Book the processor's fee on a payment (`payment_id` = the billing system's id) as a merchant fee."""
    fee = payment.fee
    if fee is None:
        raise ValueError("the payment carries no fee")
    return JournalEntry(
        external_id=f"fee-{payment_id}",
        legal_entity=legal_entity,
        date=on,
        memo=f"Payment processing fee {payment_id}",
        lines=[
            JournalLine(account=GL_ACCOUNTS["merchant_fees"], debit=fee, memo="processor fee"),
            JournalLine(account=GL_ACCOUNTS["undeposited_funds"], credit=fee, memo="withheld by processor"),
        ],
    )


def bad_debt_entry(invoice: Invoice, invoice_id: str, on: date, *, reverse: bool) -> JournalEntry:
    """Provision an unpaid invoice as bad debt (allowance method), or reverse that provision once it is paid.

    `invoice_id` is the billing system's id: it makes the entry's external id, so each is posted once."""
    expense, allowance = GL_ACCOUNTS["bad_debt_expense"], GL_ACCOUNTS["allowance_doubtful_accounts"]
    debit, credit = (allowance, expense) if reverse else (expense, allowance)
    return JournalEntry(
        external_id=f"baddebt-{'rev-' if reverse else ''}{invoice_id}",
        legal_entity=invoice.legal_entity,
        date=on,
        memo=f"{'Reverse b' if reverse else 'B'}ad debt provision for invoice {invoice.number or invoice_id}",
        lines=[
            JournalLine(account=debit, debit=invoice.total, memo="bad debt provision"),
            JournalLine(account=credit, credit=invoice.total, memo="bad debt provision"),
        ],
    )
