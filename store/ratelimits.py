"""The shared state behind the per-vendor request limits (issue 16): two small tables changed only by single atomic
`UPDATE … RETURNING` statements, so any number of processes on SQLite (one host) or PostgreSQL (many hosts) see one
limit. The waiting and the rules are connectors/limits.py's; this module only books.

- `rate_bucket.next_at`: the earliest time (epoch s) the vendor's next request may go (a GCRA schedule); `day`,
  `used`: the requests counted against the daily budget on that UTC day.
- `rate_slot`: `max_concurrency` lease rows per vendor; a request holds one while it runs.
"""

from __future__ import annotations

from sqlalchemy import Engine, Table, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel


class RateBucket(SQLModel, table=True):
    __tablename__ = "rate_bucket"

    vendor: str = Field(primary_key=True, max_length=64)
    next_at: float = Field(default=0.0, nullable=False)  # epoch seconds: the earliest the next request may go
    day: str = Field(default="", max_length=10, nullable=False)  # the UTC day `used` counts
    used: int = Field(default=0, nullable=False)


class RateSlot(SQLModel, table=True):
    __tablename__ = "rate_slot"

    vendor: str = Field(primary_key=True, max_length=64)
    slot: int = Field(primary_key=True)
    holder: str = Field(default="", max_length=128, nullable=False)
    lease_until: float = Field(default=0.0, nullable=False)


RATE_TABLES: list[Table] = [
    SQLModel.metadata.tables[str(RateBucket.__tablename__)],
    SQLModel.metadata.tables[str(RateSlot.__tablename__)],
]

_RESERVE = text(
    "UPDATE rate_bucket SET next_at = (CASE WHEN next_at > :now THEN next_at ELSE :now END) + :interval "
    "WHERE vendor = :vendor AND next_at <= :now + :horizon RETURNING next_at"
)
_NEXT_AT = text("SELECT next_at FROM rate_bucket WHERE vendor = :vendor")
_SPEND = text(
    "UPDATE rate_bucket SET used = CASE WHEN day = :day THEN used + 1 ELSE 1 END, day = :day "
    "WHERE vendor = :vendor AND (day <> :day OR used < :budget) RETURNING used"
)
# The outer `lease_until < :now` is checked again on the locked row (PostgreSQL re-reads it after a concurrent
# update), so two requests racing for one free slot cannot both take it: the loser gets no row and tries again.
_LEASE = text(
    "UPDATE rate_slot SET holder = :holder, lease_until = :until "
    "WHERE vendor = :vendor AND lease_until < :now AND slot = ("
    "SELECT MIN(slot) FROM rate_slot WHERE vendor = :vendor AND slot < :slots AND lease_until < :now) "
    "RETURNING slot"
)
_RELEASE = text(
    "UPDATE rate_slot SET lease_until = 0, holder = '' WHERE vendor = :vendor AND slot = :slot AND holder = :holder"
)


class SqlRateBook:
    """connectors/limits.RateBook on the store: each method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ensure(self, vendor: str, slots: int) -> None:
        """The vendor's bucket row and `slots` lease rows; other processes may race us here."""
        for row in [RateBucket(vendor=vendor), *(RateSlot(vendor=vendor, slot=n) for n in range(slots))]:
            self._insert_missing(row)

    def reserve(self, vendor: str, interval: float, horizon: float, now: float) -> tuple[bool, float]:
        """(True, the booked slot's time) or (False, when the schedule is free next): booked only within `horizon`."""
        with self._engine.begin() as connection:
            params = {"vendor": vendor, "now": now, "interval": interval, "horizon": horizon}
            booked = connection.execute(_RESERVE, params).scalar()
            if booked is not None:
                return True, float(booked) - interval
            return False, float(connection.execute(_NEXT_AT, {"vendor": vendor}).scalar_one())

    def spend(self, vendor: str, day: str, budget: int) -> bool:
        """Count one request against `day`'s budget; False (nothing counted) when it is spent."""
        with self._engine.begin() as connection:
            return connection.execute(_SPEND, {"vendor": vendor, "day": day, "budget": budget}).scalar() is not None

    def take(self, vendor: str, holder: str, slots: int, now: float, until: float) -> int | None:
        """A free (or expired) lease among the first `slots`, held by `holder` until `until`; None when all are busy."""
        params = {"vendor": vendor, "holder": holder, "now": now, "until": until, "slots": slots}
        with self._engine.begin() as connection:
            taken = connection.execute(_LEASE, params).scalar()
        return None if taken is None else int(taken)

    def release(self, vendor: str, slot: int, holder: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(_RELEASE, {"vendor": vendor, "slot": slot, "holder": holder})

    def _insert_missing(self, row: SQLModel) -> None:
        table = row.__table__  # type: ignore[attr-defined]
        keys = {column.name: getattr(row, column.name) for column in table.primary_key.columns}
        with self._engine.begin() as connection:
            if connection.execute(select(*table.primary_key.columns).filter_by(**keys)).first() is not None:
                return
        try:
            with self._engine.begin() as connection:
                connection.execute(table.insert().values(**row.model_dump()))
        except IntegrityError:  # another process inserted it first
            pass
