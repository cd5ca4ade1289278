"""Reconciliation: read every system, compare them with the sagas, report mismatches and KPIs, repair what is safe.

Runs nightly on a Temporal Schedule (schedules.py) and on demand (`python -m reconcile run`). The population is
the CRM's closed-won deals modified in the window (closing a deal modifies it; default: the last 35 days). A run is
one CRM's (`crm`; the schedule starts one per CRM served), and of what billing holds it compares only the records of
that CRM's sagas (reconcile/scope.py). Each system is read on its own task queue; the comparison is an activity
(pure code, but kept out of the workflow so a change to the rules never breaks the replay of a running
reconciliation). With `repair`, a deal with no saga gets one (the trigger's path) and a saga parked as
`unavailable` gets the `resume` signal; nothing else is touched: amount differences, duplicates and missing records
are finance's to decide.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import reconcile.scope as scope
    import workflows.interface as act
    import workflows.policies as policies
    from canonical import DEFAULT_VENDORS, Vendors, ids
    from canonical.records import (
        BillingSnapshot,
        CrmContract,
        CrmSnapshot,
        ErpSnapshot,
        SagaSnapshot,
        Snapshots,
        TaxSnapshot,
    )
    from canonical.reference import LEGAL_ENTITIES, REVENUE_ACCOUNTS
    from canonical.revenue import RevenueLedger
    from reconcile.outcome import RepairOutcome, Report
    from workflows.calls import call_activity
    from workflows.interface import Names

# Vendor records of a saga are created after the saga starts; read a little before the earliest start so clock
# differences between Temporal and the vendors never cut a record off.
READ_MARGIN = timedelta(hours=1)
READ_TIMEOUT = timedelta(minutes=10)  # one activity pages through a whole list
# Runs recorded before the CRM contract read (their histories replay without it).
CONTRACTS_PATCH = "reconcile-crm-contracts"
# Each legal entity's deferred revenue (a read on the ERP's queue); runs recorded before it replay without it.
REVENUE_PATCH = "reconcile-deferred-revenue"


def _code(detail: Any) -> str | None:
    return detail.get("code") if isinstance(detail, dict) else None


def reconciliation_id(task_queue: str, at: datetime) -> str:
    """The id of an on-demand run (the Schedule's runs get the Schedule's id plus a timestamp)."""
    return f"{task_queue}:reconciliation:{at:%Y-%m-%dT%H-%M-%SZ}"


class ReconcileInput(BaseModel):
    window_days: int = Field(default=35, ge=1, le=400, description="deals closed won in the last N days")
    since: datetime | None = Field(default=None, description="start of the window instead of window_days")
    repair: bool = Field(default=False, description="start missing sagas, resume sagas parked as unavailable")
    crm: str = DEFAULT_VENDORS.crm
    vendors_by_entity: dict[str, Vendors] = Field(
        default_factory=dict,
        description="who plays each role per legal entity (settings.vendors_for of each): every ERP named is read; "
        "empty: the default ERP alone (runs recorded before routing by entity)",
    )
    stuck_after: timedelta = Field(
        default=timedelta(hours=2), description="a running saga outside a wait stage this long is stuck"
    )


@workflow.defn(name="Reconciliation")
class Reconciliation:
    @workflow.run
    async def run(self, args: ReconcileInput) -> Report:
        now = workflow.now()
        since = args.since or now - timedelta(days=args.window_days)
        crm: CrmSnapshot = await self.call(
            act.CRM_QUEUE, Names.RECONCILE_READ_CRM, act.ReadCrm(since=since, crm=args.crm), CrmSnapshot
        )
        deal_ids = [deal.deal_id for deal in crm.deals]
        sagas: SagaSnapshot = await self.call(
            act.HUB_QUEUE,
            Names.RECONCILE_READ_SAGAS,
            act.ReadSagas(crm=args.crm, since=since, deal_ids=deal_ids),
            SagaSnapshot,
            retry=policies.HUB_RETRY,
        )
        read_from = self.read_from(since, sagas)
        billing, tax, erp = await asyncio.gather(
            self.read_billings(args, read_from, crm),
            self.call(
                act.TAX_QUEUE,
                Names.RECONCILE_READ_TAX,
                act.ReadTax(since=read_from.date(), company_codes=sorted(LEGAL_ENTITIES)),
                TaxSnapshot,
            ),
            self.read_erps(args, read_from, crm),
        )
        # Tax findings name each entity's configured tax engine (the documents are the default engine's read: the
        # only one c2c has). Data only, no command: recorded runs replay as before.
        tax.tax_by_entity = {entity: vendors.tax for entity, vendors in sorted(args.vendors_by_entity.items())}
        # Billing holds every CRM's records: from here on (contracts read, comparison, KPIs, usage, counts) only
        # those of this CRM's sagas. Data only, no command: recorded runs replay as before.
        billing = scope.of_crm(billing, args.crm)
        if workflow.patched(CONTRACTS_PATCH):
            crm.contracts = await self.call(
                act.CRM_QUEUE,
                Names.RECONCILE_READ_CONTRACTS,
                self.contracts_of(billing, args.crm),
                list[CrmContract],
            )
        if workflow.patched(REVENUE_PATCH):
            erp.revenue = []
            for entity in sorted(REVENUE_ACCOUNTS):
                ledger = await self.revenue(erp, entity)
                if ledger is not None:
                    erp.revenue.append(ledger)
        snapshots = Snapshots(since=since, taken_at=now, crm=crm, sagas=sagas, billing=billing, tax=tax, erp=erp)
        report: Report = await self.call(
            act.HUB_QUEUE,
            Names.RECONCILE_COMPARE,
            act.CompareSnapshots(
                snapshots=snapshots, crm=args.crm, stuck_after=args.stuck_after, repair_requested=args.repair
            ),
            Report,
            retry=policies.HUB_RETRY,
        )
        if args.repair:
            report.repairs = await self.repair(report)
        return report

    async def repair(self, report: Report) -> list[RepairOutcome]:
        """One at a time, in the report's order: each repair is idempotent, so a retry repeats nothing."""
        outcomes = []
        for mismatch in report.mismatches:
            if mismatch.repair is not None:
                outcomes.append(
                    await self.call(
                        act.HUB_QUEUE,
                        Names.RECONCILE_REPAIR,
                        act.RepairMismatch(mismatch=mismatch),
                        RepairOutcome,
                        retry=policies.HUB_RETRY,
                    )
                )
        return outcomes

    @staticmethod
    def read_from(since: datetime, sagas: SagaSnapshot) -> datetime:
        """Where the vendor reads start: the window, or the earliest saga of the window's deals if that is older
        (a deal modified in the window may have been billed before it)."""
        moments = [since] + [m for saga in sagas.sagas for m in (saga.started_at, saga.closed_at) if m is not None]
        return min(moments) - READ_MARGIN

    @staticmethod
    def contracts_of(billing: BillingSnapshot, crm: str) -> act.ReadContracts:
        """The contracts to read: those of billing's c2c subscriptions (metadata deal_id), by subscription and
        deal."""
        ours = [s for s in billing.subscriptions if s.deal_id]
        return act.ReadContracts(
            crm=crm,
            subscription_ids=sorted({s.subscription_id for s in ours}),
            deal_ids=sorted({s.deal_id or "" for s in ours}),
        )

    async def revenue(self, erp: ErpSnapshot, entity: str) -> RevenueLedger | None:
        """The entity's deferred revenue in its ERP; None when that ERP keeps none (it refuses the read as
        `unsupported`): an entity moved to such an ERP is reported without it rather than stopping the run."""
        try:
            ledger: RevenueLedger = await self.call(
                act.ERP_QUEUE,
                Names.REVENUE_LEDGER,
                act.RevenueLedgerRequest(legal_entity=entity, erp=erp.system_of(entity)),
                RevenueLedger,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.details and _code(cause.details[0]) == "unsupported":
                return None
            raise
        return ledger

    async def read_billings(self, args: ReconcileInput, read_from: datetime, crm: CrmSnapshot) -> BillingSnapshot:
        """Every configured billing system, once each, asked for all the window's golden customers; one snapshot
        that names each entity's billing system and each customer's. One system is read without a gather, so its
        read is scheduled first, where recorded histories have it."""
        billing_by_entity = {entity: vendors.billing for entity, vendors in sorted(args.vendors_by_entity.items())}
        systems = sorted(set(billing_by_entity.values())) or [DEFAULT_VENDORS.billing]

        async def read(system: str) -> BillingSnapshot:
            snapshot: BillingSnapshot = await self.call(
                act.BILLING_QUEUE,
                Names.RECONCILE_READ_BILLING,
                act.ReadBilling(billing=system, since=read_from, golden_ids=self.golden_ids(crm)),
                BillingSnapshot,
            )
            for customer in snapshot.customers:
                customer.system = system
            return snapshot

        reads = [await read(systems[0])] if len(systems) == 1 else await asyncio.gather(*map(read, systems))
        merged = BillingSnapshot(billing_by_entity=billing_by_entity, refunds=None)
        for snapshot in reads:
            merged.customers += snapshot.customers
            merged.subscriptions += snapshot.subscriptions
            merged.invoices += snapshot.invoices
            merged.credit_notes += snapshot.credit_notes
            if snapshot.refunds is not None:
                merged.refunds = [*(merged.refunds or []), *snapshot.refunds]
        return merged

    async def read_erps(self, args: ReconcileInput, read_from: datetime, crm: CrmSnapshot) -> ErpSnapshot:
        """Every configured ERP, once each, asked for the customers of the entities it books; one snapshot that
        names each entity's ERP (what findings and KPIs label its records with)."""
        customers = self.erp_customer_ids(crm)
        erp_by_entity = {entity: vendors.erp for entity, vendors in sorted(args.vendors_by_entity.items())}
        if not erp_by_entity:  # recorded before routing by entity: the one ERP, asked as it was then
            return await self.call(
                act.ERP_QUEUE,
                Names.RECONCILE_READ_ERP,
                act.ReadErp(since=read_from.date(), customer_external_ids=customers),
                ErpSnapshot,
            )
        merged = ErpSnapshot(erp_by_entity=erp_by_entity)
        erp_of = {
            customer: merged.system_of((ids.parse_erp_customer_id(customer) or ("", ""))[1]) for customer in customers
        }
        reads: list[ErpSnapshot] = await asyncio.gather(
            *(
                self.call(
                    act.ERP_QUEUE,
                    Names.RECONCILE_READ_ERP,
                    act.ReadErp(
                        erp=erp,
                        since=read_from.date(),
                        customer_external_ids=[c for c in customers if erp_of[c] == erp],
                    ),
                    ErpSnapshot,
                )
                for erp in sorted(set(erp_by_entity.values()) | set(erp_of.values()))
            )
        )
        for read in reads:
            merged.invoices += read.invoices
            merged.payments += read.payments
            merged.credit_memos += read.credit_memos
            merged.customers += read.customers
            if read.refunds is not None:  # None: that ERP's refunds were not read (not: it has none)
                merged.refunds = [*(merged.refunds or []), *read.refunds]
        return merged

    @staticmethod
    def golden_ids(crm: CrmSnapshot) -> list[str]:
        return sorted({account.golden_id for account in crm.accounts if account.golden_id})

    @staticmethod
    def erp_customer_ids(crm: CrmSnapshot) -> list[str]:
        """`{golden}-{entity}` of each window deal's customer (one ERP customer per golden customer and entity)."""
        golden_of = {account.account_id: account.golden_id for account in crm.accounts}
        return sorted(
            {
                f"{golden_of[deal.account_id]}-{deal.legal_entity}"
                for deal in crm.deals
                if deal.account_id and golden_of.get(deal.account_id) and deal.legal_entity
            }
        )

    @staticmethod
    async def call(
        queue: str, name: str, arg: Any, result_type: Any, *, retry: RetryPolicy = policies.VENDOR_RETRY
    ) -> Any:
        return await call_activity(queue, name, arg, result_type, timeout=READ_TIMEOUT, retry=retry)
