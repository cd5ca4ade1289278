"""The recorded workflow histories in tests/workflows/histories/ and the workflow class each one replays against."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workflows.customer_master import CustomerMaster
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import Reconciliation
from workflows.refund import Refund
from workflows.revenue import RevenueRecognition
from workflows.subscription import SubscriptionLifecycle
from workflows.sweep import MissedDealSweep
from workflows.usage import UsageReporting

HISTORY_DIR = Path(__file__).resolve().parents[1] / "workflows" / "histories"
HISTORIES = sorted(HISTORY_DIR.glob("*.json"))
# A history's file name starts with its workflow's module name.
WORKFLOWS: dict[str, Any] = {
    "customer_to_cash_": CustomerToCash,
    "customer_master_": CustomerMaster,
    "reconciliation_": Reconciliation,
    "missed_deal_sweep_": MissedDealSweep,
    "subscription_lifecycle_": SubscriptionLifecycle,
    "revenue_recognition_": RevenueRecognition,
    "refund_": Refund,
    "usage_reporting_": UsageReporting,
}


def workflow_of(path: Path) -> Any:
    matches = [cls for prefix, cls in WORKFLOWS.items() if path.stem.startswith(prefix)]
    assert len(matches) == 1, f"{path.name}: name it after its workflow ({', '.join(WORKFLOWS)}…)"
    return matches[0]


async def record_history(handle: Any, name: str) -> None:
    """`C2C_RECORD_HISTORY=1 pytest <test>` refreshes the replay tests' history `name` from the workflow `handle`."""
    if os.environ.get("C2C_RECORD_HISTORY"):
        (HISTORY_DIR / f"{name}.json").write_text((await handle.fetch_history()).to_json())
