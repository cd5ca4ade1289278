"""Waiting on a condition instead of sleeping: `eventually` polls a probe; `next_whole_second` waits for the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, every: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def next_whole_second() -> datetime:
    """The next whole second, once it has passed: everything saved before the call is older, everything saved
    after is not, even to a reader that rounds down to whole seconds (SOQL datetimes, Stripe `created`). Tests use it
    as the start of their window so deals other tests left in the session-wide CRM stay out of it."""
    boundary = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    async def passed() -> datetime | None:
        return boundary if datetime.now(UTC) >= boundary else None

    return await eventually(passed, timeout=2, every=0.02)
