"""Scale-out: the same burst of sagas with 1, 2, 4 … `worker.py` processes (real processes, started as the demo
starts its worker) against the bench's one Temporal dev server and sandbox; throughput, close -> cash applied,
CPU of the workers, the server and the sandbox, and which resource was the ceiling.

Each point gets a task queue of its own (so the previous point's workers, stopped by then, hold nothing of it),
its workers are warmed up (imports, connection pools, tokens, first workflow tasks) by one saga per process
before the measured burst, and every saga's history says which process ran each of its activity tasks (the
ActivityTaskStarted identity, `pid@host`): the proof that N processes shared the work."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import WorkflowHandle

from bench.backlog import LIMITS
from bench.burst import cpu_of, cpu_self
from bench.cpu import box_busy
from bench.estate import SYSTEMS, BenchEstate
from estate.processes import Estate
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import Names
from workflows.saga import SagaInput

WORKER = Path(__file__).resolve().parent.parent / "worker.py"
BUSY = 0.9  # a core (or the box's cores) at 90 % or more of the wall time counts as saturated
LIMIT_BOUND = 0.8  # a vendor served at 80 % of its limit on average over the burst: the limit is the ceiling
GAIN = 1.15  # a point that adds workers but not 15 % more throughput than the one before: scaling stopped there
# Vendor rates are read over 5 s: the limiter books each request's departure, and on a loaded box a process that
# gets its core late sends a few booked slots at once, which a 1 s window would show as a burst over the limit.
PEAK_WINDOW = 5.0


@dataclass
class Point:
    workers: int
    sagas: int
    wall: float
    cash: list[float]  # close (the burst's start) -> cash applied, seconds per saga
    cpu: dict[str, float]  # CPU seconds over the burst: workers, server, sandbox, bench (this process), box
    busiest: tuple[str, float]  # the one process of ours that used the most CPU, and its seconds
    activities: dict[int, int]  # activity tasks run, by worker process id (each of this point's workers listed)
    peaks: dict[str, float]  # by vendor: its request rate in the busiest `PEAK_WINDOW` seconds of the burst
    requests: dict[str, int]  # by vendor: the requests it served during the burst
    limited: bool = False  # the workers ran under the backlog's vendor limits

    @property
    def rate(self) -> float:
        return self.sagas / self.wall

    def cores(self, what: str) -> float:
        return self.cpu[what] / self.wall

    def ours(self) -> float:
        """Cores busy with our processes: workers, server, sandbox and the bench's client."""
        return self.cpu_per_saga() * self.sagas / self.wall

    def cpu_per_saga(self) -> float:
        """CPU seconds of ours per saga: what a saga costs whoever else is using the box."""
        return sum(self.cpu[k] for k in ("workers", "server", "sandbox", "bench")) / self.sagas

    def ceiling(self, cores: int) -> str:
        """Which resource bounded this point, from where its CPU went."""
        name, seconds = self.busiest
        bound = [
            (n / self.wall / limit.requests_per_second, v)
            for v, n in self.requests.items()
            if self.limited and (limit := LIMITS[v]).requests_per_second
        ]
        if bound and max(bound)[0] >= LIMIT_BOUND:
            share, vendor = max(bound)
            return f"vendor limit: {vendor} at {share:.0%} of its {LIMITS[vendor].requests_per_second:g}/s on average"
        if self.cores("box") >= BUSY * cores:
            return (
                f"CPU-bound: the box's {cores} cores busy ({self.cores('box'):.2f} of {cores}; "
                f"{self.ours():.2f} ours, the rest other processes)"
            )
        if seconds / self.wall >= BUSY:
            return f"one process at a full core: {name} ({seconds / self.wall:.2f} of a core, the GIL)"
        return (
            f"not CPU ({self.cores('box'):.2f} of {cores} cores busy, no process at a full core): "
            "waiting on round trips (server task dispatch, vendor HTTP)"
        )


