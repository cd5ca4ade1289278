"""`make bench`: sagas/second, latency, CPU and history size, beside a bare baseline measured in the same run.

The baseline is a workflow with as many no-op activities as one saga runs, on the same Temporal server,
with the same concurrency: the ratio saga/baseline is what c2c adds over Temporal itself. The sandbox runs
in its own process with zero injected latency, so this process's CPU is the worker's.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import psutil
import typer
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from bench.baseline import NoopSaga, noop
from codec import data_converter
from connectors.factory import build_connectors
from connectors.salesforce import SalesforceCrm
from estate.book import DEALS
from estate.deals import seed_deal
from estate.netsuite_key import netsuite_key
from estate.processes import temporal_binary
from runtime.workers import build_workers
from settings import Settings
from store import create_schema, make_engine
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaInput

console = Console(width=None if sys.stdout.isatty() else 140)
cli = typer.Typer(add_completion=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"port {port} did not open")


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


async def measure(name: str, client: Client, server: psutil.Process, starts: list[Callable[[], Awaitable[str]]]) -> Run:
    latencies: list[float] = []

    async def one(start: Callable[[], Awaitable[str]]) -> str:
        began = time.perf_counter()
        workflow_id = await start()
        latencies.append(time.perf_counter() - began)
        return workflow_id

    cpu0, server0, wall0 = cpu_self(), cpu_of(server), time.perf_counter()
    ids = await asyncio.gather(*(one(start) for start in starts))
    wall = time.perf_counter() - wall0
    worker_cpu, server_cpu = cpu_self() - cpu0, cpu_of(server) - server0
    history = await client.get_workflow_handle(ids[0]).fetch_history()
    return Run(name, len(starts), wall, latencies, worker_cpu, server_cpu, len(history.events))


async def bench(sagas: int) -> list[Run]:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="c2c-bench-")))
        temporal_port, ports = (
            free_port(),
            {name: free_port() for name in ("salesforce", "stripe", "avatax", "netsuite", "xero")},
        )
        server_proc = subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--headless",
                "--port",
                str(temporal_port),
                "--log-level",
                "error",
            ]
            + [arg for key in search_attributes.ALL for arg in ("--search-attribute", f"{key.name}=Keyword")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(server_proc.wait)
        stack.callback(server_proc.terminate)
        erp_key = netsuite_key(tmp)
        port_args = [a for n, p in ports.items() for a in (f"--{n}-port", str(p))]
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "sandbox", *port_args, *erp_key.sandbox_args("c2c-sandbox")],
            stdout=subprocess.DEVNULL,
        )
        stack.callback(sandbox.wait)
        stack.callback(sandbox.terminate)
        wait_port(temporal_port)
        for port in ports.values():
            wait_port(port)
        client = await Client.connect(f"127.0.0.1:{temporal_port}", data_converter=data_converter(None))
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            task_queue=queue,
            database_url=f"sqlite:///{tmp / 'c2c.db'}",
            payload_keys_file=None,  # measured without encryption
            salesforce_url=f"http://127.0.0.1:{ports['salesforce']}",
            stripe_url=f"http://127.0.0.1:{ports['stripe']}",
            avatax_url=f"http://127.0.0.1:{ports['avatax']}",
            netsuite_url=f"http://127.0.0.1:{ports['netsuite']}",
            xero_url=f"http://127.0.0.1:{ports['xero']}",  # UK01's deals (estate/book.py) book in Xero
            netsuite_client_id="c2c-sandbox",
            netsuite_certificate_id=erp_key.certificate_id,
            netsuite_private_key_file=str(erp_key.key_file),
        )
        connectors = build_connectors(settings)
        stack.push_async_callback(connectors.close)
        engine = make_engine(settings.database_url)
        create_schema(engine)
        for worker in build_workers(client, queue, connectors, engine, settings):
            await stack.enter_async_context(worker)
        await stack.enter_async_context(
            Worker(client, task_queue=f"{queue}-noop", workflows=[NoopSaga], activities=[noop])
        )

        async with httpx.AsyncClient(timeout=10) as http:
            crm = SalesforceCrm(
                http,
                settings.salesforce_url,
                settings.salesforce_client_id,
                settings.salesforce_client_secret.get_secret_value(),
            )
            completing = [spec for spec in DEALS if spec.expect_park is None]
            deal_ids = []
            with console.status(f"seeding {sagas + 2} deals"):
                for n in range(sagas + 2):
                    spec = completing[n % len(completing)]
                    deal_ids.append(await seed_deal(crm, replace(spec, key=f"B{n}"), close=True))

        def saga(deal_id: str) -> Callable[[], Awaitable[str]]:
            async def start() -> str:
                workflow_id = f"bench:{deal_id}"
                await client.execute_workflow(
                    CustomerToCash.run, SagaInput(deal_id=deal_id), id=workflow_id, task_queue=queue
                )
                return workflow_id

            return start

        # Warm-up (imports, connections, first workflow task) outside the measurement.
        await saga(deal_ids[0])()
        history = await client.get_workflow_handle(f"bench:{deal_ids[0]}").fetch_history()
        activities = sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)

        def baseline(n: int) -> Callable[[], Awaitable[str]]:
            async def start() -> str:
                workflow_id = f"noop:{queue}:{n}"
                await client.execute_workflow(NoopSaga.run, activities, id=workflow_id, task_queue=f"{queue}-noop")
                return workflow_id

            return start

        server = psutil.Process(server_proc.pid)
        await baseline(-1)()
        runs = [
            await measure(
                f"baseline ({activities} no-op activities)", client, server, [baseline(n) for n in range(sagas)]
            )
        ]
        runs.append(await measure("customer-to-cash saga", client, server, [saga(d) for d in deal_ids[1 : sagas + 1]]))
        return runs


@cli.command()
def main(
    sagas: int = typer.Option(40, help="sagas (and baseline workflows) per measurement, all started at once"),
) -> None:
    runs = asyncio.run(bench(sagas))
    table = Table(
        "run",
        "n",
        "per s",
        "p50 ms",
        "p99 ms",
        "worker CPU ms/saga",
        "server CPU ms/saga",
        "history events",
        title=f"c2c bench — {os.cpu_count()} cores, sandbox with zero injected latency",
    )
    for run in runs:
        table.add_row(*run.row())
    console.print(table)
    base, saga = runs
    console.print(
        f"saga/baseline: throughput {saga.sagas / saga.wall / (base.sagas / base.wall):.2f}x, "
        f"p50 latency {statistics.median(saga.latencies) / statistics.median(base.latencies):.2f}x, "
        f"worker CPU {saga.worker_cpu / base.worker_cpu:.2f}x, server CPU {saga.server_cpu / base.server_cpu:.2f}x"
    )
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    cli()
