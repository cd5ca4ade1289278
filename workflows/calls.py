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
