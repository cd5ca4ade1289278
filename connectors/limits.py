"""Per-vendor request limits shared by every worker process and the trigger API (issue 16; docs/decisions.md).

`RateGate` is the kit's `Gate` (connectors/kit.py): every HTTP request to a vendor waits in `slot(vendor)` until the
vendor's configured limits (settings `C2C_RATE_LIMITS`) allow it. The shared state is a `RateBook`
(store/ratelimits.py: a few rows in the SQL store every process already uses), so the limit holds across processes:

- requests per second: a reservation schedule (GCRA). A request books the slot `max(next_at, now)`, moves `next_at`
  on by 1/rate and sleeps until its slot. Slots are booked at most `horizon` seconds ahead, so a request never
  sleeps long on a booking it may not live to use (its activity's timeout); past that it waits to book again.
  Within a process, a vendor's waiting requests form one line (`_Line`) and only its head asks the shared book:
  a hundred requests waiting for a slot make one store call per slot, not a hundred (a backlog's drain measured
  the polling herd as the workers' main CPU cost). The line is ordered by the stage of the work (`priority_of`),
  then by when the work began (its workflow's start), then by arrival: a later stage of the order-to-cash chain
  goes first, and within a stage the oldest renewal or saga, so under a backlog work under way finishes one piece
  after another instead of all of it advancing a request at a time (the stage keys also order Temporal's queues).
- max concurrency: a request holds one of `max_concurrency` leases while it runs; a process that dies holding one
  frees it after `lease_seconds` (longer than any HTTP timeout).
- daily budget: counted per UTC day. Salesforce's budget is a rolling 24 hours: configure it with a margin.

A request that gets no slot within `max_wait`, or finds the day's budget spent, raises TransientError `rate_limited`
with `retry_after`, so its activity retries after that delay (Temporal's `next_retry_delay`). That retry uses one of
the activity's attempts (workflows/policies.py: 10 for a vendor call), so under a backlog a send-back must not happen
at all: the worker runs no more activities on a vendor's queue than the vendor's rate serves well within the wait
(`activity_slots`, runtime/workers.py; the rest wait in Temporal's queue, ordered by the same stage keys), and a
request that has waited half of `max_wait` goes ahead of all work that has not (`_Line`), so later and older work
arriving all the time cannot hold it back until its wait runs out, attempt after attempt.
Clocks are the processes' own (`time.time`): hosts sharing a PostgreSQL store keep them in NTP sync.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol

from connectors.errors import TransientError
from observability import correlation
from settings import VendorLimit

# Priority keys by the stage of the work a request belongs to (observability.correlation, bound per activity): 1 goes
# first. Temporal's task-queue priority uses the same keys (1-5, 3 when unset: runtime/telemetry.py sets them on the
# activities it starts), so the order holds in Temporal's queues and at this gate alike. Later in the chain = sooner:
# a backlog drains at its vendors' pace only if work under way is not queued behind work that has not started.
STAGE_PRIORITY = {
    "apply": 1,
    "settle": 1,
    "dunning": 1,
    "compensating": 1,
    "post": 2,
    "invoice": 3,
    "tax": 4,
    "activate": 5,
    "onboard": 5,
}
DEFAULT_PRIORITY = 3
# A request waiting in a line longer than half its wait goes first (ahead of key 1), in the order it became overdue.
_OVERDUE = (0, 0.0)

# The gate's defaults: slots booked at most HORIZON s ahead; a request waits at most MAX_WAIT s for its slot.
HORIZON = 2.0
MAX_WAIT = 15.0
# Activities one worker runs at once on a rate-limited vendor's queue (`activity_slots`): never more than the SDK's
# default (sizing only ever lowers it), never so few that Temporal's dispatch latency idles the vendor.
SDK_DEFAULT_SLOTS = 100
MIN_SLOTS = 4


def activity_slots(limits: Iterable[VendorLimit], max_wait: float = MAX_WAIT) -> int | None:
    """How many activities one worker should run at once on a queue whose requests go to vendors with `limits`
    (None: no rate, leave the SDK's default). A running activity waits for one request at a time (the reconciler's
    reads fan out a few), so a process's line at the gate is about this long at most: the tightest rate serves it in
    a quarter of `max_wait`, and a request overdue at half of it is served within three quarters even if every other
    one is overdue too (the last quarter is the margin for other processes sharing the rate). Past this, activities
    wait in Temporal's task queue, which costs no attempt, instead of at the gate, which sends them back with one
    spent."""
    rates = [limit.requests_per_second for limit in limits if limit.requests_per_second]
    if not rates:
        return None
    return min(SDK_DEFAULT_SLOTS, max(MIN_SLOTS, math.ceil(min(rates) * max_wait / 4)))


def priority_of(stage: str | None) -> int:
    return STAGE_PRIORITY.get(stage or "", DEFAULT_PRIORITY)


class RateBook(Protocol):
    """Where the limits' state is shared (store/ratelimits.SqlRateBook); each call is one atomic step."""

    def ensure(self, vendor: str, slots: int) -> None: ...

    def reserve(self, vendor: str, interval: float, horizon: float, now: float) -> tuple[bool, float]: ...

    def spend(self, vendor: str, day: str, budget: int) -> bool: ...

    def take(self, vendor: str, holder: str, slots: int, now: float, until: float) -> int | None: ...

    def release(self, vendor: str, slot: int, holder: str) -> None: ...


