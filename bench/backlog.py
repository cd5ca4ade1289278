"""Month-end backlog: N subscriptions renew at one instant and their lifecycles bill the period under the vendors'
configured request limits (connectors/limits.py), with a few 429s injected; the drain time beside the theoretical
minimum the limits allow (the busiest vendor's requests / its rate).

Setup (not measured, bench/renewals.py): N subscriptions on one Stripe test clock, made by the saga's own onboarding
and activation activities, each followed by a started SubscriptionLifecycle waiting for period 2. Then the limits are
switched on, the clock moves past the period's start (billing makes N renewal invoices at once) and the bench does
what the billing webhook does for each invoice: reads it back and signals the lifecycle. Drained = every lifecycle
has billed period 2 (taxed, invoiced, posted, paid and applied) and waits for period 3, counted in Temporal's
visibility (its search attributes), not by querying N workflows."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table
from temporalio.client import WorkflowHandle

from bench import renewals
from bench.cpu import CpuSince
from bench.estate import SYSTEMS, BenchEstate
from bench.gatewatch import GateWatch
from bench.steady import RssSampler
from canonical import RenewalInvoice
from connectors.limits import RateGate
from connectors.stripe import StripeBilling
from settings import VendorLimit
from store import SqlRateBook
from workflows.subscription import SubscriptionLifecycle

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
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds over the drain: bench, server, sandbox, box
    bound: dict[str, float] = field(default_factory=dict)  # share of the drain's seconds a limit held a request back
    waited: dict[str, float] = field(default_factory=dict)  # mean seconds a request waited at the gate, per vendor
    flight: dict[str, float] = field(default_factory=dict)  # mean seconds a request was in flight, per vendor
    setup_seconds: float = 0.0
    gave_up: Counter[str] = field(default_factory=Counter)  # requests the gate sent back after its longest wait
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # each request's arrival, s into the drain

    def paces(self, parts: int = 10) -> dict[str, list[float]]:
        """Per rate-limited vendor, its requests' rate as a fraction of its limit in each of `parts` equal slices
        of the drain: where the pace was lost (a vendor idle at the start or the end, or throughout)."""
        width = self.seconds / parts
        out = {}
        for vendor, limit in LIMITS.items():
            if not limit.requests_per_second or not self.requests.get(vendor):
                continue
            counts = Counter(min(parts - 1, int(t / width)) for t in self.arrivals.get(vendor, []))
            out[vendor] = [counts[i] / width / limit.requests_per_second for i in range(parts)]
        return out

    def minimum(self) -> tuple[float, str]:
        """The theoretical minimum drain time and the vendor that sets it: requests / rate, the busiest vendor."""
        return max(
            (self.requests.get(v, 0) / limit.requests_per_second, v)
            for v, limit in LIMITS.items()
            if limit.requests_per_second
        )


async def drain(estate: BenchEstate, count: int, console: Console) -> Drain:
    key = estate.settings.stripe_api_key.get_secret_value()
    set_up = time.time()
    steps: dict[str, float] = {}
    with console.status(f"backlog: seeding {count} deals (not measured)"):
        deal_ids = await estate.seed(count, fresh=True)
    steps["deals"] = time.time()
    with console.status(f"backlog: {count} subscriptions and lifecycles (not measured)") as spinner:
        subscribed, clocks = await renewals.subscriptions(estate, deal_ids, spinner.update)
    steps["subscriptions"] = time.time()
    with console.status(f"backlog: {count} lifecycles record their CRM contracts (not measured)") as spinner:
        await _count_until(estate, count, _WAITING, spinner.update, "lifecycles waiting for period 2")
    steps["contracts"] = time.time()
    period_start = max(args.first_period_end for _, args in subscribed)

    # The limits switched on: the workers' activity slots sized from them (as C2C_RATE_LIMITS sizes a deployment's)
    # and the gate in front of every vendor request.
    slots = await estate.limit_workers(LIMITS)
    console.print("activity slots per worker: " + ", ".join(f"{q} {n or 'SDK default'}" for q, n in slots.items()))
    throttled: Counter[str] = Counter()
    watch = GateWatch(RateGate(SqlRateBook(estate.engine), LIMITS, on_throttled=lambda v: throttled.update([v])))
    estate.connectors.govern(watch)
    with console.status(f"backlog: billing time moves past {period_start:%Y-%m-%d}: {count} renewal invoices"):
        for clock in clocks:
            await clock.advance(period_start + timedelta(minutes=10), timeout=600)
        reader = StripeBilling(estate.admin, estate.settings.stripe_url, key)  # the webhook's read-back, unlimited
        gate = asyncio.Semaphore(16)

        async def read(subscription_id: str) -> list[RenewalInvoice]:
            async with gate:
                return await reader.renewal_invoices(subscription_id)

        steps["renewal"] = time.time()
        notices = await asyncio.gather(*(read(args.subscription_id) for _, args in subscribed))
        steps["read-back"] = time.time()
    signals = []
    for (handle, args), found in zip(subscribed, notices, strict=True):
        notice = next((n for n in found if n.period_start == args.first_period_end), None)
        if notice is None:
            raise SystemExit(
                f"no renewal invoice of {args.subscription_id} for {args.first_period_end}: "
                f"billing has {[(n.invoice_id, n.period_start) for n in found]}"
            )
        signals.append((handle, notice))
    # The setup's inputs (a deal each) are not the workers' memory: dropped, and the heap they left handed back to
    # the OS (glibc keeps freed memory otherwise), before the RSS is sampled; both figures printed.
    del subscribed, notices
    held = psutil.Process().memory_info().rss / 2**20
    gc.collect()
    _trim_heap()
    console.print(
        f"bench process RSS after the setup {held:.0f} MB, {psutil.Process().memory_info().rss / 2**20:.0f} MB with "
        f"its data dropped; workflows cached per worker: {estate.settings.workflow_cache}"
    )
    setup_seconds = time.time() - set_up
    last = set_up
    for step, at in steps.items():
        steps[step], last = at - last, at
    console.print("backlog setup (s): " + ", ".join(f"{step} {took:.0f}" for step, took in steps.items()))
    await estate.forget_requests()
    for system in SYSTEMS:
        chaos = {"seed": 16, "rates": {"status_429": THROTTLE_RATE}, "retry_after_seconds": 1}
        (await estate.admin.post(f"{estate.url(system)}/_sandbox/chaos", json=chaos)).raise_for_status()
    sampler = RssSampler()
    sampling = asyncio.create_task(sampler.run())
    cpu = CpuSince({"bench": psutil.Process(os.getpid()), "server": estate.server, "sandbox": estate.sandbox})
    began = time.time()

    async def deliver(handle: WorkflowHandle[Any, Any], notice: RenewalInvoice) -> None:
        async with gate:  # the webhooks of N invoices arrive together; the trigger API signals each
            await handle.signal(SubscriptionLifecycle.renewal_invoiced, notice)

    delivering = asyncio.gather(*(deliver(h, n) for h, n in signals))
    with console.status(f"backlog: draining {count} renewals under the limits") as spinner:
        done = await _count_until(estate, count, _BILLED, spinner.update, "billed", give_up=_PARKED)
    await delivering
    ended = time.time()
    seconds = ended - began
    used = cpu.spent()
    sampling.cancel()
    for system in SYSTEMS:
        (await estate.admin.delete(f"{estate.url(system)}/_sandbox/chaos")).raise_for_status()
    arrivals = {
        system: [r["arrived"] for r in await estate.requests_served(system) if r["arrived"] >= began]
        for system in SYSTEMS
    }
    requests = {system: len(times) for system, times in arrivals.items()}
    parked = await _count(estate, _PARKED)
    return Drain(
        count,
        seconds,
        requests,
        Counter(throttled),
        parked,
        count - done,
        sampler.samples,
        used,
        {v: watch.bound(v, began, ended) for v in LIMITS},
        {v: watch.waited[v] / n for v, n in watch.requests.items()},
        {v: watch.flying[v] / n for v, n in watch.requests.items()},
        setup_seconds,
        Counter(watch.gave_up),
        {system: [t - began for t in times] for system, times in arrivals.items()},
    )


def _trim_heap() -> None:
    """glibc's malloc_trim: return the free pages of the heap to the OS (no-op where libc is not glibc)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# Visibility queries over the lifecycles (their search attributes, workflows/search_attributes.py): a lifecycle
