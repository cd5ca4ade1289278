"""Throttling never spends an activity's attempts (issue 16): a worker on a rate-limited vendor's queue runs only as
many activities as the rate serves within the gate's wait (connectors/limits.activity_slots), so a burst far larger
than that waits in Temporal's task queue instead of being sent back by the gate (`rate_limited`, one attempt each).

Real Temporal, real HTTP to a Stripe emulator, the real gate on the SQL store; asserted on the histories' attempt
numbers and the emulator's request log, never on wall time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from connectors import kit
from connectors.limits import RateGate, activity_slots
from connectors.stripe.errors import classify
from sandbox.server import build_app
from settings import VendorLimit
from store import SqlRateBook, create_schema, make_engine
from tests.support.stripe import API_KEY
from tests.support.temporal import BUILD_ID
from workflows.policies import ACTIVITY_TIMEOUT, VENDOR_RETRY

CALLS = 60
LIMITS = {"stripe": VendorLimit(requests_per_second=20)}
# A short wait and horizon keep the test to a few seconds: 60 requests at 20/s take 3 s, longer than the wait, so a
# worker holding all 60 at once sends the back of its line back.
MAX_WAIT, HORIZON = 2.0, 0.2


class ListCustomers:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http, self._url = http, url

    @activity.defn(name="test.list_customers")
    async def list_customers(self) -> None:
        request = self._http.build_request(
            "GET", f"{self._url}/v1/customers", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        await kit.send(self._http, "stripe", request, classify)


@workflow.defn(sandboxed=False)
class ManyCalls:
    @workflow.run
    async def run(self, calls: int) -> None:
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    "test.list_customers", start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=VENDOR_RETRY
                )
                for _ in range(calls)
            )
        )


async def attempts(client: Any, slots: int | None, task_queue: str, tmp_path: Path, url: str) -> list[int]:
    """Run CALLS activities at once on a worker with `slots` activity slots under LIMITS; each one's last attempt."""
    engine = make_engine(f"sqlite:///{tmp_path / f'c2c-{slots}.db'}")
    create_schema(engine)
    async with httpx.AsyncClient(timeout=5) as vendor_http:
        kit.govern(vendor_http, RateGate(SqlRateBook(engine), LIMITS, max_wait=MAX_WAIT, horizon=HORIZON))
        async with Worker(
            client,
            build_id=BUILD_ID,
            task_queue=task_queue,
            workflows=[ManyCalls],
            activities=[ListCustomers(vendor_http, url).list_customers],
            max_concurrent_activities=slots,
        ):
            handle = await client.start_workflow(ManyCalls.run, CALLS, id=f"many-{task_queue}", task_queue=task_queue)
            await handle.result()
    return [
        e.activity_task_started_event_attributes.attempt
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]


async def test_a_burst_past_the_rate_waits_in_temporal_not_at_the_gate(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    own_server: Callable[[Any], Any],
    http: httpx.AsyncClient,
) -> None:
    url = str(own_server(build_app("stripe")).url)
    slots = activity_slots(LIMITS.values(), max_wait=MAX_WAIT)
    assert slots == 10, "20/s serves 10 requests in a quarter of the 2 s wait"

    tried = await attempts(temporal_env.client, slots, task_queue, tmp_path, url)

    assert len(tried) == CALLS
    assert set(tried) == {1}, f"attempts spent on throttling: {sorted(tried)[-5:]}"
    log = (await http.get(f"{url}/_sandbox/requests")).json()["requests"]
    assert len([r for r in log if r["path"] == "/v1/customers"]) == CALLS, "each call made one request"