class RateGate:
    """The vendors' limits for one process; `on_throttled` counts the 429s vendors answer anyway."""

    def __init__(
        self,
        book: RateBook,
        limits: Mapping[str, VendorLimit],
        *,
        on_throttled: Callable[[str], None] | None = None,
        horizon: float = HORIZON,
        max_wait: float = MAX_WAIT,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._book = book
        self._limits = {vendor: limit for vendor, limit in limits.items() if _enforced(limit)}
        self._on_throttled = on_throttled
        self._horizon, self._max_wait, self._lease_seconds = horizon, max_wait, lease_seconds
        self._clock, self._sleep = clock, sleep
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lines: dict[str, _Line] = {}
        for vendor, limit in self._limits.items():
            book.ensure(vendor, limit.max_concurrency or 0)

    def throttled(self, system: str) -> None:
        if self._on_throttled is not None:
            self._on_throttled(system)

    @asynccontextmanager
    async def slot(self, system: str) -> AsyncIterator[None]:
        limit = self._limits.get(system)
        if limit is None:
            yield
            return
        if limit.daily_requests is not None:
            await self._spend(system, limit.daily_requests)
        if limit.requests_per_second is not None:
            await self._wait_for_rate(system, limit.requests_per_second)
        lease = await self._lease(system, limit.max_concurrency) if limit.max_concurrency is not None else None
        try:
            yield
        finally:
            if lease is not None:
                await asyncio.to_thread(self._book.release, system, lease, self._holder)

    async def _wait_for_rate(self, system: str, rate: float) -> None:
        give_up = self._clock() + self._max_wait
        line = self._lines.setdefault(system, _Line())
        work = correlation.current()
        key = (priority_of(work.stage), work.since or 0.0)
        if not await line.join(key, give_up - self._clock(), overdue_after=self._max_wait / 2):
            raise _limited(system, 1.0 / rate, f"no request slot within {self._max_wait:.0f} s")
        try:
            while True:
                booked, at = await asyncio.to_thread(
                    self._book.reserve, system, 1.0 / rate, self._horizon, self._clock()
                )
                now = self._clock()
                if booked:
                    break
                # Booked `horizon` ahead (by every process): come back when the first slot past it is bookable,
                # unless that is past our wait. The rest of the line waits behind us without asking.
                bookable_in = max(0.005, at - self._horizon - now)
                if now + bookable_in >= give_up:
                    raise _limited(system, bookable_in, f"no request slot within {self._max_wait:.0f} s")
                await self._sleep(bookable_in + random.uniform(0, 0.01))
        finally:
            line.leave()
        if at > now:
            await self._sleep(at - now)

    async def _lease(self, system: str, slots: int) -> int:
        give_up = self._clock() + self._max_wait
        while True:
            now = self._clock()
            lease = await asyncio.to_thread(
                self._book.take, system, self._holder, slots, now, now + self._lease_seconds
            )
            if lease is not None:
                return lease
            if self._clock() >= give_up:
                raise _limited(system, 1.0, f"all {slots} concurrent request slots busy for {self._max_wait:.0f} s")
            await self._sleep(random.uniform(0.01, 0.05))

    async def _spend(self, system: str, budget: int) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        if not await asyncio.to_thread(self._book.spend, system, now.date().isoformat(), budget):
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
            raise _limited(system, (midnight - now).total_seconds(), f"the day's budget of {budget} requests is spent")


def _enforced(limit: VendorLimit) -> bool:
    return any(v is not None for v in (limit.requests_per_second, limit.max_concurrency, limit.daily_requests))


def _limited(system: str, retry_after: float, why: str) -> TransientError:
    return TransientError(system, "rate_limited", why, retry_after=max(0.1, retry_after))


class _Line:
    """One process's requests waiting to book a vendor's slot: one at a time asks the shared book, the others wait
    here in order of (stage priority, the work's start, arrival), except that a request waiting longer than
    `overdue_after` goes ahead of every one that is not (in the order they became overdue): without that, a young
    renewal's quote is overtaken by each older one the worker takes on until its wait runs out. `join` waits for the
    turn (False: not within `timeout`); `leave` hands it on."""

    def __init__(self) -> None:
        self._waiting: list[tuple[tuple[int, float], int, asyncio.Future[None]]] = []
        self._taken = False
        self._arrivals = itertools.count()

    async def join(self, priority: tuple[int, float], timeout: float, overdue_after: float | None = None) -> bool:
        if not self._taken and not self._waiting:
            self._taken = True
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._arrivals), turn))
        timeout = max(0.0, timeout)
        try:
            # asyncio.wait leaves the future alone when it times out (wait_for would cancel it).
            if overdue_after is not None and overdue_after < timeout:
                await asyncio.wait({turn}, timeout=overdue_after)
                if not turn.done():  # a second entry, ahead of the rest: whichever pops first gets the turn
                    heapq.heappush(self._waiting, (_OVERDUE, next(self._arrivals), turn))
                    await asyncio.wait({turn}, timeout=timeout - overdue_after)
            else:
                await asyncio.wait({turn}, timeout=timeout)
        except asyncio.CancelledError:
            if turn.done():  # handed the turn as we were cancelled: pass it on
                self.leave()
            else:
                turn.cancel()
            raise
        if turn.done():
            return True
        turn.cancel()  # given up: `leave` skips it (and its second entry)
        return False

    def leave(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():  # skip those that gave up, and an overdue request's first entry
                turn.set_result(None)
                return
        self._taken = False
