"""The saga's messages: input, result, status query, the finance resolution update and the timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

from canonical import DEFAULT_VENDORS, Address, ProrationBilling, Vendors


class Stage(StrEnum):
    ONBOARD = "onboard"
    ACTIVATE = "activate"
    TAX = "tax"
    INVOICE = "invoice"
    POST = "post"
    SETTLE = "settle"
    APPLY = "apply"
    DUNNING = "dunning"  # inside settle: reminders and payment retries on the dunning schedule
    COMPLETED = "completed"
    WAITING = "waiting"  # subscription lifecycle: between billing periods, waiting for the next invoice
    AMEND = "amend"  # subscription lifecycle: applying a CRM change (amendment, renewal, cancellation)
    NEEDS_ATTENTION = "needs_attention"
    COMPENSATING = "compensating"
    CANCELLED = "cancelled"


class SagaInput(BaseModel):
    crm: str = Field(default=DEFAULT_VENDORS.crm, description="the CRM the deal comes from (= vendors.crm)")
    deal_id: str
    vendors: Vendors = Field(
        default=DEFAULT_VENDORS, description="who plays each role for the deal's legal entity (settings.vendors_for)"
    )
    activity_timeout: timedelta = Field(default=timedelta(seconds=30), description="start-to-close per vendor call")
    payment_terms_days: int = Field(
        default=3, ge=0, le=120, description="invoice due date = issue date + terms; the settlement deadline"
    )
    dunning_days: list[int] = Field(
        default_factory=lambda: [1, 3, 7],
        description="payment retries, in days after the first failure (or the missed due date); strictly increasing",
    )

    auto_renew: bool = Field(
        default=False, description="the subscription renews for another term at its end (else it lapses)"
    )
    prorations: ProrationBilling = Field(
        default=ProrationBilling.NEXT_INVOICE, description="when an amendment's prorations are invoiced"
    )

    @field_validator("dunning_days")
    @classmethod
    def _increasing(cls, days: list[int]) -> list[int]:
        if any(day <= 0 for day in days) or days != sorted(set(days)):
            raise ValueError("dunning_days must be positive and strictly increasing")
        return days

    @model_validator(mode="after")
    def _one_crm(self) -> SagaInput:
        """`crm` alone (every input before `vendors` existed) or `vendors` alone set the other; both must agree."""
        given = self.model_fields_set
        if "vendors" not in given:
            self.vendors = self.vendors.model_copy(update={"crm": self.crm})
        elif "crm" not in given:
            self.crm = self.vendors.crm
        elif self.crm != self.vendors.crm:
            raise ValueError(f"crm {self.crm!r} is not vendors.crm {self.vendors.crm!r}")
        return self


class Problem(BaseModel):
    """Why a saga is parked: a readable reason finance can act on (never PII in `code`)."""

    stage: Stage
    system: str
    code: str
    message: str
    error_type: str = Field(description="BusinessRuleError, PermanentError or TransientError (retries exhausted)")


class ResolutionAction(StrEnum):
    RETRY = "retry"  # run the parked stage again as it is (after fixing something outside c2c)
    RETRY_WITH_ADDRESS = "retry_with_address"  # invalid_address: retry with `corrected_address`
    RETRY_WITH_CUSTOMER = "retry_with_customer"  # customer_ambiguous: retry with the chosen `golden_customer_id`
    CANCEL = "cancel"  # compensate what was done, in reverse, and end the saga as cancelled


class Resolution(BaseModel):
    """Finance's decision on a parked saga (the `resolve` update). Who and why are kept in the history."""

    action: ResolutionAction
    corrected_address: Address | None = None
    golden_customer_id: str | None = Field(default=None, min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=1000, description="why; required to cancel")
    actor: str = Field(min_length=1, max_length=100, pattern=r"\S", description="who decided (user or service)")


class Resume(BaseModel):
    """The `resume` signal's optional argument: retry the parked stage as it is."""

    actor: str = Field(default="unknown (resume signal)", min_length=1, max_length=100)
    note: str = Field(default="resume signal", max_length=1000)


class TimelineEntry(BaseModel):
    at: datetime
    stage: Stage
    event: str
    detail: str | None = None


class SagaStatus(BaseModel):
    workflow_id: str
    deal_id: str
    stage: Stage
    problem: Problem | None = None
    legal_entity: str | None = None
    currency: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)
    totals: dict[str, int] = Field(default_factory=dict, description="subtotal/tax/total/paid/fee, minor units")
    timeline: list[TimelineEntry] = Field(default_factory=list)


class SagaResult(BaseModel):
    workflow_id: str
    deal_id: str
    outcome: Stage = Field(description="completed or cancelled")
    currency: str | None = None
    legal_entity: str | None = None
    external_ids: dict[str, str]
    totals: dict[str, int]
