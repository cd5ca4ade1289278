"""Invoices: the lines, the tax and the totals a customer is billed."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from canonical.money import CurrencyCode, Money, total
from canonical.party import ExternalRefs


class InvoiceLine(BaseModel):
    product_code: str
    description: str
    quantity: int = Field(gt=0)
    unit_amount: Money
    amount: Money

    @model_validator(mode="after")
    def _amount_is_quantity_times_unit(self) -> InvoiceLine:
        if self.unit_amount.times(self.quantity) != self.amount:
            raise ValueError(f"line {self.product_code}: amount != quantity x unit_amount")
        if self.amount.is_negative:
            raise ValueError(f"line {self.product_code}: negative amount")
        return self


class Invoice(BaseModel):
    """An invoice; `external_refs['stripe']` is the billing id that every downstream system keys on."""

    golden_customer_id: str
    legal_entity: str
    currency: CurrencyCode
    issue_date: date
    due_date: date
    lines: list[InvoiceLine] = Field(min_length=1)
    tax: Money
    tax_document_code: str | None = None
    number: str | None = None
    status: str = "draft"
    external_refs: ExternalRefs = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_currency(self) -> Invoice:
        for money in [self.tax, *(line.amount for line in self.lines)]:
            if money.currency != self.currency:
                raise ValueError(f"invoice is in {self.currency} but has an amount in {money.currency}")
        if self.tax.is_negative:
            raise ValueError("negative tax")
        return self

    @property
    def subtotal(self) -> Money:
        return total([line.amount for line in self.lines], self.currency)

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
