"""The Temporal Schedules c2c keeps in place: the nightly reconciliation, the missed-trigger sweep and the monthly
revenue recognition of each legal entity (`{queue}:revenue-recognition:{entity}`).

`ensure_schedules` creates them, or brings an existing one to the current settings (cron, interval, queue,
input) while keeping its state (an operator's pause stays paused), and deletes the per-CRM schedules this queue
has for a CRM no longer served (`drop_unserved`). It is idempotent, so every worker may call it at start. Schedule
ids are derived from the task queue: `c2c:reconciliation` and `c2c:missed-deal-sweep` with the default queue (the
default CRM's; each other CRM served has its own, `...:{crm}`); each run's workflow id is the schedule's id plus the
scheduled time. `kept_schedules` describes them all, each with what it serves (`python -m reconcile schedule`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from canonical.reference import REVENUE_ACCOUNTS
from settings import Settings
from workflows.reconciliation import ReconcileInput, Reconciliation
from workflows.revenue import RecognitionInput, RevenueRecognition
from workflows.sweep import MissedDealSweep, SweepInput


def reconciliation_schedule_id(task_queue: str, crm: str | None = None) -> str:
    """The default CRM's reconciliation keeps the id it had before two CRMs; another CRM's is `...:{crm}`."""
    return f"{task_queue}:reconciliation" + (f":{crm}" if crm else "")


def sweep_schedule_id(task_queue: str, crm: str | None = None) -> str:
    """The sweep of the default CRM keeps the id it had before two CRMs; another CRM's sweep is `...:{crm}`."""
    return f"{task_queue}:missed-deal-sweep" + (f":{crm}" if crm else "")


def reconciliation_schedule(settings: Settings, crm: str | None = None) -> Schedule:
    """Nightly (settings.reconcile_cron, UTC): report only; repairs are started by a person (`--repair`).
    `crm`: the CRM whose deals it reconciles (default: C2C_CRM); each CRM served has its own run, on its own
    schedule, at the same time (docs/decisions.md: one run per CRM)."""
    other = crm if crm and crm != settings.crm else None
    return Schedule(
        action=ScheduleActionStartWorkflow(
            Reconciliation.run,
            ReconcileInput(crm=crm or settings.crm, vendors_by_entity=settings.every_entitys_vendors()),
            id=reconciliation_schedule_id(settings.task_queue, other),
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(cron_expressions=[settings.reconcile_cron], time_zone_name="UTC"),
        # A night the server was down is made up once (catchup), never twice at once (skip overlaps).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=12)),
    )


def sweep_schedule(settings: Settings, crm: str | None = None) -> Schedule:
    """Every settings.sweep_interval_minutes; the overlap covers one interval so nothing falls between sweeps.
    `crm`: the CRM it asks for missed deals (default: C2C_CRM); each CRM served has its own sweep."""
    interval = timedelta(minutes=settings.sweep_interval_minutes)
    other = crm if crm and crm != settings.crm else None
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MissedDealSweep.run,
            SweepInput(crm=crm or settings.crm, overlap=max(interval, timedelta(minutes=15))),
            id=sweep_schedule_id(settings.task_queue, other),
            task_queue=settings.task_queue,
            execution_timeout=interval * 4,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=interval),
    )


def revenue_schedule_id(task_queue: str, legal_entity: str) -> str:
    return f"{task_queue}:revenue-recognition:{legal_entity}"


def revenue_schedule(settings: Settings, legal_entity: str) -> Schedule:
    """Monthly (settings.revenue_cron, UTC): the entity's month before the run. No month in the input, so each run
    takes its own; a run is idempotent by month and entity, so a catch-up or a manual run before it is harmless."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RevenueRecognition.run,
            RecognitionInput(legal_entity=legal_entity, erp=settings.vendors_for(legal_entity).erp),
            id=revenue_schedule_id(settings.task_queue, legal_entity),
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(cron_expressions=[settings.revenue_cron], time_zone_name="UTC"),
        # A month the server was down for its run is made up within a week (the books close later than that).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=7)),
    )


@dataclass(frozen=True)
class Wanted:
    """A schedule c2c keeps: its id, what it is for (`crm` / `entity`) and the schedule the settings ask for."""

    schedule_id: str
    kind: str
    schedule: Schedule
    crm: str | None = None
    entity: str | None = None

    @property
    def serves(self) -> str:
        return f"CRM {self.crm}" if self.crm else f"entity {self.entity}"


def wanted_schedules(settings: Settings) -> list[Wanted]:
    """Every schedule the settings ask for: a reconciliation and a sweep per CRM served (the default CRM's under the
    id it always had), a revenue recognition per legal entity with revenue accounts."""
    queue, default, others = settings.task_queue, settings.crm, settings.every_crm()[1:]
    return [
        Wanted(reconciliation_schedule_id(queue), "reconciliation", reconciliation_schedule(settings), crm=default),
        *(
            Wanted(
                reconciliation_schedule_id(queue, crm), "reconciliation", reconciliation_schedule(settings, crm), crm
            )
            for crm in others
        ),
        Wanted(sweep_schedule_id(queue), "missed-deal-sweep", sweep_schedule(settings), crm=default),
        *(
            Wanted(sweep_schedule_id(queue, crm), "missed-deal-sweep", sweep_schedule(settings, crm), crm)
            for crm in others
        ),
        *(
            Wanted(
                revenue_schedule_id(queue, entity),
                "revenue-recognition",
                revenue_schedule(settings, entity),
                entity=entity,
            )
            for entity in sorted(REVENUE_ACCOUNTS)
        ),
    ]


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create every schedule, or update it to `settings`, then delete the per-CRM schedules of CRMs no longer served;
    safe to call from every worker at every start. Returns the ids it deleted."""
    for wanted in wanted_schedules(settings):
        await _create_or_update(client, wanted.schedule_id, wanted.schedule)
    return await drop_unserved(client, settings)