def worker_env(estate: BenchEstate, queue: str, limited: bool) -> dict[str, str]:
    """The environment of a `worker.py` serving `queue` on the bench's server, sandbox and store; `limited`: under
    the backlog's per-vendor limits (shared by all the processes through the store), else none."""
    s = estate.settings
    settings = {
        "C2C_TEMPORAL_ADDRESS": estate.client.service_client.config.target_host,
        "C2C_TASK_QUEUE": queue,
        "C2C_DATABASE_URL": s.database_url,  # one store for all: the rate limiter's buckets and the hub's rows
        "C2C_PAYLOAD_KEYS_FILE": "",  # plaintext, as the bench's client reads it
        "C2C_METRICS_PORT": "0",  # N processes would fight over one port
        "C2C_LOG_LEVEL": "WARNING",  # one line per saga stage from N processes would cost CPU the table counts
        "C2C_NETSUITE_CLIENT_ID": s.netsuite_client_id,
        "C2C_NETSUITE_CERTIFICATE_ID": s.netsuite_certificate_id or "",
        "C2C_NETSUITE_PRIVATE_KEY_FILE": s.netsuite_private_key_file or "",
        "C2C_RATE_LIMITS": json.dumps(
            {v: limit.model_dump(exclude_none=True) for v, limit in LIMITS.items()} if limited else {}
        ),
    }
    for system in ("salesforce", "stripe", "avatax", "netsuite", "xero"):
        settings[f"C2C_{system.upper()}_URL"] = estate.url(system)
    return settings


def start_workers(estate: BenchEstate, count: int, queue: str, var: Path, limited: bool) -> Estate:
    workers = Estate(var=var)
    workers.env.update(worker_env(estate, queue, limited))
    try:
        for n in range(count):
            workers.start_python(f"worker-{n + 1}", [str(WORKER)], None)  # no port: it polls Temporal
    except BaseException:
        workers.stop()
        raise
    return workers


async def pollers(estate: BenchEstate, queue: str) -> set[str]:
    """The identities polling `queue`'s workflow tasks (each process polls with its own)."""
    answer = await estate.client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=estate.client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity for p in answer.pollers}


