"""The nightly reconciliation with two CRMs served (C2C_CRMS): ensure_schedules on the real dev server keeps one
Reconciliation schedule per CRM, each starting a run over its own CRM's deals at the same cron; the default CRM's
keeps the id it always had."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from operations.schedules import ensure_schedules, reconciliation_schedule_id, revenue_schedule_id, sweep_schedule_id
from settings import Settings
from workflows.reconciliation import ReconcileInput


@pytest.fixture
async def settings(temporal_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Settings]:
    settings = Settings(_env_file=None, task_queue=task_queue, reconcile_cron="30 3 * * *", crms="salesforce,hubspot")
    yield settings
    handles = [
        reconciliation_schedule_id(task_queue),
        reconciliation_schedule_id(task_queue, "hubspot"),
        sweep_schedule_id(task_queue),
        sweep_schedule_id(task_queue, "hubspot"),
        *(revenue_schedule_id(task_queue, entity) for entity in ("US01", "DE01")),
    ]
    for schedule_id in handles:
        with contextlib.suppress(RPCError):  # not created (the test failed before it): nothing to clean
            await temporal_env.client.get_schedule_handle(schedule_id).delete()


async def test_every_crm_served_gets_its_own_nightly_reconciliation(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    await ensure_schedules(client, settings)
    await ensure_schedules(client, settings)  # a second worker starting: still one schedule per CRM

    runs = {}
    for crm, schedule_id in (
        ("salesforce", f"{settings.task_queue}:reconciliation"),
        ("hubspot", f"{settings.task_queue}:reconciliation:hubspot"),
    ):
        described = await client.get_schedule_handle(schedule_id).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue, action.id) == ("Reconciliation", settings.task_queue, schedule_id)
        [args] = await client.data_converter.decode(action.args, [ReconcileInput])
        runs[crm] = args
        assert all(moment.hour == 3 and moment.minute == 30 for moment in described.info.next_action_times)
    assert {crm: args.crm for crm, args in runs.items()} == {"salesforce": "salesforce", "hubspot": "hubspot"}
    # Both read every entity's systems alike: only the CRM differs.
    assert runs["hubspot"].model_copy(update={"crm": "salesforce"}) == runs["salesforce"]


def test_a_single_crm_keeps_one_reconciliation_schedule_under_its_old_id() -> None:
    from operations.schedules import reconciliation_schedule

    settings = Settings(_env_file=None, task_queue="q")
    schedule = reconciliation_schedule(settings)
    assert isinstance(schedule.action, ScheduleActionStartWorkflow)
    [args] = schedule.action.args
    assert isinstance(args, ReconcileInput)
    assert (schedule.action.id, args.crm) == ("q:reconciliation", settings.crm)
    assert settings.every_crm() == [settings.crm]
    assert reconciliation_schedule_id("q", "hubspot") == "q:reconciliation:hubspot"
