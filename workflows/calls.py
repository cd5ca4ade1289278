"""How every workflow calls an activity: on the task queue of the system it talks to, by registered name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    import workflows.policies as policies
    from workflows.interface import HUB_QUEUE, Names

# Writes to our own store that every saga step makes (the outbox event, the KPI fact): local activities in the
# workflow's own worker, which skip the activity task's round trip through the server (schedule, dispatch, start,
# complete, and a workflow task to see the result), about a third of a saga's activities (issue 16). Only for
# workflow runs that reach them after the change: the patch keeps earlier histories replaying.
LOCAL_HUB_WRITES = frozenset({Names.RECORD_EVENT, Names.RECORD_FACT})
LOCAL_HUB_PATCH = "hub-writes-as-local-activities"
# The onboarding's other calls to our own side (issue 16, saga overhead): resolving the golden customer and linking
# its refs (one SQL transaction each) and the CustomerMaster signal-with-start (one Temporal call). Each is short
# and safe to repeat (resolution finds what an earlier attempt created, links are upserts, the master dedupes its
# notices), so a local activity's weaker guarantees (an attempt is re-run if the worker dies mid-task) cost
# nothing; a refusal (ambiguous customer, crosswalk conflict) still fails the call and parks the saga as before.
LOCAL_HUB_CUSTOMER_CALLS = frozenset({Names.RESOLVE_CUSTOMER, Names.LINK_REFS, Names.SYNC_CUSTOMER_MASTER})
# One patch for the saga's changes of issue 16 (each patch costs a marker and a search-attribute upsert of its
# own): these local calls, search attributes upserted only when they change, the lifecycle started with its
# attributes (workflows/customer_to_cash.py). The saga asks for it first thing, in its first workflow task.
SAGA_OVERHEAD_PATCH = "saga-fewer-server-round-trips"
# What the workflow worker must register (runtime/workers.py).
LOCAL_ACTIVITIES = LOCAL_HUB_WRITES | LOCAL_HUB_CUSTOMER_CALLS


def runs_locally(queue: str, name: str) -> bool:
    """Whether this call runs as a local activity; asks the patch only for the calls it is about, so a history
    recorded before it replays with the same markers."""
    if queue != HUB_QUEUE:
        return False
    if name in LOCAL_HUB_WRITES:
        return workflow.patched(LOCAL_HUB_PATCH)
    if name in LOCAL_HUB_CUSTOMER_CALLS:
        return workflow.patched(SAGA_OVERHEAD_PATCH)
    return False


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
    hub calls of LOCAL_ACTIVITIES as local activities (the workflow worker registers them: runtime/workers.py)."""
    if runs_locally(queue, name):
        try:
            return await workflow.execute_local_activity(
                name, arg, start_to_close_timeout=timeout, retry_policy=retry, result_type=result_type
            )
        except ActivityError:
            raise  # timed out or cancelled: the SDK reports those as an activity's failure already
        except FailureError as failure:
            # A local activity that fails for good raises its own failure (e.g. the ApplicationError of a refusal,
            # or of retries run out), where an activity raises ActivityError with it as the cause: wrap it the
            # same way, so a refusal parks the saga instead of failing the workflow.
            raise ActivityError(
                "local activity failed",
                scheduled_event_id=0,
                started_event_id=0,
                identity="",
                activity_type=name,
                activity_id="",
                retry_state=None,
            ) from failure
    return await workflow.execute_activity(
        name,
        arg,
        task_queue=f"{workflow.info().task_queue}-{queue}",
        start_to_close_timeout=timeout,
        retry_policy=retry,
        result_type=result_type,
    )