async def wait_polling(estate: BenchEstate, workers: Estate, queue: str, timeout: float = 120) -> None:
    """Until every worker process polls `queue` (its pid in a poller identity)."""
    pids = {str(p.pid) for _, p in workers.processes}
    deadline = time.monotonic() + timeout
    while {i.split("@")[0] for i in await pollers(estate, queue)} < pids:
        workers.check_alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker processes {sorted(pids)} did not all poll {queue} in {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def drop_schedules(estate: BenchEstate, queue: str) -> None:
    """Delete the schedules each worker process put in place for `queue` at its start (run_worker): the missed-deal
    sweep firing mid-burst (every 15 min, on the quarter hour) would start sagas of its own for the bench's deals,
    which the CRM shows as closed-won without one."""
    async for schedule in await estate.client.list_schedules():
        if schedule.id.startswith(f"{queue}:"):
            await estate.client.get_schedule_handle(schedule.id).delete()


async def start_sagas(estate: BenchEstate, deal_ids: list[str], queue: str) -> list[WorkflowHandle[Any, Any]]:
    return list(
        await asyncio.gather(
            *(
                estate.client.start_workflow(
                    CustomerToCash.run, SagaInput(deal_id=d), id=f"bench:{queue}:{d}", task_queue=queue
                )
                for d in deal_ids
            )
        )
    )


async def read_history(handle: WorkflowHandle[Any, Any]) -> tuple[float, Counter[int]]:
    """When cash was applied (epoch s), and the activity tasks run by each worker process id."""
    applied, by_pid = 0.0, Counter[int]()
    scheduled: dict[int, str] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            by_pid[int(event.activity_task_started_event_attributes.identity.split("@")[0])] += 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            if scheduled[attrs.scheduled_event_id] == Names.APPLY_PAYMENT:
                applied = event.event_time.ToMicroseconds() / 1e6
    return applied, by_pid


async def point(estate: BenchEstate, count: int, sagas: int, var: Path, limited: bool = False) -> Point:
    """One point: `count` worker processes, warmed up, then `sagas` sagas at once."""
    queue = f"{estate.queue}-w{count}{'-limited' if limited else ''}"
    deal_ids = await estate.seed(count + sagas)
    workers = start_workers(estate, count, queue, var / queue, limited)
    try:
        await wait_polling(estate, workers, queue)  # each process put its schedules in place before it polled
        await drop_schedules(estate, queue)
        await asyncio.gather(*(h.result() for h in await start_sagas(estate, deal_ids[:count], queue)))
        procs = {p.pid: psutil.Process(p.pid) for _, p in workers.processes}
        ours = {**{f"worker {pid}": p for pid, p in procs.items()}, "server": estate.server, "sandbox": estate.sandbox}
        before = {name: cpu_of(p) for name, p in ours.items()}
        await estate.forget_requests()
        box0, bench0 = box_busy(), cpu_self()
        began = time.time()
        handles = await start_sagas(estate, deal_ids[count:], queue)
        await asyncio.gather(*(h.result() for h in handles))
        wall = time.time() - began
        used = {name: cpu_of(p) - before[name] for name, p in ours.items()}
        box, bench = box_busy() - box0, cpu_self() - bench0
        workers.check_alive()
    finally:
        workers.stop()
    histories = await asyncio.gather(*(read_history(h) for h in handles))
    activities = {pid: 0 for pid in procs}
    for _, by_pid in histories:
        for pid, n in by_pid.items():
            activities[pid] = activities.get(pid, 0) + n
    cpu = {
        "workers": sum(v for k, v in used.items() if k.startswith("worker")),
        "server": used["server"],
        "sandbox": used["sandbox"],
        "bench": bench,
        "box": box,
    }
    busiest = max(used.items(), key=lambda kv: kv[1])
    served = {system: [r["arrived"] for r in await estate.requests_served(system)] for system in SYSTEMS}
    cash = [applied - began for applied, _ in histories]
    peaks = {system: peak(arrived, PEAK_WINDOW) / PEAK_WINDOW for system, arrived in served.items()}
    requests = {system: len(arrived) for system, arrived in served.items()}
    return Point(count, sagas, wall, cash, cpu, busiest, activities, peaks, requests, limited)


def peak(arrivals: list[float], window: float) -> int:
    """The most arrivals inside any `window` seconds."""
    arrivals, most, first = sorted(arrivals), 0, 0
    for last, at in enumerate(arrivals):
        while at - arrivals[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


async def scale(estate: BenchEstate, counts: list[int], sagas: int, limited: bool) -> list[Point]:
    with tempfile.TemporaryDirectory(prefix="c2c-scale-") as var:
        return [await point(estate, count, sagas, Path(var), limited) for count in counts]


def stopped_at(points: list[Point]) -> Point | None:
    """The first point whose added workers bought less than `GAIN` x the previous point's throughput."""
    for before, after in zip(points, points[1:], strict=False):
        if after.rate < GAIN * before.rate:
            return after
    return None


def cells(p: Point, first: Point) -> list[str]:
    q = statistics.quantiles(p.cash, n=20, method="inclusive") if len(p.cash) > 1 else p.cash * 19
    return [
        str(p.workers),
        str(p.sagas),
        f"{p.rate:.2f}",
        f"{p.rate / first.rate:.2f}x",
        f"{statistics.median(p.cash):.1f}",
        f"{q[18]:.1f}",
        f"{p.cpu['workers']:.1f}",
        f"{p.cpu['server']:.1f}",
        f"{p.cpu['sandbox']:.1f}",
        f"{p.ours():.2f} / {p.cores('box'):.2f}",
        f"{p.cpu_per_saga():.2f}",
        " ".join(str(n) for n in p.activities.values()),
    ]


HEADERS = (
    "workers",
    "sagas",
    "sagas/s",
    "vs first",
    "close->cash p50 s",
    "p95 s",
    "worker CPU s",
    "server CPU s",
    "sandbox CPU s",
    "cores busy: ours / box",
    "our CPU s/saga",
    "activity tasks per process",
)


def report(points: list[Point], console: Console, limited: bool) -> None:
    cores = os.cpu_count() or 1
    table = Table(
        *HEADERS,
        title=f"scale-out: one burst of {points[0].sagas} sagas per point, N worker.py processes, one Temporal "
        f"dev server, {cores} cores, {'under the backlog limits' if limited else 'no vendor limits'} "
        "(CPU over the burst; box = every process on the machine)",
    )
    for p in points:
        table.add_row(*cells(p, points[0]))
    console.print(table)
    for p in points:
        console.print(f"{p.workers} worker(s): {p.ceiling(cores)}")
    for p in points:
        console.print(
            f"{p.workers} worker(s), vendor requests/s in the busiest {PEAK_WINDOW:g} s: "
            + ", ".join(
                f"{v} {n:.1f}" + (f" (limit {LIMITS[v].requests_per_second:g})" if limited else "")
                for v, n in p.peaks.items()
                if n
            )
        )
    console.print(
        "on free cores the CPU per saga caps the rate at "
        + ", ".join(f"{cores / p.cpu_per_saga():.1f} sagas/s with {p.workers}" for p in points)
        + f" worker(s) ({cores} cores / our CPU s per saga; the server's share: "
        + ", ".join(f"{p.cpu['server'] / p.cpu_per_saga() / p.sagas:.0%}" for p in points)
        + ")"
    )
    stop = stopped_at(points)
    if stop is None:
        console.print(f"scaling held to {points[-1].workers} workers ({points[-1].rate / points[0].rate:.2f}x)")
    else:
        console.print(
            f"scaling stops at {stop.workers} workers ({stop.rate / points[0].rate:.2f}x the first point, less than "
            f"{GAIN}x the point before): {stop.ceiling(cores)}"
        )
