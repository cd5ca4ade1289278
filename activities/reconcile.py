"""Reconciliation and missed-trigger sweep activities: read each system on its own task queue (so reads share
the vendor's rate limit with the sagas), then compare and repair on the hub queue.

Reads are idempotent and safe to retry. Starting a missed deal's saga takes the trigger's own path
(`operations.starts.Trigger.start`: validate the deal, start `c2c:{crm}:{deal}` with the id policy that makes a
second start a no-op); the sweep's starts run on the CRM queue because that path reads the deal from the CRM.
Resuming a saga is finance's `resume` signal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.client import WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import translated
from activities.migration import ErpMigrations
from canonical import ids
from canonical.records import (
    BillingSnapshot,
    CrmContract,
    CrmDeal,
    CrmSnapshot,
    ErpSnapshot,
    SagaRecord,
    SagaSnapshot,
    TaxSnapshot,
)
from canonical.refunds import BillingRefund
from connectors.errors import PermanentError
from connectors.factory import Connectors
from connectors.roles import BillingSystem, CrmSystem, Erp, TaxEngine
from connectors.routing import ByVendor
from operations.errors import ContractNotActive, CrmFailed, CrmUnavailable, DealNotFound, DealRefused
from operations.starts import Trigger
from reconcile import kpis
from reconcile.compare import RepairAction, compare
from reconcile.outcome import RepairOutcome, Report, build_report
from reconcile.usage import usage_findings
from store import OutboxRepository, SagaFactRepository, WatermarkRepository, ensure_watermark_table, session_scope
from store.usage import UsageRepository, accepted_usage
from workflows import search_attributes
from workflows.interface import (
    BILLING_QUEUE,
    CRM_QUEUE,
    ERP_QUEUE,
    HUB_QUEUE,
    TAX_QUEUE,
    AdvanceWatermark,
    ClosedWonSince,
    CompareSnapshots,
    Names,
    ReadBilling,
    ReadContracts,
    ReadCrm,
    ReadErp,
    ReadSagas,
    ReadTax,
    RepairMismatch,
    SagaStart,
    StartSagas,
)
from workflows.saga import Resume

T = TypeVar("T")

# Describes of sagas the visibility listing did not return, in flight at once.
DESCRIBE_CONCURRENCY = 8


class ReconcileCrmActivities:
    """Task queue `{queue}-crm`."""

    def __init__(self, crms: ByVendor[CrmSystem]) -> None:
        self.crms = crms

    @activity.defn(name=Names.RECONCILE_READ_CRM)
    async def read_crm(self, args: ReadCrm) -> CrmSnapshot:
        with translated():
            crm = self.crms[args.crm]
            deals = await crm.closed_won_deals(args.since)
            account_ids = sorted({deal.account_id for deal in deals if deal.account_id})
            accounts = {a.account_id: a for a in await crm.accounts(account_ids, [])}
            # The same golden customers' other accounts (CRM duplicates): any of them may be the one synced last.
            golden_ids = sorted({account.golden_id for account in accounts.values() if account.golden_id})
            if golden_ids:
                accounts.update({a.account_id: a for a in await crm.accounts([], golden_ids)})
        return CrmSnapshot(deals=deals, accounts=sorted(accounts.values(), key=lambda account: account.account_id))

    @activity.defn(name=Names.RECONCILE_READ_CONTRACTS)
    async def read_contracts(self, args: ReadContracts) -> list[CrmContract]:
        """The CRM contracts of billing's c2c subscriptions (by subscription id, and by deal id for one whose
        subscription field was not written)."""
        with translated():
            return await self.crms[args.crm].contracts_of(args.subscription_ids, args.deal_ids)


class SweepCrmActivities:
    """Task queue `{queue}-crm`: the sweep's calls that reach the CRM, under its rate limit."""

    def __init__(self, triggers: ByVendor[Trigger]) -> None:
        self.triggers = triggers

    @activity.defn(name=Names.SWEEP_CLOSED_WON)
    async def closed_won_since(self, args: ClosedWonSince) -> list[CrmDeal]:
        with translated():
            return await self.triggers[args.crm].crm.closed_won_deals(args.since)

    @activity.defn(name=Names.SWEEP_START_SAGAS)
    async def start_sagas(self, args: StartSagas) -> list[SagaStart]:
        """Start the saga of each deal that has none; one that exists (running, finished, or recorded in the store)
        is left alone without asking the CRM again."""
        with translated():  # a CRM this worker was not configured with parks the sweep's call
            trigger = self.triggers[args.crm]
        return [await start_missed(trigger, args.crm, deal_id) for deal_id in args.deal_ids]


