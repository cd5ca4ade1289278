"""Business events: CloudEvents 1.0 attributes plus correlation, causation and business key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from canonical import event_contracts
from canonical.event_types import EventType


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
        data: BaseModel | dict[str, Any],
        causation_id: str | None = None,
        subject: str | None = None,
        occurrence: str | None = None,
    ) -> BusinessEvent:
        """The event of one step; `occurrence` tells apart events of a type a workflow emits more than once
        (the third dunning reminder), since the outbox keeps one event per id. `data` is checked against the
        type's current contract (canonical/event_contracts.py) and `dataschema` names it."""
        version, payload = event_contracts.validated(event_type, data)
        return cls(
            id=f"{workflow_id}:{event_type.value}" + (f":{occurrence}" if occurrence else ""),
            source="c2c/workflows/customer-to-cash",
            type=event_type,
            time=time,
            subject=subject,
            correlationid=workflow_id,
            causationid=causation_id,
            businesskey=business_key,
            dataschema=event_contracts.dataschema(event_type, version),
            data=payload,
        )