# The per-CRM schedules: `{queue}:{kind}:{crm}` starts workflow type `{type}` with an input whose `crm` is the suffix.
PER_CRM: dict[str, tuple[str, type[BaseModel]]] = {
    "reconciliation": ("Reconciliation", ReconcileInput),
    "missed-deal-sweep": ("MissedDealSweep", SweepInput),
}


async def drop_unserved(client: Client, settings: Settings) -> list[str]:
    """Delete this queue's per-CRM schedules (`{queue}:reconciliation:{crm}`, `{queue}:missed-deal-sweep:{crm}`)
    whose CRM has no such schedule in `wanted_schedules` (taken out of C2C_CRMS, or now the default, whose runs
    are under the id without a CRM). Only what c2c made is touched: the id must fit the pattern and the schedule
    must start, on this queue and under its own id, the workflow of its kind for that CRM; anything else with a
    similar id is left alone. Two workers doing this at once: whichever comes second finds it gone."""
    queue = settings.task_queue
    pattern = re.compile(rf"{re.escape(queue)}:({'|'.join(map(re.escape, PER_CRM))}):([a-z][a-z0-9_-]*)")
    kept = {wanted.schedule_id for wanted in wanted_schedules(settings)}
    candidates = []
    async for listed in await client.list_schedules():
        match = pattern.fullmatch(listed.id)
        if match and listed.id not in kept:
            candidates.append((listed.id, match.group(1), match.group(2)))
    dropped = []
    for schedule_id, kind, crm in sorted(candidates):
        handle = client.get_schedule_handle(schedule_id)
        try:
            described = await handle.describe()
            if not await _made_by_c2c(client, described, schedule_id, queue, kind, crm):
                continue
            await handle.delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # not found: another worker deleted it first
                raise
            continue
        dropped.append(schedule_id)
    return dropped


async def _made_by_c2c(
    client: Client, described: ScheduleDescription, schedule_id: str, queue: str, kind: str, crm: str
) -> bool:
    workflow_type, input_type = PER_CRM[kind]
    action = described.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        return False
    if (action.workflow, action.task_queue, action.id) != (workflow_type, queue, schedule_id) or len(action.args) != 1:
        return False
    try:
        [args] = await client.data_converter.decode(action.args, [input_type])
    except Exception:  # noqa: BLE001 - an input we cannot read is not one we wrote
        return False
    return getattr(args, "crm", None) == crm


@dataclass(frozen=True)
class KeptSchedule:
    """One schedule as `python -m reconcile schedule` shows it."""

    schedule_id: str
    kind: str
    serves: str
    next_runs: list[datetime]
    paused: bool


async def kept_schedules(client: Client, settings: Settings) -> list[KeptSchedule]:
    """Every schedule the settings keep (each CRM's and each entity's), as the server has it now."""
    shown = []
    for wanted in wanted_schedules(settings):
        described = await client.get_schedule_handle(wanted.schedule_id).describe()
        shown.append(
            KeptSchedule(
                wanted.schedule_id,
                wanted.kind,
                wanted.serves + (" (default)" if wanted.crm == settings.crm else ""),
                list(described.info.next_action_times[:3]),
                described.schedule.state.paused,
            )
        )
    return shown


async def _create_or_update(client: Client, schedule_id: str, schedule: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, schedule)
        return
    except ScheduleAlreadyRunningError:
        pass

    def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule.state = current.description.schedule.state  # keep pause and notes
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(updated)
