"""A vendor's 429 with Retry-After (issue 16): the activity retries after exactly that delay, the call then succeeds,
and the throttle is counted in `c2c_vendor_throttled_total{vendor}`.

Asserted on the history (the retried attempt's number and the failure's next_retry_delay), never on wall time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.billing import BillingActivities
from connectors import kit
from connectors.limits import RateGate
from connectors.routing import ByVendor
from connectors.stripe import StripeBilling
from observability.metrics import VENDOR_THROTTLED, VendorMetrics
from sandbox.server import build_app
from settings import VendorLimit
from store import SqlRateBook, create_schema, make_engine
from tests.support.stripe import API_KEY
from tests.support.temporal import BUILD_ID
from workflows.interface import CreateBillingCustomer, Names
from workflows.policies import ACTIVITY_TIMEOUT, VENDOR_RETRY


@workflow.defn(sandboxed=False)
class CreateOneCustomer:
    @workflow.run
    async def run(self, args: CreateBillingCustomer) -> str:
        return str(
            await workflow.execute_activity(
                Names.CREATE_BILLING_CUSTOMER,
                args,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=VENDOR_RETRY,
            )
        )


async def test_a_429_retries_after_its_retry_after_and_is_counted(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    own_server: Callable[[Any], Any],
    http: httpx.AsyncClient,
) -> None:
    url = str(own_server(build_app("stripe")).url)
    throttle = {"method": "POST", "path_prefix": "/v1/customers", "kind": "status", "status": 429}
    throttle |= {"headers": {"Retry-After": "2"}, "body": {"error": {"type": "rate_limit", "message": "slow down"}}}
    (await http.post(f"{url}/_sandbox/faults", json=throttle)).raise_for_status()

    buffer = MetricBuffer(100)
    meter = Runtime(telemetry=TelemetryConfig(metrics=buffer)).metric_meter
    engine = make_engine(f"sqlite:///{tmp_path / 'c2c.db'}")
    create_schema(engine)
    async with httpx.AsyncClient(timeout=5) as vendor_http:
        limits = {"stripe": VendorLimit(requests_per_second=50)}
        kit.govern(vendor_http, RateGate(SqlRateBook(engine), limits, on_throttled=VendorMetrics(meter).throttled))
        activities = BillingActivities(
            ByVendor("billing", {"stripe": StripeBilling(vendor_http, url, API_KEY)}, "stripe")
        )
        async with Worker(
            temporal_env.client,
            build_id=BUILD_ID,
            task_queue=task_queue,
            workflows=[CreateOneCustomer],
            activities=[activities.create_customer],
        ):
            handle = await temporal_env.client.start_workflow(
                CreateOneCustomer.run,
                CreateBillingCustomer(golden_id="gc_throttled", legal_name="Throttled Ltd", idempotency_key="k-429"),
                id=f"throttled-{task_queue}",
                task_queue=task_queue,
            )
            customer_id = await handle.result()

    assert customer_id.startswith("cus_")
    started = [
        e.activity_task_started_event_attributes
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert [s.attempt for s in started] == [2]  # one retry, then success
    failure = started[0].last_failure.application_failure_info
    assert failure.type == "TransientError"
    assert failure.next_retry_delay.ToTimedelta() == timedelta(seconds=2)  # exactly the Retry-After
    counted = [u for u in buffer.retrieve_updates() if u.metric.name == VENDOR_THROTTLED]
    assert [(u.value, u.attributes["vendor"]) for u in counted] == [(1, "stripe")]
