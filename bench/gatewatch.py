"""What the vendors' request gate saw during the backlog's drain: whether a vendor's limit was what held its requests
back, second by second. A limit binds while a request of that vendor is waiting for a slot; when none is waiting,
the vendor's requests were not being made fast enough (the workers, the server or the box held them back). Wraps the
process's RateGate (connectors/limits.py) without changing it."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from connectors.kit import Gate


class GateWatch:
    """A `Gate` that passes every call to `gate` and keeps, per vendor, the seconds in which a request waited at the
    gate, the time requests waited and the time they were in flight (slot taken until the answer)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self.waiting: Counter[str] = Counter()  # requests waiting for a slot now
        self.waited: dict[str, float] = defaultdict(float)  # seconds requests spent waiting, summed
        self.flying: dict[str, float] = defaultdict(float)  # seconds requests spent in flight, summed
        self.requests: Counter[str] = Counter()
        self.gave_up: Counter[str] = Counter()  # requests the gate sent back (rate_limited): their activity retries
        self.bound_seconds: dict[str, set[int]] = {}  # whole seconds (since epoch) in which a request waited

    def throttled(self, system: str) -> None:
        self._gate.throttled(system)

    @asynccontextmanager
    async def slot(self, system: str) -> AsyncIterator[object]:
        asked = time.time()
        self.waiting[system] += 1
        counted = True
        try:
            async with self._gate.slot(system) as held:
                got = time.time()
                self.waiting[system] -= 1
                counted = False
                self._mark(system, asked, got)
                self.waited[system] += got - asked
                try:
                    yield held
                finally:
                    self.flying[system] += time.time() - got
                    self.requests[system] += 1
        finally:
            if counted:  # the gate gave up (rate_limited): no longer waiting
                self.waiting[system] -= 1
                self.gave_up[system] += 1

    def _mark(self, system: str, start: float, end: float) -> None:
        # A wait under 10 ms is the gate's own round trip, not a limit holding the request.
        if end - start >= 0.01:
            self.bound_seconds.setdefault(system, set()).update(range(int(start), int(end) + 1))

    def bound(self, system: str, began: float, ended: float) -> float:
        """The share of the drain's whole seconds in which `system`'s limit held a request back."""
        span = range(int(began), int(ended) + 1)
        return len(self.bound_seconds.get(system, set()).intersection(span)) / max(1, len(span))
