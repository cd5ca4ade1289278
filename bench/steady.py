"""Steady load (open loop): workflows arrive at a fixed rate whatever the estate's progress, and each one's latency
runs from its scheduled arrival (the deal's close), so a slow start counts against the estate, not the bench.

Measured per workflow from its history: close -> ERP invoice posted (the completion of the saga's post-invoice
activity) and close -> cash applied (its apply-payment activity); for the baseline, the completion of the no-op
activity at the same position. Worker RSS (this process: the workers and the bench client) is sampled throughout."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from bench.baseline import NoopSaga
from bench.estate import BenchEstate
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaInput

Start = Callable[[int], Awaitable[WorkflowHandle[Any, Any]]]


@dataclass
class Steady:
    kind: str
    rate: float
    posted: list[float]  # close -> ERP invoice posted, seconds
    applied: list[float]  # close -> cash applied, seconds
    rss_mb: list[float] = field(default_factory=list)

    def p(self, values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]

    def cells(self) -> list[str]:
        return [f"{self.p(v, q) * 1000:.0f}" for v in (self.posted, self.applied) for q in (50, 95, 99)] + [
            f"{max(self.rss_mb):.0f}"
        ]


class RssSampler:
    """This process's resident memory every `every` seconds while it runs."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.samples = every, []  # type: ignore[var-annotated]
        self._process = psutil.Process(os.getpid())

    async def run(self) -> None:
        while True:
            self.samples.append(self._process.memory_info().rss / 2**20)
            await asyncio.sleep(self.every)


Marks = tuple[int | str, int | str]  # an activity by its position among the workflow's steps, or by its name


async def completed_at(handle: WorkflowHandle[Any, Any], marks: Marks) -> tuple[float, float]:
    """Epoch seconds at which the two activities `marks` names completed."""
    scheduled: dict[int, tuple[int, str]] = {}
    done: dict[int | str, float] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (len(scheduled), name)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            position, name = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            done[position] = done[name] = event.event_time.ToMicroseconds() / 1e6
    return done[marks[0]], done[marks[1]]


async def open_loop(kind: str, rate: float, count: int, start: Start, marks: Marks) -> Steady:
    """Start `count` workflows `1/rate` apart, wait for them all; latencies from each scheduled arrival."""
    sampler = RssSampler()
    sampling = asyncio.create_task(sampler.run())
    t0 = time.time() + 0.2
    arrivals = [t0 + n / rate for n in range(count)]

    async def arrive(n: int) -> tuple[float, float]:
        await asyncio.sleep(max(0.0, arrivals[n] - time.time()))
        handle = await start(n)
        await handle.result()
        posted, applied = await completed_at(handle, marks)
        return posted - arrivals[n], applied - arrivals[n]

    try:
        results = await asyncio.gather(*(arrive(n) for n in range(count)))
    finally:
        sampling.cancel()
    return Steady(kind, rate, [r[0] for r in results], [r[1] for r in results], sampler.samples)


def saga_start(estate: BenchEstate, deal_ids: list[str]) -> Start:
    async def start(n: int) -> WorkflowHandle[Any, Any]:
        return await estate.client.start_workflow(
            CustomerToCash.run, SagaInput(deal_id=deal_ids[n]), id=f"bench:{deal_ids[n]}", task_queue=estate.queue
        )

    return start


def baseline_start(estate: BenchEstate, activities: int, tag: str) -> Start:
    async def start(n: int) -> WorkflowHandle[Any, Any]:
        return await estate.client.start_workflow(
            NoopSaga.run, activities, id=f"noop:{tag}:{n}", task_queue=estate.noop_queue
        )

    return start


def flat(runs: list[Steady], tolerance: float) -> float | None:
    """The knee: the highest rate whose p95 (close -> cash applied) stays within `tolerance` x the lowest rate's."""
    if not runs:
        return None
    floor = runs[0].p(runs[0].applied, 95)
    knee = None
    for run in runs:
        if run.p(run.applied, 95) > tolerance * floor:
            break
        knee = run.rate
    return knee
