"""Fixtures of the fuzz tests: one trigger API in-process for the webhook modules, recorders cleared before each test
(tests/support/fuzz_surface.py says how the cases run, tests/support/fuzzing.py how they are seeded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sandbox.server import EMULATORS
from tests.support.fuzz_surface import LIVE, Surface, serving


@pytest.fixture(autouse=True)
def _forget_earlier_calls() -> None:
    """Each test starts with empty recorders: a test that failed half-way must not fail the next one."""
    for live in LIVE:
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
