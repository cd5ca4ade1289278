"""Metrics on the worker's Prometheus endpoint: Temporal's SDK metrics and the saga's business metrics.

Both go through one Temporal `Runtime` whose Prometheus server listens on `metrics_host:metrics_port`
(`/metrics`). Business metrics are recorded from workflow code through `workflow.metric_meter()`, which records
nothing while a workflow replays, so a worker restart or cache eviction never counts a stage twice.

| metric | labels | what |
|---|---|---|
| c2c_saga_stage_entries_total | stage | stage entries (needs_attention = parked); in-stage = entries - later stages |
| c2c_saga_stage_duration_seconds | stage | time spent in a stage, recorded when the saga leaves it |
| c2c_saga_exceptions_total | stage, system, code | sagas parked in the exception queue, by problem code |
| c2c_saga_duration_seconds | outcome | start to completed/cancelled |
| c2c_invoice_posting_latency_seconds | | saga start (deal closed) to the AR invoice posted in the ERP |
| c2c_payment_outcomes_total | source, outcome | payment attempts (collect) and webhook-reported outcomes |
| c2c_payment_applications_total | outcome | cash applied to the ERP invoice: applied / failed |
| c2c_outbox_pending | | business events in the outbox not yet on the broker (the publisher's view, each round) |
| c2c_outbox_lag_seconds | | age of the oldest of them: grows while NATS is down, 0 once drained |
| c2c_events_published_total | outcome | events the publisher put on the broker: published / duplicate (dedupe hit) |
| c2c_vendor_throttled_total | vendor | 429 answers from a vendor (each retried after its Retry-After) |
| c2c_usage_events_total | outcome, reason | usage events the API got: accepted / duplicate / refused (reason) |

Every business metric also carries Temporal's namespace, task_queue and workflow_type labels.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property

from temporalio.common import MetricCounter, MetricGauge, MetricGaugeFloat, MetricHistogramFloat, MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from settings import Settings

STAGE_ENTRIES = "c2c_saga_stage_entries_total"
STAGE_DURATION = "c2c_saga_stage_duration_seconds"
EXCEPTIONS = "c2c_saga_exceptions_total"
SAGA_DURATION = "c2c_saga_duration_seconds"
INVOICE_POSTING_LATENCY = "c2c_invoice_posting_latency_seconds"
PAYMENT_OUTCOMES = "c2c_payment_outcomes_total"
PAYMENT_APPLICATIONS = "c2c_payment_applications_total"
OUTBOX_PENDING = "c2c_outbox_pending"
OUTBOX_LAG = "c2c_outbox_lag_seconds"
EVENTS_PUBLISHED = "c2c_events_published_total"
VENDOR_THROTTLED = "c2c_vendor_throttled_total"
USAGE_EVENTS = "c2c_usage_events_total"

# Sagas run from seconds (a card payment) to weeks (dunning, a parked saga waiting for finance).
DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400]


def runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on `metrics_host:metrics_port`; None when `metrics_port` is
    unset (the SDK's default runtime, no endpoint). Pass it to `Client.connect(runtime=...)`; the port is bound
    as soon as the runtime exists, so only the worker process should make one."""
    if not settings.metrics_port:
        return None
    prometheus = PrometheusConfig(
        bind_address=f"{settings.metrics_host}:{settings.metrics_port}",
        histogram_bucket_overrides={
            name: DURATION_BUCKETS for name in (STAGE_DURATION, SAGA_DURATION, INVOICE_POSTING_LATENCY)
        },
    )
    # Core would label every metric service_name="temporal-core-sdk"; ours names the service instead (one label:
    # Prometheus refuses a scrape with a label twice).
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=prometheus, global_tags={"service_name": settings.service_name}, attach_service_name=False
        )
    )


