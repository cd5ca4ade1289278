"""A closed deal from the CRM and the contract and subscription it becomes."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from canonical.catalog import BillingPeriod
from canonical.money import CurrencyCode, Money, total
from canonical.party import Customer, ExternalRefs


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` moved by whole months, month ends clamped (as billing anchors and contract terms are)."""
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def term_end(start: date, term_months: int) -> datetime:
    """Midnight UTC at the end of a term of `term_months` starting on `start`: billing's `cancel_at`, and the day
    after the CRM contract's EndDate."""
    return add_months(datetime.combine(start, time(), UTC), term_months)


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
    usage_lines: list[DealLine] = Field(
        default_factory=list,
        description="usage-priced lines (unit_price per unit of usage): billed in arrears from the meter, not in lines",
    )

    @model_validator(mode="after")
    def _lines_in_deal_currency(self) -> Deal:
        for line in [*self.lines, *self.usage_lines]:
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
    usage_lines: list[DealLine] = Field(default_factory=list, description="metered items: usage billed in arrears")


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
    created_at: datetime | None = Field(default=None, description="when the billing system created it")


class AmendmentKind(StrEnum):
    AMENDMENT = "amendment"  # lines change from the effective date, prorated (upsell, downsell, seats)
    RENEWAL = "renewal"  # a new term from the end of the current one, with the lines it lists
    CANCELLATION = "cancellation"  # ends the subscription: at a period end, or mid-period with a prorated credit


class AmendmentLine(BaseModel):
    """A change to one product's line, as the CRM's amendment line items carry it (Salesforce: a nonzero
    Quantity, negative for a reduction)."""

    product_code: str
    quantity_change: int = Field(description="seats added (positive) or removed (negative); never 0")
    unit_price: Money = Field(description="price per billing period per unit of the whole line from the effective date")

    @model_validator(mode="after")
    def _changes_something(self) -> AmendmentLine:
        if self.quantity_change == 0:
            raise ValueError(f"line {self.product_code} changes no quantity")
        return self


class Amendment(BaseModel):
    """A won CRM opportunity that changes a contract c2c already bills (Salesforce: an opportunity with the
    standard `ContractId` and `Type`). Its lines change the quantities of their products (a new product is
    added); others stay. A cancellation needs no lines; it ends every line.

    Amendments of one contract apply in CRM order (`modified_at`, the CRM's last-modified stamp); one already
    applied changes nothing."""

    crm: str
    deal_id: str = Field(description="the amendment's own opportunity id")
    contract_id: str = Field(description="the CRM contract it amends")
    original_deal_id: str = Field(description="the deal the contract (and its subscription) was created from")
    kind: AmendmentKind
    effective_date: date
    currency: CurrencyCode
    lines: list[AmendmentLine] = Field(default_factory=list)
    term_months: int | None = Field(default=None, gt=0, le=120, description="a renewal's new term")
    modified_at: datetime

    @model_validator(mode="after")
    def _lines_in_currency(self) -> Amendment:
        for line in self.lines:
            if line.unit_price.currency != self.currency:
                raise ValueError(
                    f"line {line.product_code} is in {line.unit_price.currency}, amendment is in {self.currency}"
                )
            if line.unit_price.is_negative:
                raise ValueError(f"line {line.product_code} has a negative price")
        if len({line.product_code for line in self.lines}) != len(self.lines):
            raise ValueError("a product appears on more than one line")
        if self.kind is AmendmentKind.AMENDMENT and not self.lines:
            raise ValueError("an amendment changes at least one line")
        if self.kind is AmendmentKind.RENEWAL and self.term_months is None:
            raise ValueError("a renewal needs its new term (term_months)")
        return self


class SubscriptionEnd(BaseModel):
    """Billing ended a subscription: its term's end passed, a cancellation took effect, or someone cancelled it in
    billing's own dashboard. Read back from billing when its webhook says so."""

    subscription_id: str
    deal_id: str | None = Field(default=None, description="the deal the subscription was created for, if ours")
    ended_at: datetime
