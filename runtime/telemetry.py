"""The worker interceptor that feeds metrics and logs from sagas and gives activities their context.

Workflow side (deterministic, records nothing on replay):
- follows the saga's timeline (`progress.timeline`: stage entered, parked, resolution, …) from a helper task that
  wakes whenever the timeline grows, and turns each entry into business metrics (stage entries and durations,
  exceptions by code, saga duration) and a `workflow.logger` line with stage and event, never the entry's
  free-text detail (vendor messages and finance notes may quote customer data);
- watches the activities it starts for invoice posting latency and payment outcomes;
- tells each activity the saga's current stage in a `c2c-stage` header, and gives it the stage's Temporal priority
  (connectors/limits.py `priority_of`: a later stage of the chain is served first from a task queue's backlog,
  as it is at the vendors' request gate), unless the workflow set one itself; and the workflow's start in a
  `c2c-since` header, by which the gate serves older work first within a stage.

Activity side: binds the correlation id (workflow id), stage and system for the connectors (`X-Correlation-Id`,
span attributes) and for logs, and puts them on the RunActivity span.

Workflows need no code for any of this; a workflow without `progress.timeline` just gets the activity context.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from opentelemetry import trace
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import Priority
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from connectors.limits import priority_of
from observability import correlation
from observability.metrics import SagaMetrics
from workflows.interface import Names

STAGE_HEADER = "c2c-stage"
SINCE_HEADER = "c2c-since"  # the workflow's start (epoch s): connectors/limits.py serves older work's requests first
PAYMENT_SETTLED_SIGNAL = "payment_settled"
NEEDS_ATTENTION = "needs_attention"
TERMINAL_STAGES = frozenset({"completed", "cancelled"})
_log = logging.getLogger("c2c.activities")


class SagaTelemetry(Interceptor):
    """Pass to every `Worker(interceptors=[...])`; the tracing interceptor comes from the client."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityContext(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _SagaInbound


# ---- activities ---------------------------------------------------------------------------------------


class _ActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        stage, since = _header(input.headers.get(STAGE_HEADER)), _header(input.headers.get(SINCE_HEADER))
        stage = stage if isinstance(stage, str) else None
        since = float(since) if isinstance(since, int | float) else None
        # Activity queues are `{queue}-{system}` (crm, billing, tax, erp, hub).
        system = info.task_queue.rpartition("-")[2] or None
        span = trace.get_current_span()
        for key, value in (("c2c.correlation_id", info.workflow_id), ("c2c.stage", stage), ("c2c.system", system)):
            if value:
                span.set_attribute(key, value)
        with correlation.bound(correlation_id=info.workflow_id, stage=stage, system=system, since=since):
            started = time.monotonic()
            _log.debug("%s attempt %d started", info.activity_type, info.attempt)
            try:
                result = await super().execute_activity(input)
            except BaseException as error:
                # The type only: an error's message may quote what the vendor said about the customer.
                _log.debug("%s attempt %d failed: %s", info.activity_type, info.attempt, type(error).__name__)
                raise
            _log.debug("%s done in %.0f ms", info.activity_type, (time.monotonic() - started) * 1000)
            return result


def _header(payload: Payload | None) -> Any:
    """A header's value; None when absent, foreign or garbled (which must never fail the activity)."""
    if payload is None:
        return None
    try:
        return PayloadConverter.default.from_payloads([payload])[0]
    except Exception:  # noqa: BLE001 - see above
        return None


# ---- workflows ------------------------------------------------------------------------------------------


class _SagaInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.metrics = _LazyMetrics()
        super().init(_SagaOutbound(outbound, self.metrics))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        timeline = _Timeline.of(workflow.instance(), self.metrics)
        if timeline is None:
            return await super().execute_workflow(input)
        follower = asyncio.create_task(timeline.follow())
        try:
            result = await super().execute_workflow(input)
        except Exception:
            # Entries the run added in its last step. Not on BaseException: that is the worker evicting the run
            # from its cache, not the saga doing anything.
            follower.cancel()
            timeline.catch_up()
            raise
        follower.cancel()
        timeline.catch_up()
        return result

    async def handle_signal(self, input: HandleSignalInput) -> None:
        if input.signal == PAYMENT_SETTLED_SIGNAL and input.args:
            status = getattr(input.args[0], "status", None)
            if status is not None:
                self.metrics.get().payment_outcome("webhook", str(getattr(status, "value", status)))
        await super().handle_signal(input)


class _LazyMetrics:
    """The run's SagaMetrics, made on first use inside the workflow (the meter needs the workflow context)."""

    def __init__(self) -> None:
        self._metrics: SagaMetrics | None = None

    def get(self) -> SagaMetrics:
        if self._metrics is None:
            self._metrics = SagaMetrics(workflow.metric_meter())
        return self._metrics


