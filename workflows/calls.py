"""How every workflow calls an activity: on the task queue of the system it talks to, by registered name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import workflows.policies as policies


async def call_activity(
    queue: str,
    name: str,
    arg: Any,
    result_type: Any = None,
    *,
    timeout: timedelta,
    retry: RetryPolicy = policies.VENDOR_RETRY,
) -> Any:
    """Run activity `name` on `{this workflow's queue}-{queue}` (a `*_QUEUE` suffix of workflows.interface)."""
    return await workflow.execute_activity(
        name,
        arg,
        task_queue=f"{workflow.info().task_queue}-{queue}",
        start_to_close_timeout=timeout,
        retry_policy=retry,
        result_type=result_type,
    )
