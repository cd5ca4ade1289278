"""Per-vendor request limits shared across processes (connectors/limits.py on store/ratelimits.py, issue 16).

Each "process" here is its own engine on one SQLite file and its own HTTP client, sharing nothing in memory; the
requests are counted where the vendor would count them, in the emulator's request log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from connectors import kit
from connectors.errors import TransientError
from connectors.limits import RateGate
from connectors.stripe.errors import classify
from observability import correlation
from sandbox.server import build_app
from settings import VendorLimit
from store import SqlRateBook, create_schema, make_engine
from tests.support.stripe import API_KEY

STRIPE = "stripe"


@pytest.fixture
def stripe_url(own_server: Callable[[Any], Any]) -> str:
    """A Stripe emulator of this test's own, so its request log holds only this test's requests."""
    return str(own_server(build_app(STRIPE)).url)


def engines(tmp_path: Path, count: int) -> list[Engine]:
    url = f"sqlite:///{tmp_path / 'c2c.db'}"
    made = [make_engine(url) for _ in range(count)]
    create_schema(made[0])
    return made


async def list_customers(http: httpx.AsyncClient, url: str) -> None:
    request = http.build_request("GET", f"{url}/v1/customers", headers={"Authorization": f"Bearer {API_KEY}"})
    await kit.send(http, STRIPE, request, classify)


async def served(http: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    response = await http.get(f"{url}/_sandbox/requests")
    response.raise_for_status()
    return [r for r in response.json()["requests"] if r["path"].startswith("/v1/")]


async def burst(tmp_path: Path, url: str, limit: VendorLimit, per_process: int, processes: int = 2) -> None:
    """`processes` clients, each with its own engine and gate, all sending `per_process` requests at once."""
    clients = [httpx.AsyncClient(timeout=10) for _ in range(processes)]
    try:
        for http, engine in zip(clients, engines(tmp_path, processes), strict=True):
            kit.govern(http, RateGate(SqlRateBook(engine), {STRIPE: limit}))
        await asyncio.gather(*(list_customers(http, url) for http in clients for _ in range(per_process)))
    finally:
        for http in clients:
            await http.aclose()


async def test_two_processes_sharing_a_rate_never_exceed_it_together(
    tmp_path: Path, stripe_url: str, http: httpx.AsyncClient
) -> None:
    rate = 10
    await burst(tmp_path, stripe_url, VendorLimit(requests_per_second=rate), per_process=15)
    arrivals = sorted(r["arrived"] for r in await served(http, stripe_url))
    assert len(arrivals) == 30
    # The busiest one-second window at the vendor. Slots are exactly 1/rate apart, but a request arrives when its
    # process wakes up: on a loaded machine (2 cores, a dozen busy processes) a wake-up can be a few hundred ms late
    # and bunch with the next ones, hence the half second of slack. Unlimited, all 30 arrive within a fraction of a
    # second; and the whole run cannot be shorter than the schedule (less the first request's lateness).
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1) for start in arrivals)
    assert busiest <= rate * 1.5, f"{busiest} requests within one second"
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / rate - 0.5


async def test_two_processes_sharing_a_concurrency_limit_never_run_more_at_once(
    tmp_path: Path, stripe_url: str, http: httpx.AsyncClient
) -> None:
    (await http.post(f"{stripe_url}/_sandbox/latency", json={"seconds": 0.15})).raise_for_status()
    await burst(tmp_path, stripe_url, VendorLimit(max_concurrency=2), per_process=5)
    spans = [(r["arrived"], r["answered"]) for r in await served(http, stripe_url)]
    assert len(spans) == 10
    in_flight = max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans)
    assert in_flight <= 2


async def test_a_spent_daily_budget_waits_for_the_next_day(tmp_path: Path) -> None:
    (engine,) = engines(tmp_path, 1)
    at = datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()  # an hour before the UTC day turns
    gate = RateGate(SqlRateBook(engine), {"salesforce": VendorLimit(daily_requests=3)}, clock=lambda: at)
    for _ in range(3):
        async with gate.slot("salesforce"):
            pass
    with pytest.raises(TransientError) as spent:
        async with gate.slot("salesforce"):
            pass
    assert (spent.value.code, spent.value.retry_after) == ("rate_limited", 3600)
    tomorrow = RateGate(SqlRateBook(engine), {"salesforce": VendorLimit(daily_requests=3)}, clock=lambda: at + 3600)
    async with tomorrow.slot("salesforce"):
        pass


async def test_no_slot_within_the_wait_is_a_retryable_rate_limit(tmp_path: Path) -> None:
    (engine,) = engines(tmp_path, 1)
    now = [1_000_000.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    gate = RateGate(
        SqlRateBook(engine), {STRIPE: VendorLimit(requests_per_second=1)}, max_wait=5, clock=lambda: now[0], sleep=sleep
    )
    book = SqlRateBook(engine)
    for _ in range(100):  # another process has booked the next 100 seconds
        book.reserve(STRIPE, 1.0, 3600, now[0])
    with pytest.raises(TransientError) as limited:
        async with gate.slot(STRIPE):
            pass
    assert limited.value.code == "rate_limited"
    assert (limited.value.retry_after or 0) > 90
    assert now[0] == 1_000_000.0  # it did not sleep on a slot it could not book in time


class CountingBook(SqlRateBook):
    """The shared book, counting the calls that book a slot (each is one write transaction on the store)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.reserves = 0

    def reserve(self, vendor: str, interval: float, horizon: float, now: float) -> tuple[bool, float]:
        self.reserves += 1
        return super().reserve(vendor, interval, horizon, now)


