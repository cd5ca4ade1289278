"""The SubscriptionLifecycle's messages: its input (carried across continue-as-new), periods, CRM changes (the
`amend` update) and the status query."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from canonical import DEFAULT_VENDORS, Amendment, Deal, DealLine, Invoice, ProrationBilling, RenewalInvoice, Vendors
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
    lines: list[DealLine] = Field(default_factory=list, description="the subscription's lines this period bills")
    credited: int = Field(default=0, description="credit notes on its invoice (a cancellation's), minor units")
    change: str | None = Field(
        default=None, description="the CRM change whose prorations this invoice bills at once (`immediate`)"
    )

    @property
    def label(self) -> str:
        """Its part of idempotency keys and event ids: `p3`, or `p3-{change}` for prorations billed at once."""
        return f"p{self.number}" if self.change is None else f"p{self.number}-{self.change}"

    @property
    def title(self) -> str:
        return f"period {self.number}" if self.change is None else f"prorations of {self.change} (period {self.number})"


class ChangeState(StrEnum):
    PENDING = "pending"  # accepted, waiting for its effective date's period (applied in CRM order)
    APPLIED = "applied"
    REFUSED = "refused"  # broke a rule (see `rule`): nothing changed anywhere


class AmendmentRecord(BaseModel):
    """One CRM change to the contract and what became of it."""

    amendment: Amendment
    state: ChangeState
    rule: str | None = Field(default=None, description="the rule a refused change broke, e.g. quantity_below_zero")
    detail: str | None = None


class AmendmentOutcome(BaseModel):
    """The `amend` update's answer: accepted (applies in order), duplicate (already known: nothing more) or
    refused (naming the rule; nothing changes)."""

    deal_id: str
    status: str = Field(pattern="^(accepted|duplicate|refused)$")
    rule: str | None = None
    message: str


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
    dunning_days: list[int] = Field(
        default_factory=lambda: [1, 3, 7], description="a period's payment retries, days after its first failure"
    )
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
    # the contract as CRM changes left it (None in inputs from before amendments: the deal's lines and term)
    auto_renew: bool = Field(default=False, description="at term end: renew for another term (else it lapses)")
    prorations: ProrationBilling = Field(
        default=ProrationBilling.NEXT_INVOICE, description="an amendment's prorations: next invoice or at once"
    )
    first_invoice: Invoice | None = Field(default=None, description="period 1's invoice, billed by the deal's saga")
    first_invoice_erp_id: str | None = None
    lines: list[DealLine] | None = None
    term_end: datetime | None = None
    term_months: int | None = Field(default=None, description="the whole term from the deal's close, renewals in")
    contract_id: str | None = Field(default=None, description="the CRM contract c2c wrote for the subscription")
    changes: list[AmendmentRecord] = Field(default_factory=list, description="CRM changes, in the order received")
    skip_unchanged_attributes: bool = Field(
        default=False,
        description="upsert only the search attributes that change (issue 16): set by the sagas that start the "
        "lifecycle with its attributes; inputs from before it replay as they were recorded",
    )


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
    lines: list[DealLine] = Field(default_factory=list)
    term_end: datetime | None = None
    contract_id: str | None = None
    changes: list[AmendmentRecord] = Field(default_factory=list)
    ended: str | None = Field(default=None, description="why the subscription ended: lapsed or cancelled")
    golden_id: str | None = None
    billing_customer_id: str | None = None
    billing: str | None = Field(default=None, description="the billing system the subscription is in")
    usage_lines: list[DealLine] = Field(default_factory=list, description="usage-priced lines (metered in billing)")

    def open_period(self) -> PeriodStatus | None:
        """The period billing has open now as far as the lifecycle knows: the latest it billed (in advance), whose
        usage the next renewal invoice bills."""
        return next((p for p in reversed(self.periods) if p.change is None), None)