# that billed period 2 is back in `waiting` with C2CPeriod 2; before, it waits with no period set.
_LIFECYCLES = "WorkflowType = 'SubscriptionLifecycle' AND ExecutionStatus = 'Running'"
_WAITING = f"{_LIFECYCLES} AND C2CStage = 'waiting' AND C2CPeriod IS NULL"
_BILLED = f"{_LIFECYCLES} AND C2CStage = 'waiting' AND C2CPeriod = '2'"
_PARKED = f"{_LIFECYCLES} AND C2CException IS NOT NULL"


async def _count(estate: BenchEstate, query: str) -> int:
    return (await estate.client.count_workflows(query)).count


async def _count_until(
    estate: BenchEstate,
    count: int,
    query: str,
    progress: Any,
    what: str,
    *,
    give_up: str | None = None,
    limit: float = 7200,
) -> int:
    """Poll visibility until `count` workflows match `query` (or one matches `give_up`, or `limit` s passed)."""
    deadline = time.monotonic() + limit
    found = 0
    while time.monotonic() < deadline:
        found = await _count(estate, query)
        progress(f"backlog: {found}/{count} {what}")
        if found >= count or (give_up is not None and await _count(estate, give_up)):
            break
        await asyncio.sleep(1)
    return found


def report(result: Drain, console: Console) -> None:
    minimum, binding = result.minimum()
    table = Table(
        "vendor",
        "limit",
        "requests",
        "achieved req/s",
        "% of limit",
        "limit held requests (% of s)",
        "mean wait at gate s",
        "mean in flight s",
        "429s injected and retried",
        "gate gave up (retried)",
        title=f"month-end backlog: {result.subscriptions} renewal invoices due at one instant",
    )
    for vendor, limit in LIMITS.items():
        rate = result.requests.get(vendor, 0) / result.seconds
        shown = f"{limit.requests_per_second:g}/s" + (
            f", {limit.max_concurrency} at once" if limit.max_concurrency else ""
        )
        pct = f"{rate / limit.requests_per_second * 100:.0f}%" if limit.requests_per_second else "-"
        table.add_row(
            vendor,
            shown,
            str(result.requests.get(vendor, 0)),
            f"{rate:.1f}",
            pct,
            f"{result.bound.get(vendor, 0) * 100:.0f}%",
            f"{result.waited.get(vendor, 0):.2f}",
            f"{result.flight.get(vendor, 0):.3f}",
            str(result.throttled[vendor]),
            str(result.gave_up[vendor]),
        )
    console.print(table)
    cores = os.cpu_count() or 1
    cpu = result.cpu
    console.print(
        f"drained in {result.seconds:.1f} s; theoretical minimum {minimum:.1f} s ({binding}'s requests at its limit): "
        f"{minimum / result.seconds:.2f} of the limit-bound pace; parked {result.parked}, "
        f"not billed {result.unbilled}; setup {result.setup_seconds:.0f} s (not measured)"
    )
    console.print(
        "CPU over the drain (cores busy): "
        + ", ".join(f"{name} {cpu.get(name, 0) / result.seconds:.2f}" for name in ("bench", "server", "sandbox"))
        + f"; the whole box {cpu.get('box', 0) / result.seconds:.2f} of {cores}; "
        f"ours per renewal {sum(cpu.get(n, 0) for n in ('bench', 'server', 'sandbox')) / result.subscriptions:.3f} s"
    )
    console.print("pace per tenth of the drain (requests / limit):")
    for vendor, shares in result.paces().items():
        console.print(f"  {vendor:<10} " + " ".join(f"{share:4.2f}" for share in shares))
    rss = result.rss_mb
    console.print(
        f"worker RSS (the bench process: workers and client): start {rss[0]:.0f} MB, peak {max(rss):.0f} MB, "
        f"end {rss[-1]:.0f} MB"
    )
