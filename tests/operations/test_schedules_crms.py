"""The nightly reconciliation with two CRMs served (C2C_CRMS): ensure_schedules on the real dev server keeps one
Reconciliation schedule per CRM, each starting a run over its own CRM's deals at the same cron; the default CRM's
keeps the id it always had. A CRM no longer served loses its schedules (and only c2c's own), and `python -m reconcile
schedule` shows every CRM's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from rich.console import Console
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleIntervalSpec, ScheduleSpec
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from cli.reconcile import schedules_table
from operations.schedules import (
    ensure_schedules,
    kept_schedules,
    reconciliation_schedule_id,
    revenue_schedule_id,
    sweep_schedule_id,
)
from settings import Settings
from tests.support.polling import eventually
from workflows.reconciliation import ReconcileInput
from workflows.sweep import SweepInput


def LOOK_ALIKES(queue: str) -> list[str]:  # noqa: N802 - ids of schedules c2c did not make
    return [f"{queue}:reconciliation:pipedrive", f"{queue}:missed-deal-sweep:hubspot-eu"]


@pytest.fixture
async def settings(temporal_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Settings]:
    settings = Settings(_env_file=None, task_queue=task_queue, reconcile_cron="30 3 * * *", crms="salesforce,hubspot")
    yield settings
    handles = [
        reconciliation_schedule_id(task_queue),
        reconciliation_schedule_id(task_queue, "hubspot"),
        sweep_schedule_id(task_queue),
        sweep_schedule_id(task_queue, "hubspot"),
        reconciliation_schedule_id(task_queue, "salesforce"),
        sweep_schedule_id(task_queue, "salesforce"),
        *LOOK_ALIKES(task_queue),
        *(revenue_schedule_id(task_queue, entity) for entity in ("US01", "DE01", "UK01")),
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


async def ids_listed(client: Client, queue: str) -> set[str]:
    return {listed.id async for listed in await client.list_schedules() if listed.id.startswith(f"{queue}:")}


async def listed(client: Client, queue: str, wanted: set[str]) -> None:
    """Wait until the server's schedule list (its visibility store, which ensure_schedules reads) shows `wanted`."""

    async def shown() -> bool:
        return wanted <= await ids_listed(client, queue)

    await eventually(shown)


async def gone(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


async def test_a_crm_no_longer_served_loses_its_schedules_and_only_c2cs(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, queue = temporal_env.client, settings.task_queue
    await ensure_schedules(client, settings)
    # Two schedules with ids of the same pattern that c2c did not make: another workflow type; c2c's sweep, but
    # started under another id on another queue. Neither is touched.
    other = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])
    pipedrive, hubspot_eu = LOOK_ALIKES(queue)
    await client.create_schedule(
        pipedrive,
        Schedule(action=ScheduleActionStartWorkflow("PipedriveReport", id=pipedrive, task_queue=queue), spec=other),
    )
    await client.create_schedule(
        hubspot_eu,
        Schedule(
            action=ScheduleActionStartWorkflow(
                "MissedDealSweep", SweepInput(crm="hubspot-eu"), id="eu-sweep", task_queue="elsewhere"
            ),
            spec=other,
        ),
    )
    hubspot = {reconciliation_schedule_id(queue, "hubspot"), sweep_schedule_id(queue, "hubspot")}
    await listed(client, queue, hubspot | {pipedrive, hubspot_eu})

    # HubSpot becomes the default CRM: its runs move to the ids without a CRM, Salesforce gets `...:salesforce`.
    switched = settings.model_copy(update={"crm": "hubspot"})
    assert await ensure_schedules(client, switched) == sorted(hubspot)
    assert all([await gone(client, schedule_id) for schedule_id in hubspot])
    described = await client.get_schedule_handle(reconciliation_schedule_id(queue)).describe()
    assert isinstance(described.schedule.action, ScheduleActionStartWorkflow)
    [args] = await client.data_converter.decode(described.schedule.action.args, [ReconcileInput])
    assert args.crm == "hubspot"
    salesforce = {reconciliation_schedule_id(queue, "salesforce"), sweep_schedule_id(queue, "salesforce")}
    await listed(client, queue, salesforce)

    # Salesforce taken out of C2C_CRMS, two workers starting at once: its schedules go, once, and no error.
    alone = switched.model_copy(update={"crms": None})
    first, second = await asyncio.gather(ensure_schedules(client, alone), ensure_schedules(client, alone))
    assert set(first) | set(second) == salesforce
    assert all([await gone(client, schedule_id) for schedule_id in salesforce])
    for kept in (reconciliation_schedule_id(queue), sweep_schedule_id(queue), pipedrive, hubspot_eu):
        assert not await gone(client, kept)
    assert await ensure_schedules(client, alone) == []  # nothing left to delete


async def test_the_schedule_command_shows_every_crms_schedules(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, queue = temporal_env.client, settings.task_queue
    await ensure_schedules(client, settings)
    kept = {shown.schedule_id: shown for shown in await kept_schedules(client, settings)}
    assert {schedule_id: shown.serves for schedule_id, shown in kept.items() if shown.kind == "reconciliation"} == {
        f"{queue}:reconciliation": "CRM salesforce (default)",
        f"{queue}:reconciliation:hubspot": "CRM hubspot",
    }
    assert kept[f"{queue}:missed-deal-sweep:hubspot"].serves == "CRM hubspot"
    assert kept[f"{queue}:revenue-recognition:UK01"].serves == "entity UK01"
    assert all(len(shown.next_runs) == 3 and not shown.paused for shown in kept.values())

    console = Console(width=200, record=True)
    console.print(schedules_table(list(kept.values()), [f"{queue}:reconciliation:pipedrive"]))
    printed = console.export_text()
    assert f"{queue}:reconciliation:hubspot" in printed
    assert "CRM hubspot" in printed
    assert "a CRM no longer served" in printed
