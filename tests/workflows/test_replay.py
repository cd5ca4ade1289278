"""Recorded histories of the full saga replay against today's workflow code (no non-determinism)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.customer_to_cash import CustomerToCash

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_checked_in() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "customer_to_cash_completed",
        "customer_to_cash_parked_then_corrected",
        "customer_to_cash_compensated",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[CustomerToCash], data_converter=pydantic_data_converter)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    await replayer.replay_workflow(history)
