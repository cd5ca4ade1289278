"""Watermarks: how far a periodic reader has read a source (the missed-trigger sweep: the CRM's closed-won deals).

One row per name. The value only moves forward, so a late or repeated writer can never make a reader skip
records it has not seen. `create_schema` creates the table; `ensure_table` lets a reader create it on its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Table
from sqlmodel import Field, Session, SQLModel

from store.models import UtcDateTime, utcnow


class Watermark(SQLModel, table=True):
    __tablename__ = "watermark"

    name: str = Field(primary_key=True, max_length=128)
    value: datetime = Field(sa_type=UtcDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


WATERMARK_TABLE: Table = SQLModel.metadata.tables[str(Watermark.__tablename__)]


def ensure_table(engine: Engine) -> None:
    """Create the watermark table if it does not exist (idempotent)."""
    SQLModel.metadata.create_all(engine, tables=[WATERMARK_TABLE])


class WatermarkRepository:
    """Reads and advances watermarks; never commits (the caller's session_scope does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, name: str) -> datetime | None:
        row = self._session.get(Watermark, name)
        return row.value if row is not None else None

    def advance(self, name: str, value: datetime) -> datetime:
        """Set the watermark to `value` unless it is already later; returns the watermark now stored."""
        if value.utcoffset() is None:
            raise ValueError("watermarks are timezone-aware")
        # Row lock on PostgreSQL (no-op on SQLite, whose writers are serialised): two sweeps cannot both read
        # the old value and the earlier one win.
        row = self._session.get(Watermark, name, with_for_update=True)
        if row is None:
            row = Watermark(name=name, value=value)
            self._session.add(row)
        elif value > row.value:
            row.value, row.updated_at = value, utcnow()
        self._session.flush()
        return row.value