async def test_requests_waiting_in_one_process_ask_the_store_once_per_slot(tmp_path: Path) -> None:
    (engine,) = engines(tmp_path, 1)
    book = CountingBook(engine)
    # 10/s, slots booked at most 0.1 s ahead: 8 requests at once, most of them waiting for a slot to be bookable.
    gate = RateGate(book, {STRIPE: VendorLimit(requests_per_second=10)}, horizon=0.1)

    async def one() -> None:
        async with gate.slot(STRIPE):
            pass

    await asyncio.gather(*(one() for _ in range(8)))
    # Each request books once; the head of the line may ask again when it comes back a little early. Every
    # waiter asking for itself made several times as many store calls (one per waiter per slot freed).
    assert book.reserves <= 8 + 8, f"{book.reserves} store calls for 8 requests"


async def test_a_later_stage_then_older_work_gets_the_next_slot_first(tmp_path: Path) -> None:
    (engine,) = engines(tmp_path, 1)
    gate = RateGate(SqlRateBook(engine), {STRIPE: VendorLimit(requests_per_second=20)}, horizon=0.0)
    served: list[str] = []

    async def one(name: str, stage: str | None, since: float | None) -> None:
        with correlation.bound(correlation_id=name, stage=stage, since=since):
            async with gate.slot(STRIPE):
                served.append(name)

    first = asyncio.create_task(one("first", None, None))  # takes the line's head and the slot now
    await asyncio.sleep(0)
    waiting = [
        one("new saga's onboarding", "onboard", 200.0),
        one("renewal's quote", "tax", 100.0),
        one("younger renewal's payment", "settle", 150.0),
        one("older renewal's payment", "settle", 100.0),
        one("renewal's posting", "post", 100.0),
    ]
    await asyncio.gather(first, *waiting)
    assert served == [
        "first",
        "older renewal's payment",
        "younger renewal's payment",
        "renewal's posting",
        "renewal's quote",
        "new saga's onboarding",
    ]


async def test_a_request_overtaken_for_half_its_wait_goes_first(tmp_path: Path) -> None:
    # Older work keeps arriving faster than the rate serves it (50/s against 20/s) for longer than the wait: ordered
    # by stage and age alone, the young renewal's quote would be overtaken until its wait ran out and be sent back
    # (one of its activity's attempts spent), every attempt. Overdue at half its wait, it goes ahead of them.
    (engine,) = engines(tmp_path, 1)
    gate = RateGate(SqlRateBook(engine), {STRIPE: VendorLimit(requests_per_second=20)}, horizon=0.0, max_wait=1.0)
    served: list[str] = []

    async def one(name: str, stage: str, since: float) -> None:
        with correlation.bound(correlation_id=name, stage=stage, since=since):
            async with gate.slot(STRIPE):
                served.append(name)

    async def older_work() -> None:
        arriving = []
        for n in range(75):  # 1.5 s of arrivals (the later ones are sent back in turn: they are only the load here)
            arriving.append(asyncio.create_task(one(f"payment {n}", "settle", 100.0)))
            await asyncio.sleep(0.02)
        await asyncio.gather(*arriving, return_exceptions=True)

    feeding = asyncio.create_task(older_work())
    await asyncio.sleep(0.03)  # the line is already busy with older work
    await one("young quote", "tax", 300.0)  # raises TransientError rate_limited if sent back
    await feeding
    assert "young quote" in served
    assert served.index("young quote") < len(served) - 3, "served while older work was still arriving"
