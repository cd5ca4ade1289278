"""ensure_schedules on the real dev server: both schedules exist as configured, a repeat changes nothing, a settings
change updates them and an operator's pause survives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleDescription
from temporalio.testing import WorkflowEnvironment

from operations.schedules import (
    ensure_schedules,
    reconciliation_schedule_id,
    revenue_schedule_id,
    sweep_schedule_id,
)
from settings import Settings
from tests.support.polling import eventually
from workflows.revenue import RecognitionInput


@pytest.fixture
async def settings(temporal_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Settings]:
    settings = Settings(task_queue=task_queue, reconcile_cron="30 3 * * *", sweep_interval_minutes=15)
    yield settings
    revenue = [revenue_schedule_id(task_queue, entity) for entity in ("US01", "DE01", "UK01")]
    for schedule_id in (reconciliation_schedule_id(task_queue), sweep_schedule_id(task_queue), *revenue):
        await temporal_env.client.get_schedule_handle(schedule_id).delete()


async def describe(client: Client, settings: Settings) -> tuple[ScheduleDescription, ScheduleDescription]:
    return (
        await client.get_schedule_handle(reconciliation_schedule_id(settings.task_queue)).describe(),
        await client.get_schedule_handle(sweep_schedule_id(settings.task_queue)).describe(),
    )


async def test_both_schedules_are_created_as_configured_and_a_repeat_changes_nothing(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    await ensure_schedules(client, settings)
    nightly, sweep = await describe(client, settings)

    assert isinstance(nightly.schedule.action, ScheduleActionStartWorkflow)
    assert (nightly.schedule.action.workflow, nightly.schedule.action.task_queue) == (
        "Reconciliation",
        settings.task_queue,
    )
    assert all(moment.hour == 3 and moment.minute == 30 for moment in nightly.info.next_action_times)
    assert isinstance(sweep.schedule.action, ScheduleActionStartWorkflow)
    assert sweep.schedule.action.workflow == "MissedDealSweep"
    assert [i.every for i in sweep.schedule.spec.intervals] == [timedelta(minutes=15)]

    await ensure_schedules(client, settings)  # a second worker starting: nothing new, nothing changed
    again_nightly, again_sweep = await describe(client, settings)
    assert again_nightly.schedule.spec == nightly.schedule.spec
    assert again_sweep.schedule.spec == sweep.schedule.spec
    expected = sorted(
        [
            reconciliation_schedule_id(settings.task_queue),
            sweep_schedule_id(settings.task_queue),
            *(revenue_schedule_id(settings.task_queue, entity) for entity in ("DE01", "UK01", "US01")),
        ]
    )

    async def listed() -> list[str] | None:  # the schedule listing is eventually consistent
        ids = sorted([s.id async for s in await client.list_schedules() if s.id.startswith(settings.task_queue)])
        return ids if ids == expected else None

    assert await eventually(listed, timeout=10) == expected


async def test_new_settings_update_the_schedules_and_a_pause_survives(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    await ensure_schedules(client, settings)
    await client.get_schedule_handle(reconciliation_schedule_id(settings.task_queue)).pause(note="month-end close")

    changed = settings.model_copy(update={"sweep_interval_minutes": 5, "reconcile_cron": "0 4 * * *"})
    await ensure_schedules(client, changed)
    nightly, sweep = await describe(client, changed)
    assert [i.every for i in sweep.schedule.spec.intervals] == [timedelta(minutes=5)]
    assert nightly.schedule.state.paused
    assert nightly.schedule.state.note == "month-end close"
    assert all(moment.hour == 4 and moment.minute == 0 for moment in nightly.info.next_action_times)


async def test_each_legal_entity_has_a_monthly_revenue_recognition_schedule(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    await ensure_schedules(client, settings)

    for entity in ("US01", "DE01"):
        described = await client.get_schedule_handle(revenue_schedule_id(settings.task_queue, entity)).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == ("RevenueRecognition", settings.task_queue)
        # No month in the input: each run recognizes the month before it.
        [arg] = await client.data_converter.decode(action.args, [RecognitionInput])
        assert arg == RecognitionInput(legal_entity=entity)
        times = described.info.next_action_times
        assert all((t.day, t.hour, t.minute) == (1, 4, 0) for t in times)


def test_each_crm_served_has_its_own_sweep_and_the_default_keeps_its_id() -> None:
    from operations.schedules import sweep_schedule
    from workflows.sweep import SweepInput

    settings = Settings(_env_file=None, task_queue="q", crms="salesforce,hubspot")
    default, other = sweep_schedule(settings), sweep_schedule(settings, "hubspot")
    for schedule, crm, schedule_id in ((default, "salesforce", "q:missed-deal-sweep"), (other, "hubspot", None)):
        assert isinstance(schedule.action, ScheduleActionStartWorkflow)
        [args] = schedule.action.args
        assert isinstance(args, SweepInput)
        assert args.crm == crm
        assert schedule.action.id == (schedule_id or sweep_schedule_id("q", "hubspot"))
    assert sweep_schedule_id("q", "hubspot") == "q:missed-deal-sweep:hubspot"