class ReconcileBillingActivities:
    """Task queue `{queue}-billing`: one read of the billing system the input names (the workflow reads each)."""

    def __init__(self, billings: ByVendor[BillingSystem]) -> None:
        self.billings = billings

    @activity.defn(name=Names.RECONCILE_READ_BILLING)
    async def read_billing(self, args: ReadBilling) -> BillingSnapshot:
        with translated():
            billing = self.billings[args.billing]
            invoices, subscriptions, credit_notes, refunds = await asyncio.gather(
                billing.invoices_created_since(args.since),
                billing.subscriptions_created_since(args.since),
                billing.credit_notes_created_since(args.since),
                refunds_of(billing, args.since),
            )
            # Later periods of subscriptions created before the window: their invoices are in it, they are not.
            known = {subscription.subscription_id for subscription in subscriptions}
            older = sorted(
                {i.subscription_id for i in invoices if i.subscription_id and i.subscription_id not in known}
            )
            if older:
                subscriptions = [*subscriptions, *await billing.subscriptions_by_id(older)]
            customers = await billing.customers_of(args.golden_ids)
        return BillingSnapshot(
            customers=customers,
            subscriptions=subscriptions,
            invoices=invoices,
            credit_notes=credit_notes,
            refunds=refunds,
        )


async def refunds_of(billing: BillingSystem, since: datetime) -> list[BillingRefund] | None:
    """The billing system's refunds since `since`; None when it keeps none c2c can read (it answers `unsupported`):
    its entities are reconciled without them rather than failing the run."""
    try:
        return await billing.refunds_created_since(since)
    except PermanentError as error:
        if error.code != "unsupported":
            raise
        return None


class ReconcileTaxActivities:
    """Task queue `{queue}-tax`."""

    def __init__(self, tax: TaxEngine) -> None:
        self.tax = tax

    @activity.defn(name=Names.RECONCILE_READ_TAX)
    async def read_tax(self, args: ReadTax) -> TaxSnapshot:
        with translated():
            return TaxSnapshot(documents=await self.tax.documents_since(args.company_codes, args.since))


class ReconcileErpActivities:
    """Task queue `{queue}-erp`: one read of the ERP the input names (the workflow reads each configured one)."""

    def __init__(self, erps: ByVendor[Erp], migrations: ErpMigrations | None = None) -> None:
        self.erps = erps
        self.migrations = migrations or ErpMigrations([], erps, {}, None)

    @activity.defn(name=Names.RECONCILE_READ_ERP)
    async def read_erp(self, args: ReadErp) -> ErpSnapshot:
        with translated():
            erp = self.erps[args.erp]
            invoices, payments, credit_memos, refunds = await asyncio.gather(
                erp.invoices_modified_since(args.since),
                erp.payments_modified_since(args.since),
                erp.credit_memos_modified_since(args.since),
                erp.customer_refunds_modified_since(args.since),
            )
            customers = await erp.customers_by_external_id(args.customer_external_ids)
            held = {customer.external_id for customer in customers}
            missing = [external_id for external_id in args.customer_external_ids if external_id not in held]
            customers += await self.migrations.customers_left_behind(args.erp, missing)  # an entity that moved
        return ErpSnapshot(
            invoices=invoices, payments=payments, credit_memos=credit_memos, customers=customers, refunds=refunds
        )


