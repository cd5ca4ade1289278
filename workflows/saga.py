"""The saga's messages: input, result, status query, the finance resolution update and the timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from canonical import Address


class Stage(StrEnum):
    ONBOARD = "onboard"
    ACTIVATE = "activate"
    TAX = "tax"
    INVOICE = "invoice"
    POST = "post"
    SETTLE = "settle"
    APPLY = "apply"
    COMPLETED = "completed"
    NEEDS_ATTENTION = "needs_attention"
    COMPENSATING = "compensating"
    CANCELLED = "cancelled"


class SagaInput(BaseModel):
    crm: str = "salesforce"
    deal_id: str
    activity_timeout: timedelta = Field(default=timedelta(seconds=30), description="start-to-close per vendor call")


class Problem(BaseModel):
    """Why a saga is parked: a readable reason finance can act on (never PII in `code`)."""

    stage: Stage
    system: str
    code: str
    message: str
    error_type: str = Field(description="BusinessRuleError, PermanentError or TransientError (retries exhausted)")


class ResolutionAction(StrEnum):
    RETRY = "retry"
    RETRY_WITH_ADDRESS = "retry_with_address"
    CANCEL = "cancel"


class Resolution(BaseModel):
    """Finance's decision on a parked saga (the `resolve` update)."""

    action: ResolutionAction
    corrected_address: Address | None = None
    note: str | None = None
    actor: str = "finance"


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
