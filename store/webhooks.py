"""Inbound webhook dedupe: an event id is processed once per source."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store.models import ProcessedEvent, utcnow


class ProcessedEventRepository:
    """Remembers handled webhook event ids; never commits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record_once(self, source: str, event_id: str) -> bool:
        """True the first time `(source, event_id)` is seen, False for a duplicate (also a concurrent one)."""
        try:
            with self._session.begin_nested():
                self._session.exec(
                    insert(ProcessedEvent).values(source=source, event_id=event_id, received_at=utcnow())
                )
        except IntegrityError:
            return False
        return True

    def seen(self, source: str, event_id: str) -> bool:
        return self._session.get(ProcessedEvent, (source, event_id)) is not None
