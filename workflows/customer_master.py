"""CustomerMaster: one long-lived workflow per golden customer that keeps billing and the ERP in step with
the CRM account (legal name, billing address, tax id).

Account-change webhooks reach it by signal-with-start (`c2c:customer:{golden_id}`); each onboarding saga
asks it to sync too, which closes the gap between the saga reading the deal and the customer existing in
billing. Changes are applied one at a time, in arrival order, and each application reads the account from
the CRM (the webhook is only a notice; the CRM is the truth) and skips it when a state at least as new was
already pushed: a duplicate, late or reordered notice can never put an older name or address back.
The history stays small: the workflow continues as new every MAX_CHANGES_PER_RUN changes or when the
server suggests it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.interface as act
    import workflows.policies as policies
    from canonical import DEFAULT_VENDORS, AccountSnapshot, Vendors, ids
    from canonical.reference import LEGAL_ENTITIES
    from workflows.calls import call_activity
    from workflows.interface import AccountChange, Names

MAX_CHANGES_PER_RUN = 200
# A vendor still down after the activity retry policy: wait, then try the same change again (never drop it).
RETRY_PAUSE = timedelta(minutes=5)
MAX_RETRY_PAUSE = timedelta(hours=1)
RECENT = 20  # entries of `status().recent`
COALESCE_PATCH = "master-one-read-per-queued-account"


class MasterInput(BaseModel):
    golden_id: str
    last_applied: datetime | None = None
    pending: list[AccountChange] = Field(default_factory=list)
    applied_total: int = 0
    activity_timeout: timedelta = timedelta(seconds=30)
    changes_per_run: int = Field(default=MAX_CHANGES_PER_RUN, ge=1, description="continue as new after this many")
    vendors: Vendors = Field(
        default=DEFAULT_VENDORS, description="whose ids in the hub's refs are billing's and the ERP's"
    )


class MasterEntry(BaseModel):
    at: datetime
    event_id: str
    outcome: str


class MasterStatus(BaseModel):
    golden_id: str
    last_applied: datetime | None
    pending: int
    applied_total: int
    recent: list[MasterEntry]


@workflow.defn(name="CustomerMaster")
class CustomerMaster:
    @workflow.init
    def __init__(self, args: MasterInput) -> None:
        self.args = args
        self.pending: list[AccountChange] = list(args.pending)
        self.last_applied = args.last_applied
        self.applied_total = args.applied_total
        self.applied_this_run = 0
        self.recent: list[MasterEntry] = []

    @workflow.run
    async def run(self, args: MasterInput) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.pending) or self.time_to_roll())
            if self.pending:
                batch = self.batch()
                await self.apply(batch[0], covered=batch[1:])
                self.pending = [change for change in self.pending if all(change is not done for done in batch)]
            if self.time_to_roll():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    MasterInput(
                        golden_id=args.golden_id,
                        last_applied=self.last_applied,
                        pending=self.pending,
                        applied_total=self.applied_total,
                        activity_timeout=args.activity_timeout,
                        changes_per_run=args.changes_per_run,
                        vendors=args.vendors,
                    )
                )

    def batch(self) -> list[AccountChange]:
        """The notices the next CRM read answers: the first one queued and, once COALESCE_PATCH is in the history,
        every other one queued for the same account. The read starts after they all arrived, so what it finds is
        at least as new as each of them; one read and one push serve them all (a burst of onboarding sagas of one
        customer asked for a read each, issue 16). Notices arriving during the read wait for the next one."""
        first = self.pending[0]
        if not workflow.patched(COALESCE_PATCH):
            return [first]
        return [first, *(c for c in self.pending[1:] if (c.crm, c.account_id) == (first.crm, first.account_id))]

    def time_to_roll(self) -> bool:
        return self.applied_this_run >= self.args.changes_per_run or workflow.info().is_continue_as_new_suggested()

    @workflow.signal
    def account_changed(self, change: AccountChange) -> None:
        if any(queued.event_id == change.event_id for queued in self.pending):
            return  # the same notice twice while still queued
        self.pending.append(change)

    @workflow.query
    def status(self) -> MasterStatus:
        return MasterStatus(
            golden_id=self.args.golden_id,
            last_applied=self.last_applied,
            pending=len(self.pending),
            applied_total=self.applied_total,
            recent=self.recent,
        )

    async def apply(self, change: AccountChange, covered: list[AccountChange]) -> None:
        """Push the account as the CRM has it now to every system the customer exists in; retry until done.
        The `covered` notices (same account, queued before the read) are answered by the same read."""
        pause = RETRY_PAUSE
        while True:
            try:
                outcome = await self.push(change)
                break
            except ActivityError as err:
                if getattr(err.cause, "type", None) == "BusinessRuleError":
                    outcome = f"skipped: {err.cause}"  # e.g. the account was deleted in the CRM
                    break
                self.note(change, f"failed, retrying in {pause}: {err.cause or err}")
                await workflow.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_PAUSE)
        self.note(change, outcome)
        for other in covered:
            self.note(other, f"{outcome}; read once for {change.event_id} and this notice")

    async def push(self, change: AccountChange) -> str:
        snapshot = await self.call(
            act.CRM_QUEUE,
            Names.FETCH_ACCOUNT,
            act.FetchAccount(account_id=change.account_id, crm=change.crm),
            AccountSnapshot,
        )
        if self.last_applied is not None and snapshot.modified_at <= self.last_applied:
            return f"up to date (CRM state of {snapshot.modified_at.isoformat()} already applied)"
        refs = await self.call(
            act.HUB_QUEUE,
            Names.CUSTOMER_REFS,
            act.CustomerRefs(golden_id=self.args.golden_id),
            dict[str, str],
            retry=policies.HUB_RETRY,
        )
        customer = snapshot.customer.model_copy(
            update={"golden_id": self.args.golden_id, "external_refs": {**snapshot.customer.external_refs, **refs}}
        )
        stamp = snapshot.modified_at.strftime("%Y%m%dT%H%M%S%fZ")
        systems = []
        billing = self.args.vendors.billing
        if billing in refs:
            await self.call(
                act.BILLING_QUEUE,
                Names.BILLING_CUSTOMER,
                act.UpsertBillingCustomer(
                    billing=billing,
                    customer=customer,
                    idempotency_key=f"{ids.master_id(self.args.golden_id)}:update:{stamp}",
                ),
                str,
            )
            systems.append(billing)
        # The ERP's refs are `{erp}:{legal entity}`: one ERP customer per subsidiary, each in the ERP its entity
        # books in (entities may use different ERPs), so each is updated where it lives.
        for system in sorted(refs):
            vendor, _, entity = system.partition(":")
            if vendor and entity in LEGAL_ENTITIES:
                await self.call(
                    act.ERP_QUEUE,
                    Names.ERP_UPDATE_CUSTOMER,
                    act.UpdateErpCustomer(customer=customer, legal_entity=LEGAL_ENTITIES[entity], erp=vendor),
                    str,
                )
                systems.append(system)
        self.last_applied = snapshot.modified_at
        self.applied_total += 1
        self.applied_this_run += 1
        return f"applied CRM state of {snapshot.modified_at.isoformat()} to {', '.join(systems) or 'no system yet'}"

    async def call(
        self, queue: str, name: str, arg: Any, result_type: Any, *, retry: RetryPolicy = policies.VENDOR_RETRY
    ) -> Any:
        return await call_activity(queue, name, arg, result_type, timeout=self.args.activity_timeout, retry=retry)

    def note(self, change: AccountChange, outcome: str) -> None:
        self.recent = [*self.recent, MasterEntry(at=workflow.now(), event_id=change.event_id, outcome=outcome)][
            -RECENT:
        ]
