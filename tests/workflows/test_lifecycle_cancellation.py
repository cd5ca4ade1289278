"""A Temporal cancellation request on a subscription's lifecycle stops it between billing periods, never halfway
through one: a period being billed finishes (posted and applied) first. Time-skipping server, fake vendors.

The lifecycle is started directly here, not as the saga's abandoned child: the time-skipping test server locks its
clock for the session once an abandoned child closes after its parent (the dev server has no such problem).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from canonical import RenewalInvoice
from tests.support.fake_saga import FakeEstate, start_fake_lifecycle
from tests.support.polling import eventually
from workflows.interface import Names
from workflows.saga import Stage
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleStatus, PeriodState


async def stopped(handle: WorkflowHandle) -> LifecycleStatus:
    async def closed() -> LifecycleStatus | None:  # polled: awaiting the result would let the server skip time
        if (await handle.describe()).status is not WorkflowExecutionStatus.CANCELED:
            return None
        status: LifecycleStatus = await handle.query(SubscriptionLifecycle.status)
        return status

    status = await eventually(closed)
    assert status.stage is Stage.CANCELLED
    assert any(e.event == "stopped following the subscription" for e in status.timeline)
    return status


async def test_a_lifecycle_waiting_for_its_next_period_stops_on_a_cancellation_request(saga_env: Any) -> None:
    env, estate, queue = saga_env
    handle = await start_fake_lifecycle(env, queue, timedelta(days=30))
    await eventually(lambda: _stage_is(handle, Stage.WAITING))
    await handle.cancel()
    status = await stopped(handle)
    assert status.periods == []
    assert estate.calls == [Names.UPSERT_CONTRACT]  # its CRM contract (written first); nothing billed


async def test_a_period_being_billed_finishes_before_the_lifecycle_stops(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate: FakeEstate
    handle = await start_fake_lifecycle(env, queue, timedelta(0))
    started, release = estate.hold(Names.QUOTE_TAX)
    now = await env.get_current_time()
    period_start = (await handle.query(SubscriptionLifecycle.status)).next_period_start
    await handle.signal(
        SubscriptionLifecycle.renewal_invoiced,
        RenewalInvoice(
            invoice_id="in_2",
            subscription_id="sub_test",
            status="draft",
            period_start=period_start,
            period_end=period_start + timedelta(days=30),
        ),
    )
    await asyncio.wait_for(started.wait(), timeout=30)
    await handle.cancel()
    await asyncio.sleep(0.5)  # the request is in the history while the period's tax call is in flight
    release.set()
    status = await stopped(handle)
    [period] = status.periods
    assert period.state is PeriodState.BILLED
    assert {Names.POST_INVOICE, Names.COLLECT_PAYMENT, Names.APPLY_PAYMENT} <= set(estate.calls)
    noted = [e for e in status.timeline if e.event == "cancellation request not acted on"]
    assert len(noted) == 1
    assert "period 2 is being billed" in (noted[0].detail or "")
    assert now <= await env.get_current_time()


async def _stage_is(handle: WorkflowHandle, stage: Stage) -> bool:
    status: LifecycleStatus = await handle.query(SubscriptionLifecycle.status)
    return status.stage is stage
