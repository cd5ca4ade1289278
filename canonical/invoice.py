"""Invoices: the lines, the tax and the totals a customer is billed."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from canonical.money import CurrencyCode, Money, total
from canonical.party import ExternalRefs


class InvoiceLine(BaseModel):
    product_code: str
    description: str
    quantity: int = Field(gt=0)
    unit_amount: Money
    amount: Money
    # The service period the line bills (a subscription line's period; end exclusive, billing's period end): its
    # revenue is deferred and recognized over it. None for a line billing gave no period (recognized when invoiced).
    period_start: date | None = None
    period_end: date | None = None

    @model_validator(mode="after")
    def _amount_is_quantity_times_unit(self) -> InvoiceLine:
        if self.unit_amount.times(self.quantity) != self.amount:
            raise ValueError(f"line {self.product_code}: amount != quantity x unit_amount")
        if self.amount.is_negative:
            raise ValueError(f"line {self.product_code}: negative amount")
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError(f"line {self.product_code}: a service period needs a start and an end")
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError(f"line {self.product_code}: service period ends before it starts")
        return self


class InvoiceAdjustment(BaseModel):
    """A line billing computed instead of pricing it: the proration of an amendment made mid-period, or the
    metered usage of the period just ended (`usage`: quantity = usage, period = the period consumed).

    Signed: a credit for the unused time of what was removed is negative, a charge for the remaining time of
    what was added positive. It is billed, taxed and posted like a line, not re-priced."""

    product_code: str
    description: str
    quantity: int = Field(ge=0, description="the quantity the proration is for (of the removed or added items)")
    amount: Money
    period_start: date
    period_end: date
    usage: bool = Field(default=False, description="metered usage billed in arrears (not a proration)")


class ProrationBilling(StrEnum):
    """When an amendment's prorations are billed: on the next period's invoice (billing's default), or at once on
    an invoice of their own when they net to a charge (a net credit still goes on the next invoice)."""

    NEXT_INVOICE = "next_invoice"
    IMMEDIATE = "immediate"


class Invoice(BaseModel):
    """An invoice; `external_refs['stripe']` is the billing id that every downstream system keys on."""

    golden_customer_id: str
    legal_entity: str
    currency: CurrencyCode
    issue_date: date
    due_date: date
    lines: list[InvoiceLine] = Field(description="none only on an invoice of prorations alone")
    adjustments: list[InvoiceAdjustment] = Field(
        default_factory=list, description="prorations of amendments (signed), billed after the lines"
    )
    tax: Money
    tax_document_code: str | None = None
    number: str | None = None
    status: str = "draft"
    external_refs: ExternalRefs = Field(default_factory=dict)
    finalized_at: datetime | None = Field(default=None, description="when the billing system finalized it")

    @model_validator(mode="after")
    def _one_currency(self) -> Invoice:
        if not self.lines and not self.adjustments:
            raise ValueError("an invoice bills at least one line or proration")
        amounts = [line.amount for line in self.lines] + [a.amount for a in self.adjustments]
        for money in [self.tax, *amounts]:
            if money.currency != self.currency:
                raise ValueError(f"invoice is in {self.currency} but has an amount in {money.currency}")
        if self.tax.is_negative:
            raise ValueError("negative tax")
        return self

    @property
    def subtotal(self) -> Money:
        return total([line.amount for line in self.lines] + [a.amount for a in self.adjustments], self.currency)

    @property
    def total(self) -> Money:
        return self.subtotal + self.tax


class RenewalInvoice(BaseModel):
    """An invoice the billing system made at a period end for a later period of a subscription (not the first).

    `period_start`/`period_end` are the service period it bills (its subscription lines' period)."""

    invoice_id: str
    subscription_id: str
    status: str = Field(description="the billing system's status: draft, open, paid, void, uncollectible")
    period_start: datetime
    period_end: datetime
    deal_id: str | None = Field(default=None, description="the deal the subscription was created for, if ours")
    adjustments: list[InvoiceAdjustment] = Field(
        default_factory=list, description="the proration lines it carries (amendments made in the period before)"
    )


class CreditNote(BaseModel):
    """Money given back on one invoice (a cancellation's or a downgrade's unused time): posted to the ERP as a
    credit memo created from, and applied to, the ERP invoice of `invoice_id`.

    `lines` are positive amounts credited; `external_refs[billing]` is billing's credit note id (the ERP memo's
    external id)."""

    golden_customer_id: str
    legal_entity: str
    currency: CurrencyCode
    issue_date: date
    invoice_id: str = Field(description="billing's id of the invoice it credits")
    reason: str
    lines: list[InvoiceAdjustment] = Field(min_length=1)
    tax: Money
    external_refs: ExternalRefs = Field(default_factory=dict)
    created_at: datetime | None = Field(default=None, description="when the billing system issued it")

    @model_validator(mode="after")
    def _positive_in_one_currency(self) -> CreditNote:
        for money in [self.tax, *(line.amount for line in self.lines)]:
            if money.currency != self.currency:
                raise ValueError(f"credit note is in {self.currency} but has an amount in {money.currency}")
            if money.is_negative:
                raise ValueError("a credit note's lines and tax are positive amounts credited")
        return self

    @property
    def total(self) -> Money:
        return total([line.amount for line in self.lines], self.currency) + self.tax
