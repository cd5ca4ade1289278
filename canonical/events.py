"""Business events: CloudEvents 1.0 attributes plus correlation, causation and business key."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field


class EventType(StrEnum):
    CUSTOMER_CREATED = "customer.created"
    SUBSCRIPTION_ACTIVATED = "subscription.activated"
    TAX_QUOTED = "tax.quoted"
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_POSTED = "invoice.posted"
    INVOICE_SENT = "invoice.sent"
    PAYMENT_REMINDER = "payment.reminder"
    INVOICE_UNCOLLECTIBLE = "invoice.uncollectible"
    PAYMENT_SETTLED = "payment.settled"
    PAYMENT_APPLIED = "payment.applied"
    SAGA_PARKED = "saga.parked"
    SAGA_CANCELLED = "saga.cancelled"
    CREDIT_MEMO_APPLIED = "credit_memo.applied"
    SUBSCRIPTION_AMENDED = "subscription.amended"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_ENDED = "subscription.ended"


class BusinessEvent(BaseModel):
    """One fact worth telling other systems; `id` is deterministic so re-emitting is a no-op."""

    id: str
    source: str = Field(description="URI-reference of the producer, e.g. c2c/workflows/customer-to-cash")
    type: EventType
    specversion: str = "1.0"
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    correlationid: str = Field(description="the saga's workflow id")
    causationid: str | None = Field(default=None, description="id of the event or command that caused it")
    businesskey: str = Field(description="e.g. the deal id")
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def for_step(
        cls,
        *,
        workflow_id: str,
        event_type: EventType,
        business_key: str,
        time: datetime,
        data: dict[str, Any],
        causation_id: str | None = None,
        subject: str | None = None,
        occurrence: str | None = None,
    ) -> BusinessEvent:
        """The event of one step; `occurrence` tells apart events of a type a workflow emits more than once
        (the third dunning reminder), since the outbox keeps one event per id."""
        return cls(
            id=f"{workflow_id}:{event_type.value}" + (f":{occurrence}" if occurrence else ""),
            source="c2c/workflows/customer-to-cash",
            type=event_type,
            time=time,
            subject=subject,
            correlationid=workflow_id,
            causationid=causation_id,
            businesskey=business_key,
            data=data,
        )
