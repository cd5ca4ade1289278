"""Leases: one holder at a time for a job every worker process could do (publishing the outbox in order).

A lease is a row (name, holder, expires_at). Taking it succeeds when it is free, expired, or already ours, and
moves its expiry on; a holder that dies simply stops renewing and the next taker gets it after `ttl`. The row is
read FOR UPDATE (PostgreSQL; SQLite serialises writers), so two takers never both see it free.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store.models import Lease, utcnow


class LeaseRepository:
    """Takes, renews and releases leases; never commits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def take(self, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> datetime | None:
        """Take or renew the lease for `ttl`; its new expiry, or None when another holder has it."""
        now = now or utcnow()
        row = self._session.get(Lease, name, with_for_update=True, populate_existing=True)
        if row is None:
            try:
                with self._session.begin_nested():
                    self._session.exec(insert(Lease).values(name=name, holder=holder, expires_at=now + ttl))
            except IntegrityError:  # another taker created it first: it holds the lease now
                return None
            return now + ttl
        if row.holder != holder and row.expires_at > now:
            return None
        row.holder, row.expires_at = holder, now + ttl
        self._session.add(row)
        self._session.flush()
        return row.expires_at

    def release(self, name: str, holder: str) -> None:
        """Give the lease up now (a clean shutdown), so the next taker need not wait for it to expire."""
        row = self._session.get(Lease, name, with_for_update=True, populate_existing=True)
        if row is not None and row.holder == holder:
            row.expires_at = utcnow()
            self._session.add(row)

    def holder(self, name: str) -> tuple[str, datetime] | None:
        row = self._session.get(Lease, name, populate_existing=True)
        return (row.holder, row.expires_at) if row is not None else None
