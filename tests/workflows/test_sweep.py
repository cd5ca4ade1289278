"""The missed-trigger sweep: with the CRM webhook dropped, a closed deal still gets its saga; repeats start nothing.

The watermark is seeded to the test's start so the sweep only sees this test's deals in the session-wide CRM.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from estate.book import GLOBEX, INITECH, DealSpec
from operations.schedules import ensure_schedules, reconciliation_schedule_id, revenue_schedule_id, sweep_schedule_id
from store import WatermarkRepository, session_scope
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually, next_whole_second
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage
from workflows.sweep import MissedDealSweep, SweepInput, SweepResult, watermark_name

OVERLAP = timedelta(seconds=2)


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path, http: Any
) -> AsyncIterator[Estate]:
    urls = all_emulators(emulators)
    # The CRM's closed-won callout goes nowhere: only the sweep can find the deal.
    (await http.post(f"{urls['salesforce']}/_sandbox/webhook", json={"url": None})).raise_for_status()
    async with running_estate(temporal_env, urls, task_queue, tmp_path) as estate:
        # The first sweep reads from `watermark - overlap` = a moment after every deal of earlier tests.
        seed_watermark(estate, await next_whole_second() + OVERLAP)
        yield estate


def seed_watermark(estate: Estate, value: datetime) -> None:
    with session_scope(estate.engine) as session:
        WatermarkRepository(session).advance(watermark_name("salesforce"), value)


async def sweep(estate: Estate) -> SweepResult:
    result: SweepResult = await estate.client.execute_workflow(
        MissedDealSweep.run,
        SweepInput(overlap=OVERLAP),
        id=f"test-sweep-{uuid.uuid4().hex[:8]}",
        task_queue=estate.settings.task_queue,
    )
    return result


def stored_watermark(estate: Estate) -> datetime | None:
    with session_scope(estate.engine) as session:
        return WatermarkRepository(session).get(watermark_name("salesforce"))


async def test_a_deal_whose_webhook_was_lost_is_started_by_the_sweep_and_a_second_sweep_starts_nothing(
    estate: Estate,
) -> None:
    deal_id = await estate.closed_deal(DealSpec("SWEEP-1", GLOBEX, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))]))
    saga_id = ids.saga_id("salesforce", deal_id)

    first = await sweep(estate)
    assert [(s.deal_id, s.workflow_id, s.outcome) for s in first.started] == [(deal_id, saga_id, "started")]
    assert (first.found, first.existing, first.refused) == (1, 0, [])
    result = await estate.client.get_workflow_handle_for(CustomerToCash.run, saga_id).result()
    assert result.outcome is Stage.COMPLETED
    assert stored_watermark(estate) == first.watermark

    second = await sweep(estate)
    assert second.since == first.watermark - OVERLAP  # read from the watermark, a little overlapped
    assert (second.found, second.started, second.existing) == (1, [], 1)  # seen again, left alone
    assert second.watermark >= first.watermark


async def test_a_deal_the_trigger_refuses_is_reported_and_the_sweep_goes_on(estate: Estate) -> None:
    bad = await estate.closed_deal(DealSpec("SWEEP-BRL", INITECH, "US01", "BRL", [("PLAT-SEAT", 1, Decimal("49.00"))]))
    result = await sweep(estate)
    assert result.started == []
    [refused] = result.refused
    assert (refused.deal_id, refused.outcome) == (bad, "refused")
    assert refused.detail.startswith("refused (invalid_deal)")  # the CRM's rule, not an HTTP status
    assert result.watermark > result.since  # the sweep moved on past it


async def test_the_sweep_schedule_runs_the_sweep(estate: Estate) -> None:
    settings = estate.settings
    # The schedule's sweep reads from `watermark - overlap` with the production overlap (15 minutes).
    seed_watermark(estate, await next_whole_second() + timedelta(minutes=15))
    spec = DealSpec("SWEEP-SCHED", GLOBEX, "US01", "USD", [("ANALYTICS", 1, Decimal("199.00"))])
    deal_id = await estate.closed_deal(spec)
    await ensure_schedules(estate.client, settings)
    handle = estate.client.get_schedule_handle(sweep_schedule_id(settings.task_queue))
    try:
        await handle.trigger()

        async def ran() -> str | None:
            actions = (await handle.describe()).info.recent_actions
            started = [a.action for a in actions if isinstance(a.action, ScheduleActionExecutionStartWorkflow)]
            return started[0].workflow_id if started else None

        run_id = await eventually(ran, timeout=15)
        swept: SweepResult = await estate.client.get_workflow_handle_for(MissedDealSweep.run, run_id).result()
        assert [s.deal_id for s in swept.started] == [deal_id]
        await estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id)).result()
    finally:
        revenue = [revenue_schedule_id(settings.task_queue, entity) for entity in ("US01", "DE01", "UK01")]
        for schedule_id in (sweep_schedule_id(settings.task_queue), reconciliation_schedule_id(settings.task_queue)):
            await estate.client.get_schedule_handle(schedule_id).delete()
        for schedule_id in revenue:
            await estate.client.get_schedule_handle(schedule_id).delete()
