"""The trigger API of the fuzz tests in-process, around a Temporal client that records what reaches it.

How the cases run: `create_api` is served in-process through `httpx.ASGITransport` (no socket, about a
millisecond a request) around the session's real Temporal dev server (`temporal_env`) and the session's
emulators over real HTTP (`emulators`): a webhook that passes its signature reaches the Salesforce or Stripe
emulator exactly as in production. "Nothing started or changed" is checked two ways: the trigger's client is
wrapped by `Recorder`, a client interceptor that sees every start, signal and update before it leaves the
process, and each test ends by counting the workflows on the surface's own task queue (no worker polls it, so
anything started there would still be there).
The store is SQLite; the one PostgreSQL-specific case (test_crm_webhook) runs when C2C_TEST_DATABASE_URL answers,
as under `make test`, and skips otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.client import (
    CancelWorkflowInput,
    Client,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    TerminateWorkflowInput,
    WorkflowUpdateHandle,
)
from temporalio.client import WorkflowHandle as _WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from connectors.factory import Connectors, build_connectors
from operations.starts import Trigger
from settings import Settings
from store import create_schema, make_engine
from tests.support.netsuite import SETTINGS as NETSUITE_SETTINGS

# ---- recording what the trigger asks Temporal to do ---------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One call the trigger's client made that could start or change a workflow."""

    kind: str  # start | signal | update | cancel | terminate
    workflow_id: str
    name: str | None = None


@dataclass
class Recorder(Interceptor):
    """A client interceptor keeping every start, signal, update, cancel and terminate, in order."""

    sent: list[Sent] = field(default_factory=list)

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Recording(next, self.sent)

    def clear(self) -> None:
        self.sent.clear()


class _Recording(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, sent: list[Sent]) -> None:
        super().__init__(next)
        self._sent = sent

    async def start_workflow(self, input: StartWorkflowInput) -> _WorkflowHandle[Any, Any]:
        self._sent.append(Sent("start", input.id, input.workflow))
        return await super().start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self._sent.append(Sent("signal", input.id, input.signal))
        await super().signal_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        self._sent.append(Sent("update", input.id, input.update))
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(self, input: StartWorkflowUpdateWithStartInput) -> Any:
        self._sent.append(Sent("start", input.start_workflow_input.id, input.start_workflow_input.workflow))
        return await super().start_update_with_start_workflow(input)

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        self._sent.append(Sent("cancel", input.id))
        await super().cancel_workflow(input)

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        self._sent.append(Sent("terminate", input.id))
        await super().terminate_workflow(input)


def recording_client(env: WorkflowEnvironment, recorder: Recorder) -> Client:
    """A client on the session's server whose calls `recorder` sees."""
    base = env.client
    return Client(
        base.service_client, namespace=base.namespace, data_converter=base.data_converter, interceptors=[recorder]
    )


async def exists(client: Client, workflow_id: str) -> bool:
    """Whether a workflow with this id exists (an id the server refuses as invalid cannot)."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return False
        raise
    return True


# ---- the trigger API in-process ------------------------------------------------------------------------------


@dataclass
class Surface:
    """The trigger API of one fuzz module, served in-process; `client` is the recording one it uses."""

    http: httpx.AsyncClient
    client: Client
    recorder: Recorder
    settings: Settings
    connectors: Connectors
    engine: Engine
    urls: dict[str, str]

    def __repr__(self) -> str:  # Hypothesis prints the fixtures of a failing case: keep that readable
        return f"Surface({self.task_queue})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis' pretty printer would list every field: the short repr instead."""
        printer.text(repr(self))

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue

    @property
    def token(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {plain(self.settings.api_token)}"}

    @property
    def crm_secret(self) -> str:
        return plain(self.settings.crm_webhook_secret)

    @property
    def stripe_secret(self) -> str:
        return plain(self.settings.stripe_webhook_secret)

    async def nothing_changed(self, *, signals_to_missing: bool = False) -> None:
        """The case started, updated, cancelled or terminated nothing. With `signals_to_missing`, signals are
        allowed only to workflows that do not exist (a billing event for a saga that is gone)."""
        sent, self.recorder.sent[:] = list(self.recorder.sent), []
        changes = [s for s in sent if s.kind != "signal"]
        assert not changes, f"invalid input reached Temporal: {changes}"
        signals = [s for s in sent if s.kind == "signal"]
        if not signals_to_missing:
            assert not signals, f"invalid input signalled workflows: {signals}"
        for signal in signals:
            assert not await exists(self.client, signal.workflow_id), f"invalid input signalled a live saga: {signal}"

    async def no_workflows_on_queue(self) -> None:
        """Server side: nothing was ever started on this surface's task queue."""
        count = await self.client.count_workflows(f"TaskQueue = '{self.task_queue}'")
        assert count.count == 0, f"{count.count} workflows were started on {self.task_queue}"

    async def still_serving(self) -> None:
        response = await self.http.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


def plain(secret: Any) -> str:
    """A setting's value whether it is a SecretStr or a plain str."""
    value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
    assert isinstance(value, str)
    return value


def fuzz_settings(urls: dict[str, str], database_url: str, **overrides: Any) -> Settings:
    return Settings(
        task_queue=f"fuzz-{uuid.uuid4().hex[:12]}",
        salesforce_url=urls["salesforce"],
        stripe_url=urls["stripe"],
        chargebee_url=urls["chargebee"],
        avatax_url=urls["avatax"],
        netsuite_url=urls["netsuite"],
        database_url=database_url,
        **{"payload_keys_file": None, **NETSUITE_SETTINGS, **overrides},  # never a developer's var/ keys
    )


@asynccontextmanager
async def serving(
    env: WorkflowEnvironment, urls: dict[str, str], database_url: str, **overrides: Any
) -> AsyncIterator[Surface]:
    """The trigger API around a recording client, the emulators at `urls` and a fresh store; no workers."""
    recorder = Recorder()
    client = recording_client(env, recorder)
    config = fuzz_settings(urls, database_url, **overrides)
    connectors = build_connectors(config)
    engine = make_engine(config.database_url)
    create_schema(engine)
    trigger = Trigger.from_settings(client, connectors.crm, engine, config)
    app = create_api(trigger, connectors.billing, engine, config)
    # raise_app_exceptions=False: a crash must come back as the 500 a real client would see, not as a test error
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://trigger.test", timeout=30) as http:
            surface = Surface(http, client, recorder, config, connectors, engine, urls)
            LIVE.append(surface)
            yield surface
    finally:
        LIVE[:] = [live for live in LIVE if live.recorder is not recorder]
        await connectors.close()
        engine.dispose()


# Surfaces being served, so the fuzz conftest can clear their recorders before each test.
LIVE: list[Surface] = []
