"""Recorded histories of every workflow replay against today's workflow code (no non-determinism)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.customer_master import CustomerMaster
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import Reconciliation
from workflows.subscription import SubscriptionLifecycle
from workflows.sweep import MissedDealSweep

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
# A history's file name starts with its workflow's module name.
WORKFLOWS: dict[str, Any] = {
    "customer_to_cash_": CustomerToCash,
    "customer_master_": CustomerMaster,
    "reconciliation_": Reconciliation,
    "missed_deal_sweep_": MissedDealSweep,
    "subscription_lifecycle_": SubscriptionLifecycle,
}


def workflow_of(path: Path) -> Any:
    matches = [cls for prefix, cls in WORKFLOWS.items() if path.stem.startswith(prefix)]
    assert len(matches) == 1, f"{path.name}: name it after its workflow ({', '.join(WORKFLOWS)}…)"
    return matches[0]


def test_histories_are_checked_in() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "customer_to_cash_completed",
        "customer_to_cash_parked_then_corrected",
        "customer_to_cash_compensated",
        "customer_master_onboarding_sync",
        "reconciliation_with_repair",
        "missed_deal_sweep_finds_existing_sagas",
        "subscription_lifecycle_webhooks_and_backstop",
        "customer_to_cash_starts_lifecycle",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    workflow_class = workflow_of(path)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure!r}"
