"""The vendor-less saga estate the saga-control and cancellation tests share (tests/support/fake_saga.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.fake_saga import FakeEstate, fake_saga_estate


@pytest.fixture
async def saga_env(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[WorkflowEnvironment, FakeEstate, str]]:
    async with fake_saga_estate(time_skipping_env, task_queue, tmp_path) as env:
        yield env
