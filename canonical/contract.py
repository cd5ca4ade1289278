"""A closed deal from the CRM and the contract and subscription it becomes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from canonical.catalog import BillingPeriod
from canonical.money import CurrencyCode, Money, total
from canonical.party import Customer, ExternalRefs


class DealLine(BaseModel):
    product_code: str
    description: str | None = None
    quantity: int = Field(gt=0)
    unit_price: Money = Field(description="price per billing period per unit")

    @property
    def amount(self) -> Money:
        return self.unit_price.times(self.quantity)


class Deal(BaseModel):
    """A closed-won opportunity with its account and lines, mapped out of the CRM."""

    crm: str = Field(description="CRM system name, e.g. salesforce")
    deal_id: str
    name: str
    stage: str
    closed_won: bool
    close_date: date
    currency: CurrencyCode
    legal_entity: str
    term_months: int = Field(gt=0, le=120)
    billing_period: BillingPeriod
    customer: Customer
    lines: list[DealLine] = Field(min_length=1)

    @model_validator(mode="after")
    def _lines_in_deal_currency(self) -> Deal:
        for line in self.lines:
            if line.unit_price.currency != self.currency:
                raise ValueError(
                    f"line {line.product_code} is in {line.unit_price.currency}, deal is in {self.currency}"
                )
            if line.unit_price.is_negative:
                raise ValueError(f"line {line.product_code} has a negative price")
        if self.term_months % self.billing_period.months:
            raise ValueError(f"term of {self.term_months} months is not a whole number of {self.billing_period.value}s")
        return self

    @property
    def period_amount(self) -> Money:
        """What one billing period of the deal costs before tax."""
        return total([line.amount for line in self.lines], self.currency)


class Contract(BaseModel):
    """The commercial terms the subscription is created from."""

    deal_id: str
    golden_customer_id: str
    legal_entity: str
    currency: CurrencyCode
    start_date: date
    term_months: int = Field(gt=0)
    billing_period: BillingPeriod
    lines: list[DealLine] = Field(min_length=1)


class SubscriptionItem(BaseModel):
    product_code: str
    quantity: int = Field(gt=0)
    price_id: str = Field(description="billing system's price id")


class Subscription(BaseModel):
    id: str = Field(description="billing system's subscription id")
    status: str
    contract: Contract
    items: list[SubscriptionItem]
    external_refs: ExternalRefs = Field(default_factory=dict)
    current_period_end: datetime | None = Field(
        default=None, description="end of the period billed now (the next period starts here); None if unknown"
    )
