"""Helpers for the reconciliation and sweep tests (their estate is tests.harness.running_estate:
runtime.workers registers both workflows and their activities)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.harness import eventually


async def next_whole_second() -> datetime:
    """The next whole second, once it has passed: everything saved before the call is older, everything saved
    after is not, even to a reader that rounds down to whole seconds (SOQL datetimes, Stripe `created`). Tests use it
    as the start of their window so deals other tests left in the session-wide CRM stay out of it."""
    boundary = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    async def passed() -> datetime | None:
        return boundary if datetime.now(UTC) >= boundary else None

    return await eventually(passed, timeout=2, every=0.02)
