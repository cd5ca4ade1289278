"""The recorded workflow histories in tests/workflows/histories/ and the workflow class each one replays against."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

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
    """`C2C_RECORD_HISTORY=1 pytest <test>` refreshes the replay tests' history `name` from the workflow `handle`.
    Every call checks the run's history replays whenever the worker completed its tasks: no patch decided after a
    local activity (patches_decided_after_local_activity)."""
    history = await handle.fetch_history()
    assert patches_decided_after_local_activity(history.events) == [], f"{name}: decide these patches earlier"
    if os.environ.get("C2C_RECORD_HISTORY"):
        (HISTORY_DIR / f"{name}.json").write_text(history.to_json())


PATCH_MARKER, LOCAL_ACTIVITY_MARKER = "core_patch", "core_local_activity"
TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


def patches_decided_after_local_activity(events: Sequence[HistoryEvent]) -> list[str]:
    """The patches whose marker a replay may not know in time: recorded after a local activity's marker in the same
    workflow task, or first in a task that the worker started right after one ending with a local activity's marker
    (the worker completed that task before handing the result over). Either way the marker depends on when the
    worker happened to complete the task; a patch decided before the local activity is recorded before its marker
    in the same task, whichever way that went (workflows/calls.py, patched_before_local_write)."""
    found: list[str] = []
    local_in_task = False  # a local activity's marker among this task's commands so far
    last_command_local = False  # the previous command recorded was a local activity's marker
    commands_in_task = 0
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            local_in_task, commands_in_task = False, 0
            continue
        if event.event_type in TASK_EVENTS:
            continue
        marker = (
            event.marker_recorded_event_attributes.marker_name
            if event.HasField("marker_recorded_event_attributes")
            else ""
        )
        if marker == PATCH_MARKER:
            patch_id = json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
            if local_in_task or (commands_in_task == 0 and last_command_local):
                found.append(patch_id)
        local_in_task = local_in_task or marker == LOCAL_ACTIVITY_MARKER
        last_command_local = marker == LOCAL_ACTIVITY_MARKER
        commands_in_task += 1
    return found
