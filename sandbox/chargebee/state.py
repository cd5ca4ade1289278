"""One Chargebee site's records in memory, its ids and its event log.

Ids Chargebee makes follow the clock (`{prefix}_{base36 time}{n}`), so a restarted sandbox never repeats an id a
store already knows; invoices and credit notes are numbered (`INV-…`, `CN-…`) the same way.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


# The site's time: wall time moved by the time machine's offset, or frozen at the moment a due step runs while the
# time machine travels (sandbox/chargebee/time_machine.py). Set per request, so several sites in one process keep
# their own time.
_OFFSET: ContextVar[int] = ContextVar("chargebee_site_offset", default=0)
_FROZEN: ContextVar[int | None] = ContextVar("chargebee_frozen_time", default=None)


def now() -> int:
    frozen = _FROZEN.get()
    return int(time.time()) + _OFFSET.get() if frozen is None else frozen


@contextmanager
def site_time(offset: int, frozen: int | None = None) -> Iterator[None]:
    """`now()` answers the site's time inside the block: wall time + `offset`, or `frozen`."""
    offset_token, frozen_token = _OFFSET.set(offset), _FROZEN.set(frozen)
    try:
        yield
    finally:
        _OFFSET.reset(offset_token)
        _FROZEN.reset(frozen_token)


def base36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if not number:
            return out


@dataclass
class Site:
    """Everything one site holds; `events` is the event log (newest last) the webhooks deliver."""

    name: str = "c2c-test"
    customers: dict[str, Record] = field(default_factory=dict)
    item_families: dict[str, Record] = field(default_factory=dict)
    items: dict[str, Record] = field(default_factory=dict)
    item_prices: dict[str, Record] = field(default_factory=dict)
    subscriptions: dict[str, Record] = field(default_factory=dict)
    invoices: dict[str, Record] = field(default_factory=dict)
    credit_notes: dict[str, Record] = field(default_factory=dict)
    transactions: dict[str, Record] = field(default_factory=dict)
    disputes: dict[str, Record] = field(default_factory=dict)
    comments: list[Record] = field(default_factory=list)
    unbilled_charges: dict[str, Record] = field(default_factory=dict)
    events: list[Record] = field(default_factory=list)
    clock_offset: int = 0  # seconds the time machine moved the site's time from wall time
    genesis_time: int = field(default_factory=lambda: int(time.time()))
    _stamp: str = field(default_factory=lambda: base36(time.time_ns() // 1_000_000))
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(int(time.time()) * 10))
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._stamp}{base36(next(self._serial))}"

    def new_number(self, prefix: str) -> str:
        return f"{prefix}-{next(self._numbers)}"

    def emit(self, event_type: str, content: Record) -> Record:
        """Record an event (`{id, occurred_at, source, object, api_version, event_type, webhook_status, content}`)."""
        event = {
            "id": self.new_id("ev"),
            "occurred_at": now(),
            "source": "api",
            "object": "event",
            "api_version": "v2",
            "event_type": event_type,
            "webhook_status": "not_configured",
            "content": {name: dict(record) for name, record in content.items()},
        }
        self.events.append(event)
        return event


def touch(record: Record) -> Record:
    """Bump what Chargebee bumps on every change: `updated_at` and `resource_version` (milliseconds)."""
    record["updated_at"] = now()
    record["resource_version"] = time.time_ns() // 1_000_000
    return record
