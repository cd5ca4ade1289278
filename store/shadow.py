"""Differences shadow mode found: for a write to an entity's current ERP, each field where the ERP it migrates to
would have booked otherwise (canonical/shadow.py). One row per write and field; a retried write records nothing
twice. `python starter.py shadow report` and the reconciliation report read them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Table
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from canonical.shadow import ShadowDifference
from store.models import UtcDateTime, utcnow


class ShadowFinding(SQLModel, table=True):
    __tablename__ = "shadow_difference"

    legal_entity: str = Field(primary_key=True, max_length=16)
    kind: str = Field(primary_key=True, max_length=32, description="customer, invoice, payment, credit memo/note")
    key: str = Field(primary_key=True, max_length=255, description="what the write is upserted by")
    field: str = Field(primary_key=True, max_length=64)
    current_erp: str = Field(max_length=32)
    shadow_erp: str = Field(max_length=32)
    current: str = Field(max_length=1000)
    shadow: str = Field(max_length=1000)
    found_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


SHADOW_TABLE: Table = SQLModel.metadata.tables[str(ShadowFinding.__tablename__)]


def ensure_table(engine: Engine) -> None:
    """Create the table if it does not exist (idempotent)."""
    SQLModel.metadata.create_all(engine, tables=[SHADOW_TABLE])


class ShadowRepository:
    """Shadow findings; never commits (the caller's session_scope does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, entity: str, kind: str, key: str, erps: tuple[str, str], found: list[ShadowDifference]) -> int:
        """Store each difference once (a retried write finds them stored); returns how many were new."""
        new = 0
        for difference in found:
            if self._session.get(ShadowFinding, (entity, kind, key, difference.field)) is not None:
                continue
            row = ShadowFinding(
                legal_entity=entity,
                kind=kind,
                key=key,
                field=difference.field,
                current_erp=erps[0],
                shadow_erp=erps[1],
                current=difference.current[:1000],
                shadow=difference.shadow[:1000],
            )
            try:
                with self._session.begin_nested():
                    self._session.add(row)
                new += 1
            except IntegrityError:  # another worker recorded it between our read and our insert
                continue
        return new

    def findings(self, entity: str | None = None) -> list[ShadowFinding]:
        query = select(ShadowFinding).order_by(
            col(ShadowFinding.legal_entity), col(ShadowFinding.kind), col(ShadowFinding.key), col(ShadowFinding.field)
        )
        if entity is not None:
            query = query.where(ShadowFinding.legal_entity == entity)
        return list(self._session.exec(query))
