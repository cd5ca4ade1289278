"""A subscription billed on Chargebee (UK01 configured `billing: chargebee`): the saga starts its lifecycle like any
other, and the first renewal, which the Chargebee connector does not do yet, parks the lifecycle with billing's
`unsupported` code for finance instead of failing it or billing the period in Stripe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from tests.support.emulators import Emulators
from tests.support.lifecycle import LifecycleEstate, adopt, lifecycle_estate, skip_to, status_of
from tests.support.polling import eventually
from tests.support.sagas import GBP_DEAL
from workflows.subscription_messages import LifecycleStatus, PeriodState

UK_ON_CHARGEBEE = {"UK01": {"billing": "chargebee", "erp": "xero"}}


@pytest.fixture
async def chargebee_lifecycle_env(
    lifecycle_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[LifecycleEstate]:
    emulators = Emulators()
    try:
        async with lifecycle_estate(
            lifecycle_server, emulators, task_queue, tmp_path, vendors_by_entity=UK_ON_CHARGEBEE
        ) as estate:
            yield estate
    finally:
        emulators.stop()


async def test_a_renewal_on_chargebee_parks_the_lifecycle_as_unsupported(
    chargebee_lifecycle_env: LifecycleEstate, lifecycle_server: WorkflowEnvironment, left_running: list[Any]
) -> None:
    estate, env = chargebee_lifecycle_env.estate, lifecycle_server
    today = (await env.get_current_time()).date()
    deal_id = await estate.closed_deal(replace(GBP_DEAL, key="LIFE-GBP-CB", close_date=today.isoformat()))
    saga = estate.client.get_workflow_handle((await estate.trigger.start(deal_id)).workflow_id)

    async def saga_done() -> bool:  # polled, not awaited: awaiting a result would let the server skip time
        return (await saga.describe()).status is WorkflowExecutionStatus.COMPLETED

    await eventually(saga_done, timeout=60)
    lifecycle = await adopt(estate, ids.subscription_id("salesforce", deal_id))
    left_running.append(lifecycle)
    status = await status_of(lifecycle)
    assert status is not None
    # Past the period's start and its grace: no webhook comes, the backstop asks Chargebee for the renewal.
    await skip_to(env, status.next_period_start + timedelta(days=1))

    async def parked() -> LifecycleStatus | None:
        now = await status_of(lifecycle)
        return now if now is not None and now.problem is not None else None

    parked_now = await eventually(parked, timeout=60)
    problem = parked_now.problem
    assert problem is not None
    assert (problem.system, problem.code, problem.error_type) == ("chargebee", "unsupported", "PermanentError")
    assert "renewal_invoices" in problem.message
    assert [p.state for p in parked_now.periods] == [PeriodState.BILLED]  # the saga's period stays billed
    assert (await lifecycle.describe()).status is WorkflowExecutionStatus.RUNNING  # parked, not failed
