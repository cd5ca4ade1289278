"""The subscription lifecycle's end-to-end estate: the time-skipping server, the emulators over HTTP, the billing
customers on a Stripe test clock at the server's time and the trigger API receiving Stripe's webhooks; and the
steps its tests share (move the clock, wait for a period, adopt a lifecycle)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from temporalio.api.enums.v1 import EventType
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from cli.finance import chargebee_webhooks
from connectors.stripe import StripeBilling
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleInput, LifecycleStatus, PeriodState


@dataclass
class LifecycleEstate:
    estate: Estate
    clock_id: str
    hook: str  # the trigger API's Stripe webhook URL


@asynccontextmanager
async def lifecycle_estate(
    env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[LifecycleEstate]:
    async with running_estate(env, all_emulators(emulators), task_queue, tmp_path, **overrides) as estate:
        now = await env.get_current_time()
        clock = await estate.http.post(
            f"{estate.urls['stripe']}/v1/test_helpers/test_clocks",
            data={"frozen_time": str(int(now.timestamp())), "name": task_queue},
            headers=stripe_auth(estate),
        )
        clock.raise_for_status()
        billing = estate.connectors.billing
        assert isinstance(billing, StripeBilling)
        billing.test_clock = clock.json()["id"]
        chargebee = chargebee_webhooks(estate.connectors)  # an entity billing on Chargebee: its webhooks too
        app = create_api(estate.trigger, billing, estate.engine, estate.settings, chargebee=chargebee)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await eventually(lambda: asyncio.sleep(0, server.started))
        await webhooks(estate, f"{url}/webhooks/stripe")
        if chargebee is not None:
            await chargebee_hook(estate, f"{url}/webhooks/chargebee")
        try:
            yield LifecycleEstate(estate, clock.json()["id"], f"{url}/webhooks/stripe")
        finally:
            await webhooks(estate, None)
            if chargebee is not None:
                await chargebee_hook(estate, None)
            server.should_exit = True
            await serving


def stripe_auth(estate: Estate) -> dict[str, str]:
    return {"Authorization": f"Bearer {estate.settings.stripe_api_key.get_secret_value()}"}


async def webhooks(estate: Estate, url: str | None, **delivery: Any) -> None:
    secret = estate.settings.stripe_webhook_secret.get_secret_value()
    body = {"url": url, "secret": secret, **delivery} if url else {"url": None}
    (await estate.http.post(f"{estate.urls['stripe']}/_sandbox/webhook", json=body)).raise_for_status()


async def chargebee_hook(estate: Estate, url: str | None) -> None:
    body = {"url": url, "password": estate.settings.chargebee_webhook_password.get_secret_value()}
    (await estate.http.post(f"{estate.urls['chargebee']}/_sandbox/webhook", json=body)).raise_for_status()


async def advance(estate: Estate, clock_id: str, to: datetime) -> None:
    """Move the Stripe test clock (renewals, invoice.created webhooks) and wait until it is ready."""
    base = f"{estate.urls['stripe']}/v1/test_helpers/test_clocks/{clock_id}"
    answer = await estate.http.post(
        f"{base}/advance", data={"frozen_time": str(int(to.timestamp()))}, headers=stripe_auth(estate)
    )
    answer.raise_for_status()

    async def ready() -> bool:
        return (await estate.http.get(base, headers=stripe_auth(estate))).json()["status"] == "ready"

    await eventually(ready)


async def status_of(handle: WorkflowHandle[Any, Any]) -> LifecycleStatus | None:
    try:
        status: LifecycleStatus = await handle.query(SubscriptionLifecycle.status)
    except RPCError:  # a query can time out on a loaded machine (e.g. around continue-as-new): ask again
        return None
    return status


async def billed(handle: WorkflowHandle[Any, Any], period: int) -> LifecycleStatus:
    async def probe() -> LifecycleStatus | None:
        status = await status_of(handle)
        if status is None:
            return None
        done = [p for p in status.periods if p.number == period and p.state is PeriodState.BILLED]
        return status if done and status.next_period == period + 1 else None

    return await eventually(probe, timeout=120)


async def adopt(estate: Estate, lifecycle_id: str) -> WorkflowHandle[Any, Any]:
    """Run the saga's lifecycle child again as a top-level workflow with the same id and input: the time-skipping
    test server locks its clock for the session once an abandoned child closes by itself after its parent, and
    these tests let lifecycles end by themselves (the dev server has no such problem)."""
    child = estate.client.get_workflow_handle(lifecycle_id)
    history = await child.fetch_history()
    [started] = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]
    payloads = started.workflow_execution_started_event_attributes.input.payloads
    [args] = await estate.client.data_converter.decode(payloads, [LifecycleInput])
    await child.terminate("adopted by the test as a top-level workflow")
    return await estate.client.start_workflow(
        SubscriptionLifecycle.run, args, id=lifecycle_id, task_queue=estate.settings.task_queue
    )


async def stop(handle: WorkflowHandle[Any, Any]) -> None:
    """Terminate a lifecycle a test leaves running (after a failure): its next backstop would call an activity no
    worker serves any more, and the time-skipping server does not skip time while an activity is outstanding."""
    try:
        if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")
    except RPCError:
        pass


async def skip_to(env: WorkflowEnvironment, at: datetime, within: float = 120) -> None:
    """Move the time-skipping server's clock to `at`. Each skip is asked with a short deadline and, unanswered, asked
    again for what is left: on a loaded machine the server moves its clock but can answer the skip late or never
    (seen after a continue-as-new: each skip then waited out the SDK's 30 s deadline, a twelve-period test took four
    minutes instead of ten seconds)."""
    give_up = time.monotonic() + within
    while True:
        now = await env.get_current_time()
        if now >= at:
            return
        request = SleepRequest()
        request.duration.FromTimedelta(at - now)
        try:
            await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=timedelta(seconds=3))
        except RPCError:
            if time.monotonic() > give_up:
                raise
