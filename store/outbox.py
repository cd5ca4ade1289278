"""Transactional outbox: business events written with the state change, published afterwards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from canonical import BusinessEvent
from store.models import OutboxEvent, utcnow


@dataclass(frozen=True)
class OutboxLag:
    """What waits to be published: how many events, and since when the oldest."""

    pending: int
    oldest: datetime | None

    def seconds(self, now: datetime | None = None) -> float:
        return 0.0 if self.oldest is None else max(((now or utcnow()) - self.oldest).total_seconds(), 0.0)


class OutboxRepository:
    """Queues and drains business events; idempotent by event id; never commits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, event: BusinessEvent) -> bool:
        """Queue an event; True if new, False if an event with this id is already queued (first one wins)."""
        try:
            with self._session.begin_nested():
                self._session.exec(
                    insert(OutboxEvent).values(
                        id=event.id,
                        type=event.type.value,
                        correlation_id=event.correlationid,
                        business_key=event.businesskey,
                        payload=event.model_dump_json(),
                        created_at=self._now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def _now(self) -> object:
        """The row's place in publishing order. On PostgreSQL the database's clock (workers on several hosts
        write one outbox, and one host's clock running ahead must not put a deal's later event before its earlier
        one); SQLite is a file on one host, whose clock all its writers share, and keeps microseconds."""
        if self._session.get_bind().dialect.name == "postgresql":
            return func.clock_timestamp()
        return utcnow()

    def pending(self, limit: int = 100) -> list[BusinessEvent]:
        """Unpublished events, oldest first; on PostgreSQL rows are locked so publishers never share one."""
        statement = (
            select(OutboxEvent)
            .where(col(OutboxEvent.published_at).is_(None))
            .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [BusinessEvent.model_validate_json(row.payload) for row in self._session.exec(statement)]

    def mark_published(self, ids: Iterable[str]) -> int:
        """Mark events published (already published ones keep their time); returns how many changed."""
        wanted = list(ids)
        if not wanted:
            return 0
        statement = (
            update(OutboxEvent)
            .where(col(OutboxEvent.id).in_(wanted), col(OutboxEvent.published_at).is_(None))
            .values(published_at=utcnow())
        )
        return self._session.exec(statement).rowcount

    def lag(self) -> OutboxLag:
        statement = select(func.count(), func.min(OutboxEvent.created_at)).where(
            col(OutboxEvent.published_at).is_(None)
        )
        pending, oldest = self._session.exec(statement).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite hands an aggregate back as it stored it
            oldest = oldest.replace(tzinfo=UTC)
        return OutboxLag(pending=int(pending), oldest=oldest)

    def events(
        self,
        *,
        business_key: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        published_only: bool = False,
        limit: int = 10_000,
    ) -> list[BusinessEvent]:
        """Events published or not, in publishing order: one deal's (`business_key`), or those written in
        [since, until); `published_only` leaves out what the publisher has still to send. What the replay tool
        re-publishes."""
        statement = select(OutboxEvent).order_by(col(OutboxEvent.created_at), col(OutboxEvent.id)).limit(limit)
        if business_key is not None:
            statement = statement.where(OutboxEvent.business_key == business_key)
        if since is not None:
            statement = statement.where(col(OutboxEvent.created_at) >= since)
        if until is not None:
            statement = statement.where(col(OutboxEvent.created_at) < until)
        if published_only:
            statement = statement.where(col(OutboxEvent.published_at).is_not(None))
        return [BusinessEvent.model_validate_json(row.payload) for row in self._session.exec(statement)]
