"""Usage events received from product systems: the dedupe by event id (like webhook events) and what became of
each (reported to billing's meter, at which time, late or not). The reconciler compares it with what billing
billed."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from canonical.usage import AcceptedUsage, ReportedUsage, UsageEvent
from store.models import UtcDateTime, utcnow


class UsageRecord(SQLModel, table=True):
    """One usage event, stored once by its event id; `billed_from` is the time billing's meter got it (its own
    timestamp, or the next open period's start when it came late)."""

    __tablename__ = "usage_event"

    event_id: str = Field(primary_key=True, max_length=100)
    deal_id: str = Field(index=True, max_length=64)
    meter: str = Field(max_length=100)
    quantity: int
    occurred_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)
    fingerprint: str = Field(max_length=64, description="of what was reported: a reused event id differs here")
    reported_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    billed_from: datetime | None = Field(default=None, sa_type=UtcDateTime)
    late: bool = False


USAGE_TABLE = UsageRecord.__table__  # type: ignore[attr-defined]


class Stored(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"  # the same event again: nothing more
    CONFLICT = "conflict"  # the event id was used for other usage: refused


def fingerprint(event: UsageEvent) -> str:
    text = "|".join([event.subscription, event.meter, str(event.quantity), event.timestamp.isoformat()])
    return hashlib.sha256(text.encode()).hexdigest()


class UsageRepository:
    """Usage events by event id; never commits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, event_id: str) -> UsageRecord | None:
        return self._session.get(UsageRecord, event_id)

    def classify(self, event: UsageEvent) -> Stored | None:
        """DUPLICATE / CONFLICT when the event id is known, None when it is new."""
        known = self.get(event.event_id)
        if known is None:
            return None
        return Stored.DUPLICATE if known.fingerprint == fingerprint(event) else Stored.CONFLICT

    def add(self, event: UsageEvent) -> Stored:
        """Store the event once: NEW the first time, else what `classify` says (also for a concurrent insert)."""
        record = UsageRecord(
            event_id=event.event_id,
            deal_id=event.subscription,
            meter=event.meter,
            quantity=event.quantity,
            occurred_at=event.timestamp,
            fingerprint=fingerprint(event),
        )
        try:
            with self._session.begin_nested():
                self._session.add(record)
        except IntegrityError:
            return self.classify(event) or Stored.CONFLICT
        return Stored.NEW

    def mark_reported(self, reported: ReportedUsage) -> None:
        """Record what billing's meter got (once: a retry after a lost answer changes nothing)."""
        record = self.get(reported.event_id)
        if record is None:
            raise LookupError(f"no usage event {reported.event_id}")
        if record.reported_at is None:
            record.reported_at = utcnow()
            record.billed_from = reported.timestamp
            record.late = reported.late
            self._session.add(record)

    def of_deals(self, deal_ids: list[str]) -> list[UsageRecord]:
        found = self._session.exec(select(UsageRecord).where(UsageRecord.deal_id.in_(deal_ids)))  # type: ignore[attr-defined]
        return sorted(found, key=lambda r: (r.deal_id, r.occurred_at, r.event_id))


def accepted_usage(record: UsageRecord) -> AcceptedUsage:
    return AcceptedUsage(
        event_id=record.event_id,
        deal_id=record.deal_id,
        quantity=record.quantity,
        occurred_at=record.occurred_at,
        received_at=record.received_at,
        billed_from=record.billed_from,
    )
