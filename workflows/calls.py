"""How every workflow calls an activity: on the task queue of the system it talks to, by registered name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import workflows.policies as policies
    from workflows.interface import HUB_QUEUE, Names

# Writes to our own store that every saga step makes (the outbox event, the KPI fact): local activities in the
# workflow's own worker, which skip the activity task's round trip through the server (schedule, dispatch, start,
# complete, and a workflow task to see the result), about a third of a saga's activities (issue 16). Only for
# workflow runs that reach them after the change: the patch keeps earlier histories replaying.
LOCAL_HUB_WRITES = frozenset({Names.RECORD_EVENT, Names.RECORD_FACT})
LOCAL_HUB_PATCH = "hub-writes-as-local-activities"


def patched_before_local_write(patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, for a patch the workflow meets just after a local store write: decide it *before*
    the write, so its marker goes into the same workflow task as the write's.

    Decided after the write, the marker can land one workflow task later in the history: the worker sometimes
    completes a task with a local activity's result before handing that result to the workflow code (seen under
    load), and a replay (a worker restart, a cache eviction, a query on a closed saga) hands the result over within
    the earlier task, where the marker is not yet known: `patched` answers False and the replay fails with
    "Non-deprecated patch marker encountered" (docs/decisions.md, "a patch after a local activity"). Deciding it
    before the write is safe for recorded runs too: a local activity's marker is matched by its sequence number, not
    its place among the task's commands. Runs from before local store writes keep the call where it was."""
    if workflow.patched(LOCAL_HUB_PATCH):
        return workflow.patched(patch_id)
    return False


async def call_activity(
    queue: str,
    name: str,
    arg: Any,
    result_type: Any = None,
    *,
    timeout: timedelta,
    retry: RetryPolicy = policies.VENDOR_RETRY,
) -> Any:
    """Run activity `name` on `{this workflow's queue}-{queue}` (a `*_QUEUE` suffix of workflows.interface); the
    store writes of LOCAL_HUB_WRITES as local activities (the workflow worker registers them: runtime/workers.py)."""
    if queue == HUB_QUEUE and name in LOCAL_HUB_WRITES and workflow.patched(LOCAL_HUB_PATCH):
        return await workflow.execute_local_activity(
            name, arg, start_to_close_timeout=timeout, retry_policy=retry, result_type=result_type
        )
    return await workflow.execute_activity(
        name,
        arg,
        task_queue=f"{workflow.info().task_queue}-{queue}",
        start_to_close_timeout=timeout,
        retry_policy=retry,
        result_type=result_type,
    )
