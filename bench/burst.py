"""The burst: N workflows started at once, saga and baseline in turn; throughput, latency, CPU, history size."""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psutil
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

    def row(self) -> list[str]:
        q = statistics.quantiles(self.latencies, n=100)
        return [
            self.name,
            str(self.sagas),
            f"{self.sagas / self.wall:.2f}",
            f"{statistics.median(self.latencies) * 1000:.0f}",
            f"{q[98] * 1000:.0f}",
            f"{self.worker_cpu / self.sagas * 1000:.1f}",
            f"{self.server_cpu / self.sagas * 1000:.1f}",
            str(self.events_per_saga),
        ]


HEADERS = ("run", "n", "per s", "p50 ms", "p99 ms", "worker CPU ms/saga", "server CPU ms/saga", "history events")


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

    cpu0, server0, wall0 = cpu_self(), cpu_of(estate.server), time.perf_counter()
    ids = await asyncio.gather(*(one(start) for start in starts))
    wall = time.perf_counter() - wall0
    worker_cpu, server_cpu = cpu_self() - cpu0, cpu_of(estate.server) - server0
    history = await estate.client.get_workflow_handle(ids[0]).fetch_history()
    return Run(name, len(starts), wall, latencies, worker_cpu, server_cpu, len(history.events))


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


async def burst(estate: BenchEstate, sagas: int, activities: int, deal_ids: list[str]) -> list[Run]:
    """Baseline then saga, `sagas` of each started at once."""
    base = await measure(
        f"baseline ({activities} no-op activities)", estate, [estate.baseline(activities) for _ in range(sagas)]
    )
    saga = await measure("customer-to-cash saga", estate, [estate.saga(d) for d in deal_ids])
    return [base, saga]
