"""The month-end backlog's plumbing: subscriptions set up without sagas bill their renewal through the real
lifecycles, connectors, HTTP and limits; and the readings the report prints. No timing is asserted."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from rich.console import Console

from bench import backlog
from bench.backlog import Drain
from bench.estate import bench_estate
from bench.gatewatch import GateWatch
from connectors.errors import TransientError


async def test_a_small_backlog_bills_every_renewal_through_the_lifecycles() -> None:
    async with bench_estate() as estate:
        result = await backlog.drain(estate, 3, Console(quiet=True))

    assert (result.unbilled, result.parked) == (0, 0), "every lifecycle billed period 2, none parked"
    # A renewal: tax quoted and committed, invoice completed and collected, posted and applied in the ERP;
    # no CRM call (its contract was recorded during the setup, before the drain).
    assert result.requests["avatax"] >= 2 * 3
    assert result.requests["netsuite"] >= 2 * 3
    assert result.requests["stripe"] >= 5 * 3
    assert result.requests["salesforce"] == 0
    assert result.rss_mb
    assert result.cpu["bench"] > 0


def test_the_pace_per_tenth_shows_where_a_vendor_idled() -> None:
    # 10 s drain; stripe (20/s) busy only in the first half, netsuite (6.5/s) only in the second.
    arrivals = {
        "stripe": [i / 20 for i in range(100)],
        "netsuite": [5 + i / 6.5 for i in range(32)],
    }
    result = Drain(3, 10.0, {v: len(t) for v, t in arrivals.items()}, Counter(), 0, 0, arrivals=arrivals)
    paces = result.paces()
    assert set(paces) == {"stripe", "netsuite"}, "vendors with no requests are left out"
    assert paces["stripe"][:5] == [1.0] * 5
    assert paces["stripe"][5:] == [0.0] * 5
    assert paces["netsuite"][:5] == [0.0] * 5
    assert all(p > 0.9 for p in paces["netsuite"][5:])
    assert result.minimum() == (pytest.approx(100 / 20), "stripe"), "the busiest vendor at its limit sets it"


class Gate:
    def __init__(self, refuse: bool) -> None:
        self.refuse, self.throttles = refuse, 0

    @asynccontextmanager
    async def slot(self, system: str) -> AsyncIterator[None]:
        if self.refuse:
            raise TransientError(system, "rate_limited", "no slot", retry_after=1)
        yield

    def throttled(self, system: str) -> None:
        self.throttles += 1


async def test_the_gate_watch_counts_requests_give_ups_and_passes_throttles_on() -> None:
    open_gate, shut = GateWatch(Gate(refuse=False)), GateWatch(Gate(refuse=True))
    async with open_gate.slot("stripe"):
        pass
    with pytest.raises(TransientError):
        async with shut.slot("stripe"):
            pass
    open_gate.throttled("stripe")

    assert (open_gate.requests["stripe"], open_gate.gave_up["stripe"]) == (1, 0)
    assert (shut.requests["stripe"], shut.gave_up["stripe"], shut.waiting["stripe"]) == (0, 1, 0)
    assert open_gate._gate.throttles == 1  # type: ignore[attr-defined]
