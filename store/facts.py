"""KPI facts: one row per saga outcome, summarised per status and currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from canonical import Money
from store.models import SagaFact, utcnow


@dataclass(frozen=True)
class SagaTotals:
    """How many sagas ended in `status` in one currency, and their summed total."""

    status: str
    currency: str  # "" for sagas that ended before their deal (and its currency) was read
    count: int
    total: Money | None  # None where the currency is unknown: such sagas moved no money


class SagaFactRepository:
    """Records saga outcomes (upsert by workflow id) and summarises them; never commits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        *,
        workflow_id: str,
        deal_id: str,
        legal_entity: str,
        currency: str,
        total_minor: int,
        status: str,
        completed_at: datetime | None = None,
    ) -> None:
        """Insert or overwrite the fact of one saga (a re-run or a later status replaces it); time: now.

        A saga cancelled before it read its deal knows no currency: its fact (which keeps a late trigger from
        billing the deal) is recorded with currency "" and nothing paid; any amount needs a real currency."""
        if not currency and total_minor == 0:
            total = None
        else:
            total = Money(amount=total_minor, currency=currency)  # refuses unknown currencies and floats
        completed_at = completed_at or utcnow()
        if completed_at.utcoffset() is None:
            raise ValueError("completed_at must be timezone-aware")
        values: dict[str, Any] = {
            "deal_id": deal_id,
            "legal_entity": legal_entity,
            "currency": total.currency if total else "",
            "total_minor": total.amount if total else 0,
            "status": status,
            "completed_at": completed_at,
        }
        fact = self._session.get(SagaFact, workflow_id)
        if fact is None:
            try:
                with self._session.begin_nested():
                    self._session.add(SagaFact(workflow_id=workflow_id, **values))
                    self._session.flush()
                return
            except IntegrityError:
                # Inserted concurrently since we looked: overwrite it like any existing fact.
                fact = self._session.get(SagaFact, workflow_id)
                if fact is None:
                    raise
        fact.sqlmodel_update(values)
        self._session.flush()

    def get(self, workflow_id: str) -> SagaFact | None:
        return self._session.get(SagaFact, workflow_id)

    def summary(self) -> list[SagaTotals]:
        """Count and total per (status, currency), ordered by status then currency."""
        statement = (
            select(
                SagaFact.status,
                SagaFact.currency,
                func.count(),
                func.sum(SagaFact.total_minor),
            )
            .group_by(col(SagaFact.status), col(SagaFact.currency))
            .order_by(col(SagaFact.status), col(SagaFact.currency))
        )
        return [
            SagaTotals(
                status=status,
                currency=currency,
                count=count,
                total=Money(amount=int(amount), currency=currency) if currency else None,
            )
            for status, currency, count, amount in self._session.exec(statement)
        ]