class SagaMetrics:
    """The business metrics of one workflow run, on its replay-safe meter (`workflow.metric_meter()`)."""

    def __init__(self, meter: MetricMeter) -> None:
        self.meter = meter

    def stage_entered(self, stage: str) -> None:
        self._stage_entries.add(1, {"stage": stage})

    def stage_left(self, stage: str, seconds: float) -> None:
        self._stage_duration.record(max(seconds, 0.0), {"stage": stage})

    def parked(self, stage: str, system: str, code: str) -> None:
        self._exceptions.add(1, {"stage": stage, "system": system, "code": code})

    def finished(self, outcome: str, seconds: float) -> None:
        self._saga_duration.record(max(seconds, 0.0), {"outcome": outcome})

    def invoice_posted(self, seconds: float) -> None:
        self._invoice_posting.record(max(seconds, 0.0))

    def payment_outcome(self, source: str, outcome: str) -> None:
        self._payment_outcomes.add(1, {"source": source, "outcome": outcome})

    def payment_applied(self, outcome: str) -> None:
        self._payment_applications.add(1, {"outcome": outcome})

    # Instruments are made on first use: most workflow runs never record some of them.

    @cached_property
    def _stage_entries(self) -> MetricCounter:
        return self.meter.create_counter(STAGE_ENTRIES, "saga stage entries")

    @cached_property
    def _stage_duration(self) -> MetricHistogramFloat:
        return self.meter.create_histogram_float(STAGE_DURATION, "time spent in a saga stage", "s")

    @cached_property
    def _exceptions(self) -> MetricCounter:
        return self.meter.create_counter(EXCEPTIONS, "sagas parked for finance, by problem code")

    @cached_property
    def _saga_duration(self) -> MetricHistogramFloat:
        return self.meter.create_histogram_float(SAGA_DURATION, "saga start to its end", "s")

    @cached_property
    def _invoice_posting(self) -> MetricHistogramFloat:
        return self.meter.create_histogram_float(
            INVOICE_POSTING_LATENCY, "deal closed (saga start) to AR invoice posted in the ERP", "s"
        )

    @cached_property
    def _payment_outcomes(self) -> MetricCounter:
        return self.meter.create_counter(PAYMENT_OUTCOMES, "payment attempts and reported outcomes")

    @cached_property
    def _payment_applications(self) -> MetricCounter:
        return self.meter.create_counter(PAYMENT_APPLICATIONS, "cash applications to ERP invoices")


class OutboxMetrics:
    """The outbox publisher's metrics (worker side, not workflow code: `Runtime.metric_meter`, or noop)."""

    def __init__(self, meter: MetricMeter | None = None) -> None:
        self.meter = meter or MetricMeter.noop
        self._pending: MetricGauge = self.meter.create_gauge(OUTBOX_PENDING, "events waiting for the broker")
        self._lag: MetricGaugeFloat = self.meter.create_gauge_float(OUTBOX_LAG, "oldest unpublished event's age", "s")
        self._published: MetricCounter = self.meter.create_counter(EVENTS_PUBLISHED, "events put on the broker")

    def lag(self, pending: int, seconds: float) -> None:
        self._pending.set(pending)
        self._lag.set(seconds)

    def published(self, duplicate: bool) -> None:
        self._published.add(1, {"outcome": "duplicate" if duplicate else "published"})


class VendorMetrics:
    """What the vendors' rate limits do to us (connectors/limits.py; worker side: `Runtime.metric_meter`, or noop)."""

    def __init__(self, meter: MetricMeter | None = None) -> None:
        meter = meter or MetricMeter.noop
        self._throttled: MetricCounter = meter.create_counter(VENDOR_THROTTLED, "429 answers from a vendor")

    def throttled(self, vendor: str) -> None:
        self._throttled.add(1, {"vendor": vendor})


class UsageMetrics:
    """Usage events as the trigger API answered them (API side: the meter of its client's runtime, or noop).
    `tally` keeps the same counts in the process, for its status answers and tests."""

    def __init__(self, meter: MetricMeter | None = None) -> None:
        self.meter = meter or MetricMeter.noop
        self._events: MetricCounter = self.meter.create_counter(USAGE_EVENTS, "usage events received, by outcome")
        self.tally: Counter[tuple[str, str]] = Counter()

    def received(self, outcome: str, reason: str = "") -> None:
        self._events.add(1, {"outcome": outcome, "reason": reason})
        self.tally[(outcome, reason)] += 1
