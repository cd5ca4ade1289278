"""The SubscriptionLifecycle's messages: its input (carried across continue-as-new), periods and status query."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from canonical import DEFAULT_VENDORS, Deal, RenewalInvoice, Vendors
from workflows.saga import Problem, Stage, TimelineEntry


class PeriodState(StrEnum):
    BILLING = "billing"  # running its steps (the lifecycle's stage says which)
    NEEDS_ATTENTION = "needs_attention"
    BILLED = "billed"  # taxed, invoiced, posted, paid and applied


class PeriodStatus(BaseModel):
    number: int = Field(description="2 for the first period after the one the deal's saga billed, then 3, ...")
    start: datetime
    end: datetime | None = None
    state: PeriodState = PeriodState.BILLING
    trigger: str = Field(description="webhook (billing's invoice event) or backstop (the timer found it)")
    ids: dict[str, str] = Field(default_factory=dict, description="invoice, tax_document, erp_invoice, payment, ...")
    totals: dict[str, int] = Field(default_factory=dict, description="subtotal/tax/total/paid, minor units")


class LifecycleInput(BaseModel):
    """What the lifecycle needs of the deal and its first period; the carried fields move on at continue-as-new."""

    crm: str = DEFAULT_VENDORS.crm
    deal: Deal
    vendors: Vendors = DEFAULT_VENDORS
    golden_id: str
    subscription_id: str = Field(description="the billing system's subscription id")
    billing_customer_id: str
    erp_customer_id: str
    payment_terms_days: int = 3
    first_period_end: datetime = Field(description="where the second period starts")
    activity_timeout: timedelta = timedelta(seconds=30)
    grace: timedelta = Field(
        default=timedelta(hours=6),
        description="after a period starts, how long to wait for the webhook before the backstop reads billing",
    )
    periods_per_run: int = Field(default=6, ge=1, description="continue-as-new after this many billed periods")
    # carried across continue-as-new
    next_period: int = 2
    next_period_start: datetime | None = None
    notices: list[RenewalInvoice] = Field(default_factory=list, description="signalled invoices not billed yet")
    periods: list[PeriodStatus] = Field(default_factory=list, description="billed periods, oldest first")


class LifecycleStatus(BaseModel):
    workflow_id: str
    subscription_id: str
    deal_id: str
    stage: Stage
    problem: Problem | None = None
    next_period: int
    next_period_start: datetime
    periods: list[PeriodStatus]
    timeline: list[TimelineEntry]
