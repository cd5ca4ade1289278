"""Month-end backlog: N subscriptions renew at one instant and their lifecycles bill the period under the vendors'
configured request limits (connectors/limits.py), with a few 429s injected; the drain time beside the theoretical
minimum the limits allow (the busiest vendor's requests / its rate).

Setup (not measured): N deals close and their sagas run, every billing customer on one Stripe test clock, so each
saga leaves a subscription lifecycle waiting for period 2. Then the limits are switched on, the clock moves past
the period's start (billing makes N renewal invoices at once) and the bench does what the billing webhook does for
each invoice: reads it back and signals the lifecycle. Drained = every lifecycle has billed period 2 (taxed,
invoiced, posted, paid and applied)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.client import WorkflowHandle

from bench.estate import SYSTEMS, BenchEstate
from bench.steady import RssSampler
from canonical import ids
from connectors.limits import RateGate
from connectors.stripe import StripeBilling
from estate.clock import TestClock
from settings import VendorLimit
from store import SqlRateBook
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleStatus, PeriodState

# Below what this box can serve, so the limits (not the CPU) bound the drain; set in proportion to what one renewal
# asks of each vendor (about 10 Stripe, 2 AvaTax and 3 NetSuite requests), so each could be the one that binds.
# A renewal makes no CRM call. NetSuite is also held to a few requests at once, as its accounts are.
LIMITS = {
    "salesforce": VendorLimit(requests_per_second=5),
    "stripe": VendorLimit(requests_per_second=20),
    "avatax": VendorLimit(requests_per_second=4.5),
    "netsuite": VendorLimit(requests_per_second=6.5, max_concurrency=3),
    "xero": VendorLimit(requests_per_second=2, max_concurrency=5),  # UK01's ledger; Xero allows 60/min, 5 at once
}
THROTTLE_RATE = 0.02  # 429s injected per vendor request (Retry-After: 1 s)


@dataclass
class Drain:
    subscriptions: int
    seconds: float
    requests: dict[str, int]
    throttled: Counter[str]
    parked: int
    unbilled: int
    rss_mb: list[float] = field(default_factory=list)

    def minimum(self) -> tuple[float, str]:
        """The theoretical minimum drain time and the vendor that sets it: requests / rate, the busiest vendor."""
        return max(
            (self.requests.get(v, 0) / limit.requests_per_second, v)
            for v, limit in LIMITS.items()
            if limit.requests_per_second
        )


async def drain(estate: BenchEstate, count: int, console: Console) -> Drain:
    key = estate.settings.stripe_api_key.get_secret_value()
    clock = await TestClock.create(estate.admin, estate.settings.stripe_url, key, "bench month-end")
    billing = estate.connectors.billing
    assert isinstance(billing, StripeBilling)
    billing.test_clock = clock.clock_id
    with console.status(f"backlog: seeding {count} deals and running their sagas (not measured)"):
        deal_ids = await estate.seed(count, fresh=True)
        await asyncio.gather(*(estate.saga(d)() for d in deal_ids))
    billing.test_clock = None
    handles = [estate.client.get_workflow_handle(ids.subscription_id(estate.settings.crm, d)) for d in deal_ids]
    statuses = await _statuses(handles)
    period_start = max(s.next_period_start for s in statuses)

    throttled: Counter[str] = Counter()
    estate.connectors.govern(RateGate(SqlRateBook(estate.engine), LIMITS, on_throttled=lambda v: throttled.update([v])))
    with console.status(f"backlog: billing time moves past {period_start:%Y-%m-%d}: {count} renewal invoices"):
        await clock.advance(period_start + timedelta(minutes=10), timeout=600)
        reader = StripeBilling(estate.admin, estate.settings.stripe_url, key)  # the webhook's read-back, unlimited
        notices = await asyncio.gather(*(reader.renewal_invoices(s.subscription_id) for s in statuses))
    await estate.forget_requests()
    for system in SYSTEMS:
        chaos = {"seed": 16, "rates": {"status_429": THROTTLE_RATE}, "retry_after_seconds": 1}
        (await estate.admin.post(f"{estate.url(system)}/_sandbox/chaos", json=chaos)).raise_for_status()
    sampler = RssSampler()
    sampling = asyncio.create_task(sampler.run())
    began = time.time()
    for handle, found, status in zip(handles, notices, statuses, strict=True):
        notice = next((n for n in found if n.period_start == status.next_period_start), None)
        if notice is None:
            raise SystemExit(
                f"no renewal invoice of {status.subscription_id} for {status.next_period_start}: "
                f"billing has {[(n.invoice_id, n.period_start) for n in found]}"
            )
        await handle.signal(SubscriptionLifecycle.renewal_invoiced, notice)
    with console.status(f"backlog: draining {count} renewals under the limits") as spinner:
        done = await _billed(handles, spinner.update)
    seconds = time.time() - began
    sampling.cancel()
    for system in SYSTEMS:
        (await estate.admin.delete(f"{estate.url(system)}/_sandbox/chaos")).raise_for_status()
    requests = {
        system: sum(1 for r in await estate.requests_served(system) if r["arrived"] >= began) for system in SYSTEMS
    }
    statuses = await _statuses(handles)
    parked = sum(1 for s in statuses if s.problem is not None)
    return Drain(count, seconds, requests, Counter(throttled), parked, count - done, sampler.samples)


async def _statuses(handles: list[WorkflowHandle[Any, Any]]) -> list[LifecycleStatus]:
    gate = asyncio.Semaphore(16)

    async def one(handle: WorkflowHandle[Any, Any]) -> LifecycleStatus:
        async with gate:
            return await handle.query(SubscriptionLifecycle.status)

    return list(await asyncio.gather(*(one(h) for h in handles)))


async def _billed(handles: list[WorkflowHandle[Any, Any]], progress: object, limit: float = 1800) -> int:
    """Poll until every lifecycle billed period 2 (or one parked, or `limit` s passed); how many did."""
    waiting = list(handles)
    deadline = time.monotonic() + limit
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(2)
        statuses = await _statuses(waiting)
        if any(s.problem is not None for s in statuses):
            break
        waiting = [
            h
            for h, s in zip(waiting, statuses, strict=True)
            if not any(p.number == 2 and p.state is PeriodState.BILLED for p in s.periods)
        ]
        progress(f"backlog: draining ({len(handles) - len(waiting)}/{len(handles)} billed)")  # type: ignore[operator]
    return len(handles) - len(waiting)


def report(result: Drain, console: Console) -> None:
    minimum, binding = result.minimum()
    table = Table(
        "vendor",
        "limit",
        "requests",
        "achieved req/s",
        "% of limit",
        "429s injected and retried",
        title=f"month-end backlog: {result.subscriptions} renewal invoices due at one instant",
    )
    for vendor, limit in LIMITS.items():
        rate = result.requests.get(vendor, 0) / result.seconds
        shown = f"{limit.requests_per_second:g}/s" + (
            f", {limit.max_concurrency} at once" if limit.max_concurrency else ""
        )
        pct = f"{rate / limit.requests_per_second * 100:.0f}%" if limit.requests_per_second else "-"
        table.add_row(
            vendor, shown, str(result.requests.get(vendor, 0)), f"{rate:.1f}", pct, str(result.throttled[vendor])
        )
    console.print(table)
    console.print(
        f"drained in {result.seconds:.1f} s; theoretical minimum {minimum:.1f} s ({binding}'s requests at its limit): "
        f"{minimum / result.seconds:.2f} of the limit-bound pace; parked {result.parked}, "
        f"not billed {result.unbilled}; "
        f"worker RSS {min(result.rss_mb):.0f}-{max(result.rss_mb):.0f} MB"
    )
