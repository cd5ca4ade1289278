"""How a saga runs its stages: parking on failures retries cannot fix, finance's decisions, bookkeeping.

The business process lives in customer_to_cash.py; this is the part any finance saga would share.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.hints as hints
    import workflows.policies as policies
    import workflows.search_attributes as search_attributes
    from workflows.calls import call_activity
    from workflows.saga import Problem, Resolution, ResolutionAction, SagaStatus, Stage, TimelineEntry

T = TypeVar("T")


def failure_of(err: ActivityError) -> dict[str, str]:
    """What a failed activity says for finance (system, code, message, error_type): the vendor's refusal from the
    error's details, or `unavailable` once retries ran out on a transient failure (the vendor is down, not refusing).
    The saga's Problem and a refund's are made of it."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], dict):
        info = cause.details[0]
        retried_out = cause.type in ("TransientError", "UncertainOutcome")
        return {
            "system": str(info.get("system", "?")),
            "code": "unavailable" if retried_out else str(info.get("code", "error")),
            "message": str(info.get("message", cause.message)),
            "error_type": cause.type or "ApplicationError",
        }
    return {
        "system": "c2c",
        "code": "unavailable",
        "message": str(cause or err),
        "error_type": type(cause or err).__name__,
    }


class Park(Exception):
    """Raised by a step that found a business problem without calling out (e.g. a deal rule)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class Cancelled(Exception):
    """Finance chose cancel-and-compensate: the `cancel` resolution, or a Temporal cancellation request (the
    UI's "Request Cancellation") that reached a cancellation point (SagaRuntime.checkpoint)."""


def refused(code: str, message: str) -> ApplicationError:
    """Why an update's validator refused finance's decision: the code stays readable in the Temporal UI (the payload
    codec keeps `DecisionRefused c2c/{code}` plaintext, `message` encrypted and decoded through the codec endpoint)."""
    return ApplicationError(
        message, {"system": "c2c", "code": code, "message": message}, type="DecisionRefused", non_retryable=True
    )


class SagaRuntime:
    """Stage runner and state every saga step uses; subclasses set `progress` in their __init__."""

    progress: SagaStatus

    def __init__(self, activity_timeout: timedelta = policies.ACTIVITY_TIMEOUT) -> None:
        self.activity_timeout = activity_timeout
        self.rounds: dict[Stage, int] = {}  # finance retries per stage
        self.running: Stage | None = None  # the stage `stage()` is running (progress.stage may say dunning)
        self.decision: Resolution | None = None
        self.cancel_refused: str | None = None  # why a cancellation request was not acted on (logged once)
        # Upsert only the search attributes that change (set_attributes); a workflow turns it on where its history
        # allows it (a patch, or an input only new starts carry), so histories recorded before replay unchanged.
        self.skip_unchanged_attributes = False

    def apply(self, resolution: Resolution) -> None:
        """Take in a retry's corrected data before the stage runs again (nothing to take by default)."""

    async def stage(self, stage: Stage, step: Callable[[], Awaitable[None]]) -> None:
        """Run a stage; on a failure that retries cannot fix, park and follow finance's decision."""
        self.running = stage
        while True:
            self.checkpoint()
            await self.enter(stage)
            try:
                await step()
                return
            except Park as park:
                problem = park.problem
            except ActivityError as err:
                problem = self.problem_from(stage, err)
            except asyncio.CancelledError:
                # A cancellation request interrupted a wait inside the step (e.g. concurrent calls): cancel here,
                # or, where it cannot cancel now, run the step again (steps skip what they already did).
                self.uncancel()
                continue
            resolution = await self.park(problem)
            if resolution.action is ResolutionAction.CANCEL:
                raise Cancelled()
            self.apply(resolution)
            self.rounds[stage] = self.rounds.get(stage, 0) + 1

    async def park(self, problem: Problem) -> Resolution:
        self.progress.problem = problem
        self.log(problem.stage, "parked", f"{problem.system}/{problem.code}: {problem.message}")
        self.progress.stage = Stage.NEEDS_ATTENTION
        # Shown on the workflow's page in the Temporal UI, where finance works the exception queue.
        workflow.set_current_details(
            f"**Needs attention** at stage `{problem.stage}`: {problem.system}/{problem.code}\n\n{problem.message}\n\n"
            + hints.action_hint(problem)
        )
        self.set_attributes(
            [
                search_attributes.STAGE.value_set(Stage.NEEDS_ATTENTION.value),
                search_attributes.EXCEPTION.value_set(problem.code),
            ]
        )
        try:
            await self.wait_for(lambda: self.decision is not None)
        except Cancelled:
            self.progress.problem = None
            self.set_attributes([search_attributes.EXCEPTION.value_unset()])
            raise
        resolution = self.require(self.decision)
        self.decision = None
        self.progress.problem = None
        self.set_attributes([search_attributes.EXCEPTION.value_unset()])
        return resolution

    @staticmethod
    def problem_from(stage: Stage, err: ActivityError) -> Problem:
        return Problem(stage=stage, **failure_of(err))

    async def enter(self, stage: Stage) -> None:
        self.progress.stage = stage
        workflow.set_current_details(f"stage `{stage}`")
        self.log(stage, "entered")
        self.set_attributes([search_attributes.STAGE.value_set(stage.value)])

    def set_attributes(self, updates: list[SearchAttributeUpdate[Any]]) -> None:
        """Upsert search attributes; with `skip_unchanged_attributes`, only those whose value changes. Each upsert
        is a history event and a visibility write, about 3 ms of the server's CPU on the dev server (issue 16), and
        the start often set the first values already (the trigger starts a saga at stage onboard with its legal
        entity and currency)."""
        if self.skip_unchanged_attributes:
            current = workflow.info().typed_search_attributes
            updates = [update for update in updates if current.get(update.key) != update.value]
            if not updates:
                return
        workflow.upsert_search_attributes(updates)

    async def wait_for(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> bool:
        """Wait until `condition` holds (True) or `timeout` passed (False). A wait is a cancellation point: a
        cancellation request ends it with Cancelled where the workflow can be cancelled, else it waits on."""
        deadline = None if timeout is None else workflow.now() + timeout
        while True:
            self.checkpoint()
            left = None if deadline is None else max(deadline - workflow.now(), timedelta(0))
            try:
                await workflow.wait_condition(condition, timeout=left)
                return True
            except TimeoutError:
                return False
            except asyncio.CancelledError:
                self.uncancel()

    # ---- cancellation: a Temporal cancellation request takes effect at a cancellation point -------------

    def cancel_refusal(self) -> str | None:
        """Why a cancellation request cannot stop this workflow now; None when it can (subclasses say when)."""
        return "this workflow does not stop on a cancellation request"

    def checkpoint(self) -> None:
        """A cancellation point: the start of a stage, a wait, or where a subclass calls it (e.g. before taking
        a payment). A request takes effect here, never halfway through a vendor call (`uninterrupted`), so
        every record the calls made is known to the undo steps."""
        reason = workflow.cancellation_reason()
        if reason is None:
            return
        refusal = self.cancel_refusal()
        if refusal is None:
            self.log(self.progress.stage, "cancellation requested", reason or "no reason given")
            raise Cancelled()
        if self.cancel_refused != refusal:
            self.cancel_refused = refusal
            self.log(self.progress.stage, "cancellation request not acted on", refusal)

    @staticmethod
    def uncancel() -> None:
        """The request was caught to be acted on at a cancellation point: clear it from the asyncio task so
        the next await does not raise it again."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()

    async def uninterrupted(self, work: Awaitable[T]) -> T:
        """Await `work` in its own task, so a cancellation request (delivered to the workflow's main task)
        cannot abandon it halfway: a vendor call in flight finishes and its result is recorded."""
        task = asyncio.ensure_future(work)
        while True:
            try:
                await asyncio.wait([task])
                return task.result()
            except asyncio.CancelledError:
                if task.done():  # the work itself was cancelled (the worker evicts the workflow)
                    raise
                self.uncancel()

    async def call(
        self,
        queue: str,
        name: str,
        arg: Any,
        result_type: Any = None,
        *,
        retry: RetryPolicy = policies.VENDOR_RETRY,
        calls: int = 1,
    ) -> Any:
        """Run an activity on `{this queue}-{queue}`; `calls` = vendor calls it makes (scales its timeout)."""
        return await self.uninterrupted(
            call_activity(queue, name, arg, result_type, timeout=self.activity_timeout * calls, retry=retry)
        )

    def key(self, step: str, *, per_round: bool = False) -> str:
        """Idempotency key `{workflow_id}:{step}`: stable across activity retries and worker crashes."""
        return f"{self.progress.workflow_id}:{self.step_of_round(step, per_round=per_round)}"

    def step_of_round(self, step: str, *, per_round: bool = False) -> str:
        """`step`, with `:r{n}` once finance has retried the running stage n times (when `per_round`)."""
        rounds = self.rounds.get(self.running, 0) if per_round and self.running else 0
        return f"{step}:r{rounds}" if rounds else step

    def ids(self, **ids: str) -> None:
        self.progress.external_ids.update(ids)

    def totals(self, **totals: int) -> None:
        self.progress.totals.update(totals)

    def log(self, stage: Stage, event: str, detail: str | None = None) -> None:
        self.progress.timeline.append(TimelineEntry(at=workflow.now(), stage=stage, event=event, detail=detail))

    @staticmethod
    def require(value: T | None) -> T:
        if value is None:
            raise ApplicationError("saga state missing a value an earlier stage should have set", non_retryable=True)
        return value
