"""The bench's estate: its own Temporal dev server (in memory, headless) and sandbox as child processes on free
ports, the c2c workers and the baseline's worker in this process, and the deals seeded in the CRM emulator.

The sandbox has zero injected latency and its own process, so this process's CPU is the workers' (and the bench
client's) and the sandbox's CPU is not counted against c2c."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Worker

from bench.baseline import NoopSaga, noop
from codec import data_converter
from connectors.factory import Connectors, build_connectors
from connectors.salesforce import SalesforceCrm
from estate.book import DEALS
from estate.deals import seed_deal
from estate.netsuite_key import netsuite_key
from estate.processes import temporal_binary
from runtime.workers import build_workers
from sandbox.server import EMULATORS
from settings import Settings, VendorLimit
from store import create_schema, make_engine
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaInput, Stage

SYSTEMS = ("salesforce", "stripe", "avatax", "netsuite", "xero")


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
class BenchEstate:
    client: Client
    settings: Settings
    connectors: Connectors
    engine: Engine
    queue: str
    server: psutil.Process
    sandbox: psutil.Process
    admin: httpx.AsyncClient  # the bench's own HTTP (seeding, the emulators' admin endpoints): never rate-limited
    seeded: int = 0
    books: dict[str, tuple[str, str]] = field(default_factory=dict)  # deal id -> (legal entity, currency)
    workers: list[Worker] = field(default_factory=list)  # the c2c workers running now
    stack: AsyncExitStack | None = None  # what stops them (and the estate) at the end

    async def limit_workers(self, limits: Mapping[str, VendorLimit]) -> dict[str, int | None]:
        """Restart the per-system activity workers as a deployment configured with `limits` runs them (each queue's
        activity slots sized from its vendors' rates: runtime/workers.queue_slots); the workflow worker keeps
        running. The bench switches the limits on for the backlog's drain only. The slots per queue."""
        assert self.stack is not None
        settings = self.settings.model_copy(update={"rate_limits": dict(limits)})
        for old in [w for w in self.workers if w.config()["task_queue"] != self.queue]:
            await old.shutdown()  # before its successor is built; its context's exit at the end is then a no-op
            self.workers.remove(old)
        fresh = build_workers(self.client, self.queue, self.connectors, self.engine, settings, with_workflows=False)
        for worker in fresh:
            self.workers.append(await self.stack.enter_async_context(worker))
        return {
            w.config()["task_queue"].removeprefix(f"{self.queue}-"): w.config().get("max_concurrent_activities")
            for w in fresh
        }

    @property
    def noop_queue(self) -> str:
        return f"{self.queue}-noop"

    def url(self, system: str) -> str:
        return str(getattr(self.settings, f"{system}_url"))

    async def seed(self, count: int, *, fresh: bool = False) -> list[str]:
        """`count` closed-won deals that complete (the book's deals that do not park), 8 seeded at a time; `fresh`:
        only monthly ones, each for a customer of its own."""
        crm = SalesforceCrm(
            self.admin,
            self.settings.salesforce_url,
            self.settings.salesforce_client_id,
            self.settings.salesforce_client_secret.get_secret_value(),
        )
        # The bench starts sagas itself (not through the trigger, which picks each entity's vendors), so only the
        # deals of entities on the default vendors (UK01 books in Xero: its sagas would park on NetSuite).
        default = self.settings.vendors_for("")
        completing = [
            s
            for s in DEALS
            if s.expect_park is None
            and self.settings.vendors_for(s.legal_entity) == default
            and (not fresh or s.billing_period == "Monthly")
        ]
        first, self.seeded = self.seeded, self.seeded + count
        gate = asyncio.Semaphore(8)

        async def one(n: int) -> str:
            async with gate:
                spec = completing[n % len(completing)]
                if fresh:  # a customer of its own (the book's customers repeat, and billing reuses them)
                    a = spec.account
                    account = replace(
                        a, key=f"{a.key}-B{n}", name=f"{a.name} B{n}", tax_id=a.tax_id and f"{a.tax_id}B{n}"
                    )
                    spec = replace(spec, account=account)
                deal_id = await seed_deal(crm, replace(spec, key=f"B{n}"), close=True)
                self.books[deal_id] = (spec.legal_entity, spec.currency)
                return deal_id

        return list(await asyncio.gather(*(one(n) for n in range(first, first + count))))

    def saga(self, deal_id: str) -> Callable[[], Awaitable[str]]:
        """Start a deal's saga as the trigger starts it (operations/starts.py: at stage onboard, with its legal
        entity and currency as search attributes) and wait for its result; the workflow id."""
        entity, currency = self.books[deal_id]
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(search_attributes.STAGE, Stage.ONBOARD.value),
                SearchAttributePair(search_attributes.LEGAL_ENTITY, entity),
                SearchAttributePair(search_attributes.CURRENCY, currency),
            ]
        )

        async def run() -> str:
            workflow_id = f"bench:{deal_id}"
            await self.client.execute_workflow(
                CustomerToCash.run,
                SagaInput(deal_id=deal_id),
                id=workflow_id,
                task_queue=self.queue,
                search_attributes=attributes,
            )
            return workflow_id

        return run

    def baseline(self, activities: int) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            workflow_id = f"noop:{uuid.uuid4().hex}"
            await self.client.execute_workflow(NoopSaga.run, activities, id=workflow_id, task_queue=self.noop_queue)
            return workflow_id

        return run

    async def requests_served(self, system: str) -> list[dict[str, Any]]:
        answer = await self.admin.get(f"{self.url(system)}/_sandbox/requests")
        answer.raise_for_status()
        return list(answer.json()["requests"])

    async def forget_requests(self) -> None:
        for system in SYSTEMS:
            (await self.admin.delete(f"{self.url(system)}/_sandbox/requests")).raise_for_status()


@asynccontextmanager
async def bench_estate() -> AsyncIterator[BenchEstate]:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="c2c-bench-")))
        # Every emulator the sandbox serves gets a free port (one left on its default could clash with a demo).
        temporal_port, ports = free_port(), {name: free_port() for name in EMULATORS}
        server_proc = subprocess.Popen(
            [temporal_binary(), "server", "start-dev", "--headless", "--port", str(temporal_port)]
            + ["--log-level", "error"]
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
            if sandbox.poll() is not None:
                raise SystemExit(f"the sandbox exited with {sandbox.returncode}")
        # The SDK core warns of every slow workflow task: on a saturated box (the knee and past it) that is the point.
        quiet = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter("ERROR", "ERROR"))))
        client = await Client.connect(f"127.0.0.1:{temporal_port}", data_converter=data_converter(None), runtime=quiet)
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]  # pydantic-settings init option
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
        workers = [
            await stack.enter_async_context(worker)
            for worker in build_workers(client, queue, connectors, engine, settings)
        ]
        await stack.enter_async_context(
            Worker(client, task_queue=f"{queue}-noop", workflows=[NoopSaga], activities=[noop])
        )
        admin = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        yield BenchEstate(
            client,
            settings,
            connectors,
            engine,
            queue,
            psutil.Process(server_proc.pid),
            psutil.Process(sandbox.pid),
            admin,
            workers=workers,
            stack=stack,
        )
