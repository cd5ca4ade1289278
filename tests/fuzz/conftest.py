"""Fixtures of the fuzz tests: the trigger API in-process, its Temporal client recording every call that could
start or change a workflow, and helpers for what every refusal must look like.

How the cases run: `create_api` is served in-process through `httpx.ASGITransport` (no socket, about a
millisecond a request) around the session's real Temporal dev server (`temporal_env`) and the session's
emulators over real HTTP (`emulators`): a webhook that passes its signature reaches the Salesforce or Stripe
emulator exactly as in production. "Nothing started or changed" is checked two ways: the trigger's client is
wrapped by `Recorder`, a client interceptor that sees every start, signal and update before it leaves the
process, and each test ends by counting the workflows on the surface's own task queue (no worker polls it, so
anything started there would still be there).

Seeds and profile. Hypothesis settings come from `fuzzing(n)`, never from a global profile (other test
packages use Hypothesis with their own settings):
- default (`C2C_FUZZ_PROFILE` unset or `ci`): derandomized, so every run tries the same examples (each test's
  seed is a hash of the test function) and CI is reproducible; n examples per test, about 3,300 in all, about
  60 s of CPU for the whole package (fixtures included) on 2 cores.
- `C2C_FUZZ_PROFILE=explore`: random seeds and ten times the examples, for a longer hunt on a workstation.
  A failure prints the falsifying example and a `@reproduce_failure(...)` blob; `pytest tests/fuzz
  --hypothesis-seed=N` replays a whole run with seed N.
No example database is written (`database=None`); Hypothesis' own cache in `.hypothesis/` ignores itself in git.
The store is SQLite; the one PostgreSQL-specific case (test_crm_webhook) runs when C2C_TEST_DATABASE_URL answers,
as under `make test`, and skips otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
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
from sandbox.server import EMULATORS
from settings import Settings
from store import create_schema, make_engine

PROFILE = os.environ.get("C2C_FUZZ_PROFILE", "ci")


def fuzzing(examples: int, *, shrink: bool = True) -> settings:
    """Hypothesis settings for one fuzz test: `examples` cases (ten times that when exploring).

    `shrink=False` for tests of known findings (xfail): their failure is expected, shrinking it only costs time."""
    explore = PROFILE == "explore"
    phases = [Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink, Phase.explain] if shrink else [])]
    return settings(
        max_examples=examples * 10 if explore else examples,
        phases=phases,
        report_multiple_bugs=shrink,  # a known finding (xfail) must fail with its own error, not an ExceptionGroup
        deadline=None,  # a case may wait on the emulators or Temporal; slowness is not what is tested here
        derandomize=not explore,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # fixtures are shared on purpose: each case cleans up after itself
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


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
        avatax_url=urls["avatax"],
        netsuite_url=urls["netsuite"],
        database_url=database_url,
        **{"payload_keys_file": None, **overrides},  # never a developer's var/payload-keys
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
            _LIVE.append(surface)
            yield surface
    finally:
        _LIVE[:] = [live for live in _LIVE if live.recorder is not recorder]
        await connectors.close()
        engine.dispose()


_LIVE: list[Surface] = []


@pytest.fixture(autouse=True)
def _forget_earlier_calls() -> None:
    """Each test starts with empty recorders: a test that failed half-way must not fail the next one."""
    for live in _LIVE:
        live.recorder.clear()


@pytest.fixture(scope="package")
async def surface(
    temporal_env: WorkflowEnvironment, emulators: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Surface]:
    """One trigger API for the webhook fuzz modules (each case leaves nothing behind but dedupe rows)."""
    urls = {name: emulators.url(name) for name in EMULATORS}
    database = tmp_path_factory.mktemp("fuzz") / "c2c.db"
    async with serving(temporal_env, urls, f"sqlite:///{database}") as api:
        yield api


# ---- signing and what a refusal must look like ------------------------------------------------------------


def signature(body: bytes, secret: str, at: float | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`: the CRM's and Stripe's scheme alike."""
    t = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def refused(response: httpx.Response, statuses: Iterable[int] | None = None) -> Any:
    """The JSON body of a 4xx (in `statuses` when given); a 5xx or any other answer fails the case."""
    text = response.text[:800]
    assert response.status_code < 500, f"server error {response.status_code} for bad input: {text}"
    assert 400 <= response.status_code, f"bad input accepted with {response.status_code}: {text}"
    if statuses is not None:
        assert response.status_code in set(statuses), f"{response.status_code}: {text}"
    return response.json()


def api_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The message of a refusal in the API's shape `{"error": code, "message": reason}`."""
    body = refused(response, [status])
    assert isinstance(body, dict), f"not an API error body: {body}"
    assert set(body) == {"error", "message"}, f"not an API error body: {body}"
    assert isinstance(body["error"], str), body
    assert isinstance(body["message"], str), body
    assert body["message"].strip(), body
    if code is not None:
        assert body["error"] == code, body
    return body["message"]


def names_one_of(text: str, *names: str) -> None:
    """The message names the field or header at fault (any of `names`, case-insensitive)."""
    lowered = text.lower()
    assert any(name.lower() in lowered for name in names), f"{text!r} names none of {names}"


# ---- shared strategies ------------------------------------------------------------------------------------

# Characters that trip parsers: NUL, a lone surrogate (valid in JSON as an escape), right-to-left override,
# fullwidth and mathematical letters, combining marks, an emoji with a zero-width joiner.
TRICKY_TEXT = st.sampled_from(
    ["\x00", "\ud800", "\u202e", "ＡＢＣ", "𝔘𝔫𝔦", "e\u0301", "👩\u200d💻", "'; DROP --", "${x}"]
)
# Long strings are drawn whole (not character by character): generating them is what would cost time.
HUGE_TEXT = st.sampled_from(["x" * 1000, "é" * 5000, "y" * 60_000])
TEXT = st.one_of(st.text(max_size=24), TRICKY_TEXT, HUGE_TEXT)
# Text that can travel in a URL or a header: a lone surrogate cannot be encoded by the client at all.
WIRE_TEXT = TEXT.filter(lambda t: "\ud800" not in t)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**30, -(10**40), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=5,
)


def body_of(value: Any) -> bytes:
    """JSON as a sender would put it on the wire (lone surrogates escaped, as JSON allows)."""
    return json.dumps(value).encode()
