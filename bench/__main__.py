"""`make bench`: what c2c adds over Temporal itself, measured against a bare baseline in the same run.

- burst: N sagas at once, and N baseline workflows with as many no-op activities as one saga runs; throughput,
  latency, CPU and history size (bench/burst.py).
- steady: deals arriving at fixed rates (open loop), close -> ERP invoice posted and close -> cash applied
  p50/p95/p99 beside the baseline at the same rate, the knee of each, worker RSS (bench/steady.py).
- backlog: N renewal invoices due at one instant drained under the vendors' configured request limits, beside the
  theoretical minimum those limits allow (bench/backlog.py).
- scale-out: the same burst with 1, 2, 4 `worker.py` processes against the one server; throughput, close -> cash,
  the CPU of workers, server and sandbox, and the resource that stops the scaling (bench/scale.py).

The sandbox runs in its own process with zero injected latency, so this process's CPU is the workers'.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections import Counter

import typer
from rich.console import Console
from rich.table import Table

from bench import backlog as backlog_run
from bench import burst as burst_run
from bench import scale as scale_run
from bench.burst import activity_types
from bench.estate import BenchEstate, bench_estate
from bench.profile import census, print_census, print_profiles, profile, vendor_requests
from bench.steady import Steady, baseline_start, flat, open_loop, saga_start
from workflows.interface import Names

console = Console(width=None if sys.stdout.isatty() else 160)
cli = typer.Typer(add_completion=False)
MARKS = (Names.POST_INVOICE, Names.APPLY_PAYMENT)  # close -> ERP invoice posted, close -> cash applied
KNEE_TOLERANCE = 1.5  # p95 within 1.5x its value at the lowest rate counts as flat


def next_rates(rates: list[float], extend: bool, max_rate: float) -> list[float]:
    """The given rates, then (with `extend`) 1.5x the last one at a time up to `max_rate`."""
    out = list(rates)
    while extend and out[-1] * 1.5 <= max_rate:
        out.append(round(out[-1] * 1.5))
    return out


async def steady_runs(
    estate: BenchEstate, rates: list[float], duration: float, activities: int, positions: tuple[int, int]
) -> list[tuple[Steady, Steady | None]]:
    """Baseline then saga at each rate; past its knee a kind is not run at higher rates (the run would only queue)."""
    runs: list[tuple[Steady, Steady | None]] = []
    saga_past = False
    for rate in rates:
        count = max(2, round(rate * duration))
        with console.status(f"steady load: baseline at {rate}/s ({count} workflows)"):
            base = await open_loop("baseline", rate, count, baseline_start(estate, activities, f"{rate}"), positions)
        saga = None
        if not saga_past:
            deal_ids = await estate.seed(count)
            with console.status(f"steady load: saga at {rate}/s ({count} deals)"):
                saga = await open_loop("saga", rate, count, saga_start(estate, deal_ids), MARKS)
        runs.append((base, saga))
        sagas = [s for _, s in runs if s is not None]
        saga_past = saga_past or flat(sagas, KNEE_TOLERANCE) != sagas[-1].rate
        base_past = flat([b for b, _ in runs], KNEE_TOLERANCE) != rate
        if saga_past and base_past:
            break
    return runs


async def bench(
    sagas: int,
    rates: list[float],
    duration: float,
    backlog: int,
    scale: list[int],
    scale_sagas: int,
    scale_limited: bool,
    rounds: int = 1,
) -> None:
    """Each part printed as soon as it is measured."""
    async with bench_estate() as estate:
        with console.status(f"seeding {sagas * rounds + 1} deals"):
            deal_ids = await estate.seed(sagas * rounds + 1)
        # Warm-up (imports, connections, first workflow task) outside the measurement; it gives the activity count
        # and the profile of one saga.
        await estate.forget_requests()
        warm = await estate.saga(deal_ids[0])()
        saga_profile = await profile(estate, "customer-to-cash saga", warm, await vendor_requests(estate))
        types = await activity_types(estate, warm)
        base = await estate.baseline(len(types))()
        print_profiles([await profile(estate, "baseline", base, Counter()), saga_profile], console)
        positions = (types.index(MARKS[0]), types.index(MARKS[1]))  # the baseline's no-op at the same step
        if sagas:
            with console.status(f"burst: {sagas} baseline workflows, then {sagas} sagas, {rounds} times"):
                runs, spread = await burst_run.burst(estate, sagas, len(types), deal_ids[1:], rounds)
            burst_run.report(runs, spread, console)
            print_census(await census(estate), console)
        if rates:
            print_steady(await steady_runs(estate, rates, duration, len(types), positions), duration)
        if backlog:
            backlog_run.report(await backlog_run.drain(estate, backlog, console), console)
        if scale:
            with console.status(f"scale-out: {scale_sagas} sagas with {', '.join(map(str, scale))} worker processes"):
                points = await scale_run.scale(estate, scale, scale_sagas, scale_limited)
            scale_run.report(points, console, scale_limited)


def print_steady(runs: list[tuple[Steady, Steady | None]], duration: float) -> None:
    table = Table(
        "deals/s",
        "run",
        "posted p50 ms",
        "p95",
        "p99",
        "cash applied p50 ms",
        "p95",
        "p99",
        "worker RSS max MB",
        title=f"steady load (open loop, {duration:.0f} s per rate): close -> ERP invoice posted, close -> cash applied",
    )
    for base, saga in runs:
        table.add_row(f"{base.rate:g}", "baseline", *base.cells())
        if saga is not None:
            table.add_row("", "saga", *saga.cells())
    console.print(table)
    sagas = [s for _, s in runs if s is not None]
    knees = {"baseline": flat([b for b, _ in runs], KNEE_TOLERANCE), "saga": flat(sagas, KNEE_TOLERANCE)}
    console.print(
        "knee (highest rate whose close -> cash applied p95 stays within "
        f"{KNEE_TOLERANCE}x its value at {runs[0][0].rate:g}/s): "
        + ", ".join(f"{kind} {'not reached' if k is None else f'{k:g} deals/s'}" for kind, k in knees.items())
        + f"; worker RSS {min(min(s.rss_mb) for s in sagas):.0f}-{max(max(s.rss_mb) for s in sagas):.0f} MB"
    )


@cli.command()
def main(
    sagas: int = typer.Option(40, help="burst: sagas (and baseline workflows) started at once; 0 skips it"),
    rates: str = typer.Option("1,2,5", help="steady load: arrival rates in deals/s, comma-separated; '' skips it"),
    extend: bool = typer.Option(True, help="steady load: go on past the last rate (x1.5) until both knees"),
    max_rate: float = typer.Option(8, help="steady load: the highest rate --extend tries"),
    duration: float = typer.Option(10, help="steady load: seconds of arrivals per rate"),
    backlog: int = typer.Option(50, help="month-end backlog: renewal invoices due at one instant; 0 skips it"),
    scale: str = typer.Option("1,2,4", help="scale-out: worker.py process counts, comma-separated; '' skips it"),
    scale_sagas: int = typer.Option(60, help="scale-out: sagas in each point's burst"),
    scale_limited: bool = typer.Option(False, help="scale-out: the workers under the backlog's vendor limits"),
    rounds: int = typer.Option(2, help="burst: baseline then saga bursts this many times in turn, summed"),
) -> None:
    # The workers log each activity attempt that fails (the injected 429s, retried): the tables say what happened.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    rate_list = next_rates([float(r) for r in rates.split(",") if r.strip()], extend, max_rate) if rates else []
    scale_list = [int(n) for n in scale.split(",") if n.strip()]
    asyncio.run(bench(sagas, rate_list, duration, backlog, scale_list, scale_sagas, scale_limited, rounds))
    console.print("(a shared machine: compare the ratios within one run, not absolute values across runs)")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    cli()
