"""Refunds of paid invoices: what can still be refunded, and the credit a refund books (pure, no I/O).

A refund's `amount` is what the customer gets back (tax included), in the invoice's currency: the money billing
returns, the ERP customer refund's amount. It credits the invoice's lines and tax in the invoice's proportions:
the lines' share (`net`, allocated over the positive lines by largest remainder, each over the line's own service
period so deferred revenue falls with it) and the rest as tax. A full refund credits exactly the invoice.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from canonical.invoice import CreditNote, Invoice, InvoiceAdjustment
from canonical.money import Money


class RefundOrigin:
    """Who gave the money back: finance through c2c, someone in billing (its dashboard, its API) directly, or the
    customer's bank (a chargeback: billing withdrew the disputed amount)."""

    FINANCE = "finance"
    BILLING = "billing"
    DISPUTE = "dispute"


class RefundableInvoice(BaseModel):
    """A billing invoice as a refund needs it: the canonical invoice and what was paid and given back so far."""

    invoice_id: str = Field(description="billing's id of the invoice")
    invoice: Invoice
    status: str = Field(description="billing's status: only `paid` can be refunded")
    paid: Money = Field(description="what the customer paid for it")
    refunded: Money = Field(description="what was already given back on it (credit notes after payment, refunds)")
    deal_id: str | None = Field(default=None, description="the CRM deal its subscription was sold by, if c2c's")

    @property
    def refundable(self) -> Money:
        return self.paid - self.refunded


class BillingRefund(BaseModel):
    """A refund as billing reports it: `credit_note_id` set when a credit note made it (c2c's way), `c2c_key` the
    idempotency key c2c wrote on that credit note (None: someone refunded in billing directly)."""

    refund_id: str
    invoice_id: str | None
    amount: Money
    status: str
    created_at: datetime
    credit_note_id: str | None = None
    c2c_key: str | None = None


class BillingDispute(BaseModel):
    """A dispute of a charge as billing reports it. `funds_withdrawn`: billing took the disputed amount back from the
    merchant (a chargeback); an inquiry withdraws nothing and books nothing."""

    dispute_id: str
    charge_id: str
    invoice_id: str | None
    amount: Money
    reason: str
    status: str
    funds_withdrawn: bool
    created_at: datetime


class RefundRefusal(ValueError):
    """A refund that must not start; `rule` names the rule it breaks."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def check_refund(refundable: RefundableInvoice, amount: Money) -> None:
    """Refuse a refund that breaks a rule (RefundRefusal naming it); nothing is written before this passes."""
    invoice_id = refundable.invoice_id
    if refundable.status != "paid":
        raise RefundRefusal("invoice_not_paid", f"{invoice_id} is {refundable.status}; only a paid invoice is refunded")
    if amount.currency != refundable.invoice.currency:
        raise RefundRefusal(
            "currency_mismatch", f"the refund is in {amount.currency}, {invoice_id} in {refundable.invoice.currency}"
        )
    if amount.amount <= 0:
        raise RefundRefusal("amount_not_positive", f"a refund gives back more than nothing (got {amount})")
    if refundable.refundable < amount:
        raise RefundRefusal(
            "amount_exceeds_refundable",
            f"{amount} is more than the {refundable.refundable} that can still be refunded on {invoice_id} "
            f"(paid {refundable.paid}, already given back {refundable.refunded})",
        )


def refund_credit(invoice: Invoice, invoice_id: str, amount: Money, reason: str, on: date) -> CreditNote:
    """The credit note of a refund of `amount` (tax included) on `invoice` (billing's `invoice_id`), issued `on`.

    Lines and tax keep the invoice's proportions (`net` = amount x subtotal / total, half-even); the net is spread
    over the invoice's positive lines by amount with the remainder to the largest shares, each line over its own
    service period (the invoice's date when it has none)."""
    currency = invoice.currency
    billed = [
        (line.product_code, line.description, line.quantity, line.amount, line.period_start, line.period_end)
        for line in invoice.lines
    ]
    billed += [
        (a.product_code, a.description, a.quantity, a.amount, a.period_start, a.period_end)
        for a in invoice.adjustments
        if a.amount.amount > 0
    ]
    positive = sum(item[3].amount for item in billed)
    total = invoice.total.amount
    if total <= 0 or positive <= 0:
        raise ValueError("an invoice with nothing billed has nothing to refund")
    net = min(_half_even(amount.amount * invoice.subtotal.amount, total), positive, amount.amount)
    shares = [net * item[3].amount // positive for item in billed]
    remainders = sorted(range(len(billed)), key=lambda i: (-(net * billed[i][3].amount % positive), i))
    for i in remainders[: net - sum(shares)]:
        shares[i] += 1
    lines = [
        InvoiceAdjustment(
            product_code=code,
            description=f"Refund: {description}",
            quantity=max(quantity, 0),
            amount=Money(amount=share, currency=currency),
            period_start=start or invoice.issue_date,
            period_end=end or invoice.issue_date,
        )
        for (code, description, quantity, _, start, end), share in zip(billed, shares, strict=True)
        if share > 0
    ]
    if not lines:  # a refund of tax alone cannot happen: net is 0 only when the amount is too small to split
        first = billed[0]
        lines = [
            InvoiceAdjustment(
                product_code=first[0],
                description=f"Refund: {first[1]}",
                quantity=max(first[2], 0),
                amount=Money(amount=amount.amount, currency=currency),
                period_start=first[4] or invoice.issue_date,
                period_end=first[5] or invoice.issue_date,
            )
        ]
        net = amount.amount
    return CreditNote(
        golden_customer_id=invoice.golden_customer_id,
        legal_entity=invoice.legal_entity,
        currency=currency,
        issue_date=on,
        invoice_id=invoice_id,
        reason=reason,
        lines=lines,
        tax=Money(amount=amount.amount - net, currency=currency),
    )


def _half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


class ErpInvoiceRef(BaseModel):
    """The ERP's invoice of a billing invoice: its internal id and its customer's (what a credit memo needs)."""

    erp_id: str
    customer_erp_id: str
    currency: str


class CustomerRefund(BaseModel):
    """Money paid back to a customer in the ERP, out of the credit memo `credit_memo_erp_id` (external id = billing's
    refund id, so each billing refund is booked once)."""

    refund_id: str = Field(description="billing's refund id: the ERP record's external id")
    customer_erp_id: str
    credit_memo_erp_id: str
    amount: Money
    on: date
    memo: str


class ErpRefund(BaseModel):
    """A customer refund as the ERP holds it (the reconciler's read)."""

    external_id: str | None
    erp_id: str
    amount: Money
    credit_memo_erp_ids: list[str] = Field(default_factory=list)
