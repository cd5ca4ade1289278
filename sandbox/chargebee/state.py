"""One Chargebee site's records in memory, its ids and its event log.

Ids Chargebee makes follow the clock (`{prefix}_{base36 time}{n}`), so a restarted sandbox never repeats an id a
store already knows; invoices and credit notes are numbered (`INV-…`, `CN-…`) the same way.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def now() -> int:
    return int(time.time())


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
    events: list[Record] = field(default_factory=list)
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
