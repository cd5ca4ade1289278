"""The Temporal Schedules c2c keeps in place: the nightly reconciliation, the missed-trigger sweep and the monthly
revenue recognition of each legal entity (`{queue}:revenue-recognition:{entity}`).

`ensure_schedules` creates them, or brings an existing one to the current settings (cron, interval, queue,
input) while keeping its state (an operator's pause stays paused). It is idempotent, so every worker may call
it at start. Schedule ids are derived from the task queue: `c2c:reconciliation` and `c2c:missed-deal-sweep`
with the default queue (the default CRM's; each other CRM served has its own, `...:{crm}`); each run's workflow id
is the schedule's id plus the scheduled time.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

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


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create every schedule, or update it to `settings`; safe to call from every worker at every start."""
    for schedule_id, schedule in (
        (reconciliation_schedule_id(settings.task_queue), reconciliation_schedule(settings)),
        *(
            (reconciliation_schedule_id(settings.task_queue, crm), reconciliation_schedule(settings, crm))
            for crm in settings.every_crm()[1:]
        ),
        (sweep_schedule_id(settings.task_queue), sweep_schedule(settings)),
        *(
            (sweep_schedule_id(settings.task_queue, crm), sweep_schedule(settings, crm))
            for crm in settings.every_crm()[1:]
        ),
        *(
            (revenue_schedule_id(settings.task_queue, entity), revenue_schedule(settings, entity))
            for entity in sorted(REVENUE_ACCOUNTS)
        ),
    ):
        await _create_or_update(client, schedule_id, schedule)


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
