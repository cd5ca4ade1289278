"""The whole estate for saga tests: emulators over HTTP, connectors, a SQLite store, workers on a fresh queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import _Definition as WorkflowDefinition

from connectors.factory import Connectors, build_connectors
from connectors.kit import tls_context
from connectors.salesforce import SalesforceCrm
from estate.book import AccountSpec, DealSpec
from estate.deals import seed_deal
from operations.starts import Trigger
from runtime.workers import build_workers
from sandbox.server import EMULATORS
from settings import Settings
from store import create_schema, make_engine
from tests.support.netsuite import SETTINGS as NETSUITE_SETTINGS
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaStatus


@dataclass
class Estate:
    client: Client
    settings: Settings
    connectors: Connectors
    engine: Engine
    urls: dict[str, str]
    http: httpx.AsyncClient
    suffix: str  # makes this test's CRM keys unique in the session-wide emulators

    @property
    def crm(self) -> SalesforceCrm:
        assert isinstance(self.connectors.crm, SalesforceCrm)
        return self.connectors.crm

    @property
    def trigger(self) -> Trigger:
        return Trigger.from_settings(self.client, self.connectors.crm, self.engine, self.settings)

    def unique(self, spec: DealSpec) -> DealSpec:
        """The same deal under keys no other test uses."""
        account: AccountSpec = replace(spec.account, key=f"{spec.account.key}-{self.suffix}")
        return replace(spec, key=f"{spec.key}-{self.suffix}", account=account)

    async def closed_deal(self, spec: DealSpec) -> str:
        return await seed_deal(self.crm, self.unique(spec), close=True)

    async def state(self, system: str) -> dict[str, Any]:
        response = await self.http.get(f"{self.urls[system]}/_sandbox/state")
        response.raise_for_status()
        return response.json()

    async def fault(self, system: str, **rule: Any) -> None:
        response = await self.http.post(f"{self.urls[system]}/_sandbox/faults", json=rule)
        response.raise_for_status()

    async def status(self, handle: WorkflowHandle[Any, Any]) -> SagaStatus:
        return await handle.query(CustomerToCash.status)


class ValidatedOnce(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner, validating each workflow class once per process. A worker validates every class
    it hosts when it starts (importing its modules into a fresh sandbox): a test session starts hundreds of estates
    for the same seven classes, and that validation was most of each estate's start (0.67 of 0.8 s of CPU)."""

    def __init__(self) -> None:
        super().__init__()
        self._validated: set[type] = set()

    def prepare_workflow(self, defn: WorkflowDefinition) -> None:
        if defn.cls not in self._validated:
            super().prepare_workflow(defn)
            self._validated.add(defn.cls)


WORKFLOW_RUNNER = ValidatedOnce()


@asynccontextmanager
async def running_estate(
    env: WorkflowEnvironment,
    emulator_urls: dict[str, str],
    task_queue: str,
    tmp_path: Path,
    client: Client | None = None,
    **overrides: Any,
) -> AsyncIterator[Estate]:
    """Workers on `task_queue` of the session's server; `client` overrides env.client (e.g. encrypting)."""
    client = client or env.client
    settings = Settings(
        task_queue=task_queue,
        salesforce_url=emulator_urls["salesforce"],
        stripe_url=emulator_urls["stripe"],
        chargebee_url=emulator_urls["chargebee"],
        avatax_url=emulator_urls["avatax"],
        netsuite_url=emulator_urls["netsuite"],
        xero_url=emulator_urls.get("xero", Settings.model_fields["xero_url"].default),
        database_url=f"sqlite:///{tmp_path}/c2c.db",
        **{"payload_keys_file": None, **NETSUITE_SETTINGS, **overrides},  # never a developer's var/ keys
    )
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10, verify=tls_context()))
        for worker in build_workers(client, task_queue, connectors, engine, settings, WORKFLOW_RUNNER):
            await stack.enter_async_context(worker)
        try:
            yield Estate(client, settings, connectors, engine, emulator_urls, http, uuid.uuid4().hex[:8])
        finally:
            await connectors.close()
            engine.dispose()


def all_emulators(emulators: Any) -> dict[str, str]:
    return {name: emulators.url(name) for name in EMULATORS}
