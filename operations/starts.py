"""Start a closed-won deal's saga exactly once: the one path for the CRM webhook, the API, the CLI, the sweep
and the reconciler's repair.

The deal is read from the CRM and checked against the billing rules before anything starts; the workflow id is
the business id `c2c:{crm}:{deal}` with id policies that make a second start join the running saga or refuse
to bill a closed one again. Refusals are the domain errors of operations/errors.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from canonical import DEFAULT_VENDORS, Deal, ProrationBilling, Vendors, ids
from canonical.rules import deal_problems
from connectors.errors import BusinessRuleError, ConnectorError, TransientError
from connectors.roles import CrmSystem
from connectors.routing import ByVendor
from operations import amendments, finance
from operations.errors import CrmFailed, CrmUnavailable, DealNotFound, DealRefused
from settings import Settings
from store import CrosswalkRepository, SagaFactRepository, session_scope
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import AccountChange
from workflows.saga import SagaInput, Stage

T = TypeVar("T")


class Started(BaseModel):
    workflow_id: str
    run_id: str | None
    started: bool
    detail: str


@dataclass
class Trigger:
    """Validates a deal against the CRM and the billing rules, then starts its saga exactly once."""

    client: Client
    crm: CrmSystem
    task_queue: str
    engine: Engine
    payment_terms_days: int = 3
    dunning_days: list[int] = field(default_factory=lambda: [1, 3, 7])
    auto_renew: bool = False
    prorations: ProrationBilling = ProrationBilling.NEXT_INVOICE
    # Who plays billing, tax and the ERP for a legal entity (Settings.vendors_for); the CRM is always the one
    # the deal came from.
    vendors_for: Callable[[str], Vendors] = lambda _entity: DEFAULT_VENDORS

    @classmethod
    def from_settings(cls, client: Client, crm: CrmSystem, engine: Engine, settings: Settings) -> Trigger:
        return cls(
            client=client,
            crm=crm,
            task_queue=settings.task_queue,
            engine=engine,
            payment_terms_days=settings.payment_terms_days,
            dunning_days=settings.dunning_days,
            auto_renew=settings.auto_renew,
            prorations=settings.prorations,
            vendors_for=settings.vendors_for,
        )

    async def finished_before(self, workflow_id: str) -> bool:
        """Whether the store recorded this saga's end: Temporal forgets closed workflows after the
        namespace's retention, so its id rule alone would let a late trigger bill the deal again."""

        def read() -> bool:
            with session_scope(self.engine) as session:
                return SagaFactRepository(session).get(workflow_id) is not None

        return await asyncio.to_thread(read)

    async def account_changed(self, account_id: str, event_id: str, modified_at: datetime) -> dict[str, str]:
        """Signal-with-start the golden customer's CustomerMaster. An account no saga has onboarded yet has
        nothing in billing or the ERP to update; its first saga reads the account as it is then."""

        def golden_of() -> str | None:
            with session_scope(self.engine) as session:
                golden = CrosswalkRepository(session).find_by_ref(self.crm.system, account_id)
                return golden.golden_id if golden else None

        golden_id = await asyncio.to_thread(golden_of)
        if golden_id is None:
            return {"status": "not onboarded", "event_id": event_id}
        change = AccountChange(crm=self.crm.system, account_id=account_id, event_id=event_id, modified_at=modified_at)
        await finance.notify_customer_master(self.client, self.task_queue, golden_id, change)
        return {"status": "customer master notified", "event_id": event_id, "golden_id": golden_id}

    async def start(self, deal_id: str) -> Started:
        """Start (or find) the deal's saga; raises DealNotFound, DealRefused, CrmUnavailable or CrmFailed.

        A won change to a contract c2c bills (amendment, renewal, cancellation) goes to that subscription's
        lifecycle instead (operations.amendments; also ContractNotActive)."""
        amendment = await self.crm_read(self.crm.get_amendment(deal_id))
        if amendment is not None:
            workflow_id, outcome = await amendments.send(self.client, amendment)
            started = outcome.status == "accepted"
            return Started(workflow_id=workflow_id, run_id=None, started=started, detail=outcome.message)
        deal = await self.billable_deal(deal_id)
        # The CRM's canonical form of the id (Salesforce: 18 characters, also when given the 15-character
        # form), so two spellings of one deal can never start two sagas.
        workflow_id = ids.saga_id(self.crm.system, deal.deal_id)
        if await self.finished_before(workflow_id):
            return Started(workflow_id=workflow_id, run_id=None, started=False, detail="saga already finished")
        try:
            handle = await self.client.start_workflow(
                CustomerToCash.run,
                SagaInput(
                    crm=self.crm.system,
                    deal_id=deal.deal_id,
                    payment_terms_days=self.payment_terms_days,
                    dunning_days=self.dunning_days,
                    auto_renew=self.auto_renew,
                    prorations=self.prorations,
                    vendors=self.vendors_for(deal.legal_entity).model_copy(update={"crm": self.crm.system}),
                ),
                id=workflow_id,
                task_queue=self.task_queue,
                # The saga's page in the Temporal UI: who and what (user metadata: a payload, encrypted by the
                # payload codec like any other and shown decrypted through the codec endpoint).
                static_summary=summary_of(deal),
                static_details=details_of(deal),
                # Running: join it. Closed (completed or cancelled): never bill the same deal twice.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(search_attributes.STAGE, Stage.ONBOARD.value),
                        SearchAttributePair(search_attributes.LEGAL_ENTITY, deal.legal_entity),
                        SearchAttributePair(search_attributes.CURRENCY, deal.currency),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError:
            return Started(workflow_id=workflow_id, run_id=None, started=False, detail="saga already finished")
        # The SDK keeps the server's `started` flag on the handle; False means we joined a running saga.
        response = getattr(handle, "_start_workflow_response", None)
        started = bool(getattr(response, "started", True))
        detail = "saga started" if started else "saga already running"
        return Started(workflow_id=workflow_id, run_id=handle.result_run_id, started=started, detail=detail)

    @staticmethod
    async def crm_read(read: Awaitable[T]) -> T:
        """A CRM read with the CRM's errors as domain errors."""
        try:
            return await read
        except BusinessRuleError as error:
            if error.code == "deal_not_found":
                raise DealNotFound(error.message) from error
            raise DealRefused(error.code, error.message) from error
        except TransientError as error:
            raise CrmUnavailable(error.message) from error
        except ConnectorError as error:
            raise CrmFailed(str(error)) from error

    async def billable_deal(self, deal_id: str) -> Deal:
        """The deal as the CRM has it, if c2c may bill it; the CRM's errors as domain errors."""
        deal = await self.crm_read(self.crm.get_deal(deal_id))
        problems = deal_problems(deal)
        if problems:
            raise DealRefused(problems[0][0], "; ".join(reason for _, reason in problems))
        return deal


def triggers_by_crm(trigger: Trigger, crms: ByVendor[CrmSystem]) -> ByVendor[Trigger]:
    """One Trigger per CRM this deployment serves (C2C_CRMS), alike but for the CRM each reads and starts
    `c2c:{crm}:{deal}` from; the default is the default CRM's."""
    return ByVendor("crm", {name: replace(trigger, crm=crm) for name, crm in crms}, crms.default_name)


def summary_of(deal: Deal) -> str:
    """One line for the Temporal UI's workflow list and page: deal, customer, amount per period."""
    return f"{deal.name} · {deal.customer.legal_name} · {deal.period_amount} per {deal.billing_period.value}"


def details_of(deal: Deal) -> str:
    """The deal as the saga started from it (markdown, shown on the workflow's page)."""
    lines = "\n".join(f"- {line.quantity} × {line.product_code} at {line.unit_price}" for line in deal.lines)
    return (
        f"**{deal.name}** for **{deal.customer.legal_name}** (CRM deal `{deal.deal_id}`)\n\n"
        f"{deal.legal_entity}, {deal.currency}, {deal.term_months} months billed per {deal.billing_period.value}, "
        f"closed {deal.close_date.isoformat()}\n\n{lines}"
    )
