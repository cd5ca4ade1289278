"""Usage: what a product system reports a customer consumed of a usage-priced product, and what became of it.

A usage event is counted once by its `event_id` (the product system's id): the trigger API stores it, a workflow
reports it to billing's meter with that id as the meter event's identifier, and billing sums the period's usage
on the renewal invoice (docs/decisions.md, "issue 14: usage")."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from canonical.contract import Deal
from canonical.reference import CATALOG

EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"  # a meter event identifier is at most 100 characters


class UsageEvent(BaseModel):
    """One report of usage, as the trigger API accepts it."""

    event_id: str = Field(pattern=EVENT_ID_PATTERN, description="the product system's id: counted once by it")
    subscription: str = Field(min_length=1, description="the deal whose subscription bills it (its deal id)")
    meter: str = Field(min_length=1, description="the meter's event name, e.g. api_calls")
    quantity: int = Field(description="units consumed (0 allowed, negative refused)")
    timestamp: AwareDatetime = Field(description="when it was consumed")
    customer: str | None = Field(default=None, description="the golden customer id, checked when given")


class UsageReport(BaseModel):
    """A stored usage event on its way to billing's meter."""

    event: UsageEvent
    customer_id: str = Field(description="billing's customer id")
    subscription_id: str = Field(description="billing's subscription id")
    billing: str | None = Field(
        default=None, description="the billing system of the subscription's legal entity (None: the default)"
    )


class ReportedUsage(BaseModel):
    """What billing's meter got: the event at `timestamp` (its own, or the next open period's start when its period
    had closed meanwhile: `late`)."""

    event_id: str
    timestamp: datetime
    late: bool = False
    duplicate: bool = Field(default=False, description="billing already had the identifier (an earlier attempt)")


class AcceptedUsage(BaseModel):
    """A usage event c2c stored, as the reconciler compares it with billing: reported (the time billing's meter got
    it: its own, or the open period's start when late) or not yet."""

    event_id: str
    deal_id: str
    quantity: int
    occurred_at: datetime
    received_at: datetime
    billed_from: datetime | None = None


def meter_of(product_code: str) -> str | None:
    """The meter (event name) of a usage-priced product, None for a product priced per period."""
    try:
        return CATALOG.product(product_code).meter
    except KeyError:
        return None


def split_usage(deal: Deal) -> Deal:
    """The deal with its usage-priced lines moved from `lines` to `usage_lines` (they bill usage, not quantity x
    price); unchanged when it has none. A deal of usage lines alone is refused earlier (`deal_problems`)."""
    usage = [line for line in deal.lines if meter_of(line.product_code)]
    if not usage or len(usage) == len(deal.lines):
        return deal
    fixed = [line for line in deal.lines if not meter_of(line.product_code)]
    return deal.model_copy(update={"lines": fixed, "usage_lines": [*deal.usage_lines, *usage]})
