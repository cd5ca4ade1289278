"""Transactional outbox: business events written with the state change, published afterwards."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from canonical import BusinessEvent
from store.models import OutboxEvent, utcnow


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
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            return False
        return True

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