class ReconcileHubActivities:
    """Task queue `{queue}-hub`: Temporal and the store, compare, and the repairs that start or resume sagas."""

    def __init__(self, triggers: ByVendor[Trigger]) -> None:
        self.triggers = triggers
        self.trigger = trigger = triggers.default
        self.client = trigger.client
        self.engine = trigger.engine
        self._watermarks_ready = False

    # -- sagas ------------------------------------------------------------------------------------------

    @activity.defn(name=Names.RECONCILE_READ_SAGAS)
    async def read_sagas(self, args: ReadSagas) -> SagaSnapshot:
        """The sagas of these deals: the visibility listing of the window, then one describe per deal it did not
        return (started before the window, or not indexed yet), then the store for sagas Temporal forgot."""
        wanted = {ids.saga_id(args.crm, deal_id): deal_id for deal_id in args.deal_ids}
        found: dict[str, SagaRecord] = {}
        since = args.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        query = f"WorkflowType = 'CustomerToCash' AND StartTime >= '{since}'"
        async for execution in self.client.list_workflows(query):
            if execution.id in wanted and execution.id not in found:
                found[execution.id] = saga_record(execution, wanted[execution.id])
        missing = [workflow_id for workflow_id in wanted if workflow_id not in found]
        gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def describe(workflow_id: str) -> SagaRecord | None:
            async with gate:
                return await find_saga(self.trigger, workflow_id, wanted[workflow_id])

        for record in await asyncio.gather(*(describe(workflow_id) for workflow_id in missing)):
            if record is not None:
                found[record.workflow_id] = record
        return SagaSnapshot(sagas=sorted(found.values(), key=lambda saga: saga.deal_id))

    # -- compare and repair -----------------------------------------------------------------------------

    @activity.defn(name=Names.RECONCILE_COMPARE)
    async def compare(self, args: CompareSnapshots) -> Report:
        """Pure work, run as an activity so a change to the rules never breaks the replay of a running workflow."""
        mismatches = compare(args.snapshots, crm=args.crm, stuck_after=args.stuck_after)
        found_kpis = kpis.compute(args.snapshots, crm=args.crm)
        billing = args.snapshots.billing
        with session_scope(self.engine) as session:  # the store is the hub's: its outbox lag sits beside the KPIs
            lag = OutboxRepository(session).lag()
            # Usage reported (the store) vs billed (the snapshot's metered lines): here, not in the workflow, so a
            # running reconciliation replays as before.
            deals = sorted({s.deal_id for s in billing.subscriptions if s.deal_id})
            accepted = [accepted_usage(record) for record in UsageRepository(session).of_deals(deals)]
        mismatches += usage_findings(accepted, billing.invoices, billing.subscriptions, now=args.snapshots.taken_at)
        found_kpis.events = kpis.EventBacklog(pending=lag.pending, oldest_seconds=lag.seconds() if lag.oldest else None)
        return build_report(args.snapshots, mismatches, found_kpis, repair_requested=args.repair_requested)

    @activity.defn(name=Names.RECONCILE_REPAIR)
    async def repair(self, args: RepairMismatch) -> RepairOutcome:
        mismatch = args.mismatch
        if mismatch.repair is None or mismatch.deal_id is None or mismatch.saga_id is None:
            raise ValueError(f"{mismatch.key} has no safe repair")
        outcome = RepairOutcome(
            mismatch=mismatch.key,
            action=mismatch.repair,
            deal_id=mismatch.deal_id,
            saga_id=mismatch.saga_id,
            ok=False,
            detail="",
        )
        if mismatch.repair is RepairAction.START_SAGA:
            crm, _ = ids.parse_saga_id(mismatch.saga_id)
            with translated():
                trigger = self.triggers[crm]
            start = await start_missed(trigger, crm, mismatch.deal_id)
            return outcome.model_copy(update={"ok": start.outcome != "refused", "detail": start.detail})
        note = f"reconciliation: {mismatch.kind} ({mismatch.found})"
        await self.client.get_workflow_handle(mismatch.saga_id).signal(
            "resume", Resume(actor="reconciliation", note=note)
        )
        return outcome.model_copy(update={"ok": True, "detail": "resume signal sent"})

    # -- missed-trigger sweep ---------------------------------------------------------------------------

    @activity.defn(name=Names.SWEEP_READ_WATERMARK)
    async def read_watermark(self, name: str) -> datetime | None:
        await self._ensure_watermarks()
        return await self._in_store(lambda session: WatermarkRepository(session).get(name))

    @activity.defn(name=Names.SWEEP_ADVANCE_WATERMARK)
    async def advance_watermark(self, args: AdvanceWatermark) -> datetime:
        """Move the watermark forward (never back); returns the value now stored."""
        await self._ensure_watermarks()
        return await self._in_store(lambda session: WatermarkRepository(session).advance(args.name, args.value))

    async def _ensure_watermarks(self) -> None:
        if not self._watermarks_ready:
            await asyncio.to_thread(ensure_watermark_table, self.engine)
            self._watermarks_ready = True

    async def _in_store(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with session_scope(self.engine) as session:
                return work(session)

        return await asyncio.to_thread(run)


async def start_missed(trigger: Trigger, crm: str, deal_id: str) -> SagaStart:
    """Start a deal's saga unless one exists; a deal the trigger refuses is reported, an unreachable CRM retried.
    A won change to a contract goes to its lifecycle the same way (so the sweep also re-delivers a lost one)."""
    workflow_id = ids.saga_id(crm, deal_id)
    if await find_saga(trigger, workflow_id, deal_id) is not None:
        return SagaStart(deal_id=deal_id, workflow_id=workflow_id, outcome="exists", detail="saga exists")
    try:
        started = await trigger.start(deal_id)
    except (DealNotFound, DealRefused, ContractNotActive) as error:
        detail = f"refused ({error.code}): {error.message}"
        return SagaStart(deal_id=deal_id, workflow_id=workflow_id, outcome="refused", detail=detail)
    except (CrmUnavailable, CrmFailed) as error:
        # Not the deal's fault: retry the activity (Temporal's retry policy), as for any CRM read.
        raise RuntimeError(f"{error.code}: {error.message}") from error
    outcome = "started" if started.started else "exists"
    return SagaStart(deal_id=deal_id, workflow_id=started.workflow_id, outcome=outcome, detail=started.detail)


async def find_saga(trigger: Trigger, workflow_id: str, deal_id: str) -> SagaRecord | None:
    """The saga as Temporal describes it, else the outcome the store recorded when it ended (outlives Temporal's
    retention); None when neither knows it."""
    try:
        return saga_record(await trigger.client.get_workflow_handle(workflow_id).describe(), deal_id)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    return await asyncio.to_thread(_saga_fact, trigger.engine, workflow_id, deal_id)


def _saga_fact(engine: Engine, workflow_id: str, deal_id: str) -> SagaRecord | None:
    with session_scope(engine) as session:
        fact = SagaFactRepository(session).get(workflow_id)
        if fact is None:
            return None
        return SagaRecord(
            workflow_id=workflow_id,
            deal_id=deal_id,
            status="COMPLETED",
            stage=fact.status,
            closed_at=fact.completed_at,
            source="store",
        )


def saga_record(execution: WorkflowExecution, deal_id: str) -> SagaRecord:
    attributes = execution.typed_search_attributes
    return SagaRecord(
        workflow_id=execution.id,
        deal_id=deal_id,
        status=execution.status.name if execution.status is not None else "UNKNOWN",
        stage=attributes.get(search_attributes.STAGE),
        exception=attributes.get(search_attributes.EXCEPTION),
        started_at=execution.start_time,
        closed_at=execution.close_time,
    )


def reconcile_activities(
    triggers: ByVendor[Trigger], connectors: Connectors, migrations: ErpMigrations | None = None
) -> dict[str, list[object]]:
    """The reconciliation and sweep activity objects by task-queue suffix, for runtime.workers to register beside
    the saga's; `triggers` (one per CRM) start missed sagas (their client and store serve the reads too)."""
    return {
        CRM_QUEUE: [ReconcileCrmActivities(connectors.crms), SweepCrmActivities(triggers)],
        BILLING_QUEUE: [ReconcileBillingActivities(connectors.billings)],
        TAX_QUEUE: [ReconcileTaxActivities(connectors.tax)],
        ERP_QUEUE: [ReconcileErpActivities(connectors.erps, migrations)],
        HUB_QUEUE: [ReconcileHubActivities(triggers)],
    }
