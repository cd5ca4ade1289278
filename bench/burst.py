"""The burst: N workflows started at once, saga and baseline in turn; throughput, latency, CPU, history size."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psutil
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType

from bench.estate import BenchEstate


@dataclass
class Run:
    name: str
    sagas: int
    wall: float
    latencies: list[float]
    worker_cpu: float
    server_cpu: float
    events_per_saga: int
    sandbox_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.sagas / self.wall

    @property
    def our_cpu(self) -> float:
        """CPU of everything a workflow made busy on this box: the workers (and the bench client), the Temporal
        server, the vendor emulators."""
        return self.worker_cpu + self.server_cpu + self.sandbox_cpu

    def row(self) -> list[str]:
        q = statistics.quantiles(self.latencies, n=100)
        return [
            self.name,
            str(self.sagas),
            f"{self.per_second:.2f}",
            f"{statistics.median(self.latencies) * 1000:.0f}",
            f"{q[98] * 1000:.0f}",
            f"{self.worker_cpu / self.sagas * 1000:.1f}",
            f"{self.server_cpu / self.sagas * 1000:.1f}",
            f"{self.sandbox_cpu / self.sagas * 1000:.1f}",
            f"{self.our_cpu / self.sagas * 1000:.1f}",
            str(self.events_per_saga),
        ]

    def __add__(self, other: Run) -> Run:
        """Two rounds of the same kind as one run."""
        return Run(
            self.name,
            self.sagas + other.sagas,
            self.wall + other.wall,
            self.latencies + other.latencies,
            self.worker_cpu + other.worker_cpu,
            self.server_cpu + other.server_cpu,
            self.events_per_saga,
            self.sandbox_cpu + other.sandbox_cpu,
        )


HEADERS = (
    "run",
    "n",
    "per s",
    "p50 ms",
    "p99 ms",
    "worker CPU ms/saga",
    "server CPU ms/saga",
    "sandbox CPU ms/saga",
    "all CPU ms/saga",
    "history events",
)


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    total = times.user + times.system
    for child in process.children(recursive=True):
        child_times = child.cpu_times()
        total += child_times.user + child_times.system
    return total


async def measure(name: str, estate: BenchEstate, starts: list[Callable[[], Awaitable[str]]]) -> Run:
    latencies: list[float] = []

    async def one(start: Callable[[], Awaitable[str]]) -> str:
        began = time.perf_counter()
        workflow_id = await start()
        latencies.append(time.perf_counter() - began)
        return workflow_id

    cpu0, server0, sandbox0, wall0 = cpu_self(), cpu_of(estate.server), cpu_of(estate.sandbox), time.perf_counter()
    ids = await asyncio.gather(*(one(start) for start in starts))
    wall = time.perf_counter() - wall0
    worker_cpu, server_cpu = cpu_self() - cpu0, cpu_of(estate.server) - server0
    sandbox_cpu = cpu_of(estate.sandbox) - sandbox0
    history = await estate.client.get_workflow_handle(ids[0]).fetch_history()
    return Run(name, len(starts), wall, latencies, worker_cpu, server_cpu, len(history.events), sandbox_cpu)


async def activity_types(estate: BenchEstate, workflow_id: str) -> list[str]:
    """The activities one workflow ran, in order: scheduled ones by type, local ones (recorded as markers) as
    `local`; the baseline runs as many no-op activities, so it stays the same whichever way the saga runs them."""
    history = await estate.client.get_workflow_handle(workflow_id).fetch_history()
    steps = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            steps.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            if e.marker_recorded_event_attributes.marker_name == "core_local_activity":
                steps.append("local")
    return steps


async def burst(
    estate: BenchEstate, sagas: int, activities: int, deal_ids: list[str], rounds: int = 1
) -> tuple[list[Run], list[float]]:
    """Baseline then saga, `sagas` of each started at once, `rounds` times in turn (so a change in the box's load
    from other processes hits both kinds alike); the rounds of each kind as one run, and each round's throughput
    ratio (saga/baseline). `deal_ids`: `sagas` x `rounds` seeded deals."""
    name = f"baseline ({activities} no-op activities)"
    bases: list[Run] = []
    runs: list[Run] = []
    for n in range(rounds):
        bases.append(await measure(name, estate, [estate.baseline(activities) for _ in range(sagas)]))
        deals = deal_ids[n * sagas : (n + 1) * sagas]
        runs.append(await measure("customer-to-cash saga", estate, [estate.saga(d) for d in deals]))
    spread = [saga.per_second / base.per_second for base, saga in zip(bases, runs, strict=True)]
    return [sum(bases[1:], bases[0]), sum(runs[1:], runs[0])], spread


def report(runs: list[Run], spread: list[float], console: Console) -> None:
    table = Table(*HEADERS, title=f"burst — {os.cpu_count()} cores, sandbox with zero injected latency")
    for run in runs:
        table.add_row(*run.row())
    console.print(table)
    base, saga = runs
    cpu = (saga.our_cpu / saga.sagas) / (base.our_cpu / base.sagas)
    console.print(
        f"saga/baseline: throughput {saga.per_second / base.per_second:.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}x' for r in spread)}), "
        f"p50 latency {statistics.median(saga.latencies) / statistics.median(base.latencies):.2f}x, "
        f"worker CPU {saga.worker_cpu / saga.sagas / (base.worker_cpu / base.sagas):.2f}x, "
        f"server CPU {saga.server_cpu / saga.sagas / (base.server_cpu / base.sagas):.2f}x, "
        f"all CPU {cpu:.2f}x (on a box whose cores are the limit, throughput at most {1 / cpu:.2f}x)"
    )
    # In production the emulators' work is the vendors', on their machines: c2c's own share is workers + server.
    c2c_only = (saga.worker_cpu + saga.server_cpu) / saga.sagas / ((base.worker_cpu + base.server_cpu) / base.sagas)
    console.print(
        f"without the vendors' side (workers + server CPU): {c2c_only:.2f}x, throughput at most {1 / c2c_only:.2f}x"
    )
