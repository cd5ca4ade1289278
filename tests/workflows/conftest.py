"""The vendor-less saga estate the saga-control and cancellation tests share (tests/support/fake_saga.py), and the
subscription lifecycle's estate on the time-skipping server with the emulators (tests/support/lifecycle.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.emulators import Emulators
from tests.support.fake_saga import FakeEstate, fake_saga_estate
from tests.support.lifecycle import LifecycleEstate, lifecycle_estate, stop
from tests.support.temporal import time_skipping_server


@pytest.fixture
async def saga_env(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[WorkflowEnvironment, FakeEstate, str]]:
    async with fake_saga_estate(time_skipping_env, task_queue, tmp_path) as env:
        yield env


@pytest.fixture
async def lifecycle_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own (about a second to start): workflows other tests left on the
    session's server (a parked saga's timer, an activity on a task queue whose worker is gone) would hold its clock
    while these tests skip months."""
    env = await time_skipping_server()
    yield env
    await env.shutdown()


@pytest.fixture
async def lifecycle_env(
    lifecycle_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[LifecycleEstate]:
    """Emulators of the test's own, like its server: the session's carry every other test's records, test clocks
    and webhook traffic, and the months these tests skip were minutes instead of seconds beside them."""
    emulators = Emulators()
    try:
        async with lifecycle_estate(lifecycle_server, emulators, task_queue, tmp_path) as estate:
            yield estate
    finally:
        emulators.stop()


@pytest.fixture
async def left_running() -> AsyncIterator[list[Any]]:
    """Workflow handles a test adds here are terminated after it if it left them running (e.g. on a failure)."""
    handles: list[Any] = []
    yield handles
    for handle in handles:
        await stop(handle)