class _SagaOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, metrics: _LazyMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        stage = _current_stage()
        if stage:
            input.headers = {**input.headers, STAGE_HEADER: PayloadConverter.default.to_payloads([stage])[0]}
            if input.priority == Priority.default:
                input.priority = Priority(priority_key=priority_of(stage))
        since = workflow.info().start_time.timestamp()
        input.headers = {**input.headers, SINCE_HEADER: PayloadConverter.default.to_payloads([since])[0]}
        handle = super().start_activity(input)
        watch = _ACTIVITY_OUTCOMES.get(input.activity)
        if watch is not None:
            handle.add_done_callback(lambda done: _outcome(done, watch, self.metrics.get()))
        return handle


def _current_stage() -> str | None:
    stage = getattr(getattr(workflow.instance(), "progress", None), "stage", None)
    return None if stage is None else str(getattr(stage, "value", stage))


Watch = Callable[[SagaMetrics, Any, BaseException | None], None]


def _outcome(done: asyncio.Future[Any], watch: Watch, metrics: SagaMetrics) -> None:
    if done.cancelled():
        return
    error = done.exception()
    watch(metrics, None if error is not None else done.result(), error)


def _payment_attempt(metrics: SagaMetrics, payment: Any, error: BaseException | None) -> None:
    if error is None:
        status = getattr(payment, "status", None)
        metrics.payment_outcome("collect", str(getattr(status, "value", status)))
    elif _is_business_refusal(error):
        metrics.payment_outcome("collect", "failed")  # a decline: the customer's failure, not ours
    else:
        metrics.payment_outcome("collect", "error")


def _payment_application(metrics: SagaMetrics, _: Any, error: BaseException | None) -> None:
    metrics.payment_applied("applied" if error is None else "failed")


def _invoice_posting(metrics: SagaMetrics, _: Any, error: BaseException | None) -> None:
    if error is None:
        metrics.invoice_posted((workflow.now() - workflow.info().workflow_start_time).total_seconds())


def _is_business_refusal(error: BaseException) -> bool:
    cause = error.cause if isinstance(error, ActivityError) else None
    return isinstance(cause, ApplicationError) and cause.type == "BusinessRuleError"


_ACTIVITY_OUTCOMES: dict[str, Watch] = {
    Names.COLLECT_PAYMENT: _payment_attempt,
    Names.APPLY_PAYMENT: _payment_application,
    Names.POST_INVOICE: _invoice_posting,
}


class _Timeline:
    """Follows a saga's timeline; each new entry becomes metrics and a log line (never on replay)."""

    def __init__(self, saga: Any, metrics: _LazyMetrics) -> None:
        self.saga = saga
        self.metrics = metrics
        self.seen = 0
        self.current: tuple[str, datetime] | None = None  # stage the saga is in, since when

    @classmethod
    def of(cls, saga: Any, metrics: _LazyMetrics) -> _Timeline | None:
        progress = getattr(saga, "progress", None)
        return cls(saga, metrics) if isinstance(getattr(progress, "timeline", None), list) else None

    def entries(self) -> list[Any]:
        timeline: list[Any] = self.saga.progress.timeline  # read each time: the saga may replace `progress`
        return timeline

    def grew(self) -> bool:
        return len(self.entries()) > self.seen

    async def follow(self) -> None:
        # Conditions are checked after every activation step, so this sees an entry in the activation that
        # added it (a park is counted while the saga waits, not when it is resolved).
        while True:
            await workflow.wait_condition(self.grew)
            self.catch_up()

    def catch_up(self) -> None:
        entries = self.entries()
        for entry in entries[self.seen :]:
            self.observe(entry)
        self.seen = len(entries)

    def observe(self, entry: Any) -> None:
        stage, event = str(getattr(entry.stage, "value", entry.stage)), str(entry.event)
        extra = {"c2c_stage": stage, "c2c_event": event}
        if event == "entered":
            self.enter(stage, entry.at)
            workflow.logger.info("stage %s entered", stage, extra=extra)
        elif event == "parked":
            system, code = self.problem_of(stage, entry)
            self.metrics.get().parked(stage, system, code)
            self.enter(NEEDS_ATTENTION, entry.at)
            workflow.logger.warning(
                "parked at %s: %s/%s", stage, system, code, extra={**extra, "c2c_system": system, "c2c_code": code}
            )
        elif event.startswith("resolution"):
            workflow.logger.info("%s", event, extra=extra)  # the action; who and why stay in the history
        else:
            workflow.logger.debug("%s", event, extra=extra)

    def enter(self, stage: str, at: datetime) -> None:
        metrics = self.metrics.get()
        if self.current is not None:
            left, since = self.current
            metrics.stage_left(left, (at - since).total_seconds())
        metrics.stage_entered(stage)
        self.current = (stage, at)
        if stage in TERMINAL_STAGES:
            metrics.finished(stage, (at - workflow.info().workflow_start_time).total_seconds())

    def problem_of(self, stage: str, entry: Any) -> tuple[str, str]:
        """(system, code) of a park: from the saga's problem, else from the entry's `system/code: …` detail."""
        problem = getattr(self.saga.progress, "problem", None)
        if problem is not None and str(getattr(problem.stage, "value", problem.stage)) == stage:
            return str(problem.system), str(problem.code)
        head = str(entry.detail or "").partition(":")[0]
        system, _, code = head.partition("/")
        return system or "unknown", code or "unknown"
