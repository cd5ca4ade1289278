"""Recorded histories of every workflow replay against today's workflow code (no non-determinism)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.support.histories import HISTORIES, workflow_of


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
        "subscription_lifecycle_amended_and_cancelled",
        "subscription_lifecycle_renewed_and_lapsed",
        "subscription_lifecycle_cancelled_in_billing",
        "subscription_lifecycle_prorations_at_once",
        "revenue_recognition_posted",
        "refund_finance_partial",
        "usage_reporting_late",
        "refund_parked_then_retried",
        "customer_to_cash_local_hub_writes",
        "customer_to_cash_fewer_round_trips",
        "customer_master_one_read_per_queued_account",
        "subscription_lifecycle_started_with_attributes",
        "customer_to_cash_lifecycle_patch_first",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    workflow_class = workflow_of(path)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure!r}"
