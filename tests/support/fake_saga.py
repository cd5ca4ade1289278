"""A saga estate without vendors: the saga's activities re-declared by name, recording what they were asked.

Used by the saga-control and cancellation tests on the time-skipping server (fixture `saga_env` in
tests/workflows/conftest.py): knobs make an activity fail, refuse, pend or block.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canonical import (
    BusinessEvent,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionItem,
)
from store import OutboxRepository, create_schema, make_engine, session_scope
from tests.support.estate import WORKFLOW_RUNNER
from tests.support.factories import make_deal, make_payment, make_quote, usd, with_billing_id
from tests.support.temporal import BUILD_ID
from workflows import interface as act
from workflows.calls import LOCAL_ACTIVITIES
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import Names
from workflows.saga import Resolution, ResolutionAction, SagaInput, Stage
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleInput


@dataclass
class FakeEstate:
    """What the fake activities were asked to do, and knobs to make them fail or pend."""

    outbox: Engine  # a real SQLite store: business events are deduplicated by id as in production
    calls: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    payment_results: list[PaymentStatus | str] = field(default_factory=lambda: [PaymentStatus.SUCCEEDED])
    deal_changes: dict[str, Any] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)  # types of the business events the outbox kept, in order
    journals: list[str] = field(default_factory=list)  # ERP journal external ids, in order
    failures: dict[str, int] = field(default_factory=dict)  # activity name -> transient failures before success
    problems: dict[str, tuple[str, str]] = field(default_factory=dict)  # activity name -> (system, code) refusal
    # activity name -> (started, release): the activity sets `started` and waits for `release` (a call in flight)
    holds: dict[str, tuple[asyncio.Event, asyncio.Event]] = field(default_factory=dict)

    def hold(self, name: str) -> tuple[asyncio.Event, asyncio.Event]:
        """Make activity `name` wait, once it has started, until the test sets the returned `release`."""
        self.holds[name] = (asyncio.Event(), asyncio.Event())
        return self.holds[name]

    async def held(self, name: str) -> None:
        if name in self.holds:
            started, release = self.holds.pop(name)
            started.set()
            await release.wait()

    def activities(self) -> list[Callable[..., Any]]:
        estate = self

        def record(name: str) -> None:
            estate.calls.append(name)
            if estate.failures.get(name):
                estate.failures[name] -= 1
                raise ApplicationError(f"{name}: 503", {"system": "fake", "code": "unavailable"}, type="TransientError")
            if name in estate.problems:
                system, code = estate.problems[name]
                raise ApplicationError(
                    f"{system}: {code}",
                    {"system": system, "code": code, "message": f"{code} (fake)"},
                    type="BusinessRuleError",
                    non_retryable=True,
                )

        @activity.defn(name=Names.FETCH_DEAL)
        async def fetch_deal(args: act.FetchDeal) -> Any:
            record(Names.FETCH_DEAL)
            return make_deal(args.deal_id, **estate.deal_changes)

        @activity.defn(name=Names.RESOLVE_CUSTOMER)
        async def resolve_customer(args: act.ResolveCustomer) -> act.ResolvedCustomer:
            if args.golden_id is None:
                record(Names.RESOLVE_CUSTOMER)
            else:
                estate.calls.append(f"{Names.RESOLVE_CUSTOMER}:{args.golden_id}")
            return act.ResolvedCustomer(
                golden_id=args.golden_id or "gc_test", legal_name="Acme Corp", created=True, refs={}
            )

        @activity.defn(name=Names.RECORD_EVENT)
        async def record_event(event: BusinessEvent) -> bool:
            record(Names.RECORD_EVENT)
            with session_scope(estate.outbox) as session:
                added = OutboxRepository(session).add(event)
            if added:
                estate.events.append(event.type)
            return added

        @activity.defn(name=Names.POST_JOURNAL)
        async def post_journal(args: act.PostJournal) -> str:
            record(Names.POST_JOURNAL)
            estate.journals.append(args.entry.external_id)
            return f"je-{len(estate.journals)}"

        @activity.defn(name=Names.BILLING_CUSTOMER)
        async def billing_customer(args: act.UpsertBillingCustomer) -> str:
            record(Names.BILLING_CUSTOMER)
            estate.keys.append(args.idempotency_key)
            return "cus_test"

        @activity.defn(name=Names.ERP_CUSTOMER)
        async def erp_customer(args: act.UpsertErpCustomer) -> str:
            record(Names.ERP_CUSTOMER)
            return "101"

        @activity.defn(name=Names.ENSURE_PRICES)
        async def ensure_prices(args: act.EnsurePrices) -> dict[str, str]:
            record(Names.ENSURE_PRICES)
            return {p.price.product_code: f"price_{p.price.product_code}" for p in args.prices}

        @activity.defn(name=Names.CREATE_SUBSCRIPTION)
        async def create_subscription(args: act.CreateSubscription) -> Subscription:
            record(Names.CREATE_SUBSCRIPTION)
            items = [SubscriptionItem(product_code=k, quantity=1, price_id=v) for k, v in args.price_ids.items()]
            return Subscription(id="sub_test", status="active", contract=args.contract, items=items)

        @activity.defn(name=Names.QUOTE_TAX)
        async def quote_tax(args: act.QuoteTax) -> Any:
            await estate.held(Names.QUOTE_TAX)
            record(Names.QUOTE_TAX)
            if args.request.ship_to.postal_code == "00000":
                raise ApplicationError(
                    "avatax: invalid_address: cannot geocode",
                    {"system": "avatax", "code": "invalid_address", "message": "The address could not be geocoded."},
                    type="BusinessRuleError",
                    non_retryable=True,
                )
            return make_quote(args.request.document_code)

        @activity.defn(name=Names.CREATE_INVOICE)
        async def create_invoice(args: act.CreateInvoice) -> Invoice:
            await estate.held(Names.CREATE_INVOICE)
            record(Names.CREATE_INVOICE)
            return with_billing_id(args.invoice)

        @activity.defn(name=Names.FINALIZE_INVOICE)
        async def finalize_invoice(args: act.InvoiceAction) -> Invoice:
            record(Names.FINALIZE_INVOICE)
            return with_billing_id(make_invoice_for(estate), number="INV-0001")

        @activity.defn(name=Names.COLLECT_PAYMENT)
        async def collect_payment(args: act.InvoiceAction) -> Payment:
            record(Names.COLLECT_PAYMENT)
            estate.keys.append(args.idempotency_key)
            outcome = estate.payment_results.pop(0) if len(estate.payment_results) > 1 else estate.payment_results[0]
            if outcome == "declined":
                raise ApplicationError(
                    "stripe: card_declined",
                    {"system": "stripe", "code": "card_declined", "message": "Your card was declined."},
                    type="BusinessRuleError",
                    non_retryable=True,
                )
            return make_payment(args.invoice_id, 525_53, PaymentStatus(outcome))

        @activity.defn(name=Names.COMPLETE_RENEWAL_INVOICE)
        async def complete_renewal_invoice(args: act.CompleteRenewalInvoice) -> Invoice:
            await estate.held(Names.COMPLETE_RENEWAL_INVOICE)
            record(Names.COMPLETE_RENEWAL_INVOICE)
            return with_billing_id(args.invoice, args.invoice_id)

        def plain(name: str, result: Any = None) -> Callable[..., Any]:
            @activity.defn(name=name)
            async def fake(args: Any) -> Any:
                await estate.held(name)
                record(name)
                return result

            return fake

        return [
            fetch_deal,
            resolve_customer,
            record_event,
            post_journal,
            billing_customer,
            erp_customer,
            ensure_prices,
            create_subscription,
            quote_tax,
            create_invoice,
            finalize_invoice,
            collect_payment,
            plain(Names.CREATE_BILLING_CUSTOMER, "cus_test"),
            plain(Names.LINK_REFS),
            plain(Names.WRITE_BACK),
            plain(Names.RECORD_FACT),
            plain(Names.POST_INVOICE, "201"),
            plain(Names.COMMIT_TAX),
            plain(Names.APPLY_PAYMENT, "301"),
            plain(Names.POST_CREDIT_MEMO, "501"),
            plain(Names.VOID_INVOICE),
            plain(Names.SEND_INVOICE),
            plain(Names.MARK_UNCOLLECTIBLE),
            plain(Names.CREDIT_INVOICE, "cn_test"),
            plain(Names.SYNC_CUSTOMER_MASTER),
            plain(Names.VOID_TAX),
            plain(Names.CANCEL_SUBSCRIPTION),
            plain(Names.RENEWAL_INVOICES, []),
            plain(Names.UPSERT_CONTRACT, "800TEST"),
            plain(Names.UPDATE_CONTRACT),
            plain(Names.UPDATE_SUBSCRIPTION),
            plain(Names.SET_TERM_END),
            plain(Names.POST_CREDIT_NOTE, "601"),
            complete_renewal_invoice,
        ]


def make_invoice_for(estate: FakeEstate) -> Invoice:
    return Invoice(
        golden_customer_id="gc_test",
        legal_entity="US01",
        currency="USD",
        issue_date=date(2026, 11, 28),
        due_date=date(2026, 11, 28),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT", description="seat", quantity=10, unit_amount=usd(49_00), amount=usd(490_00)
            )
        ],
        tax=usd(35_53),
    )


def local_writes(fns: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """Of a queue's fake activities, those the workflows run as local activities (on the workflow's own worker)."""
    return [fn for fn in fns if fn.__temporal_activity_definition.name in LOCAL_ACTIVITIES]  # type: ignore[attr-defined]


@asynccontextmanager
async def fake_saga_estate(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[WorkflowEnvironment, FakeEstate, str]]:
    """A saga worker and the fake activities' workers on `task_queue`, the outbox in a SQLite file."""
    outbox = make_engine(f"sqlite:///{tmp_path}/outbox.db")
    create_schema(outbox)
    estate = FakeEstate(outbox)
    by_queue: dict[str, list[Callable[..., Any]]] = {}
    for fn in estate.activities():
        name = fn.__temporal_activity_definition.name  # type: ignore[attr-defined]
        by_queue.setdefault(name.split(".")[0], []).append(fn)
    async with AsyncExitStack() as stack:
        client = time_skipping_env.client
        await stack.enter_async_context(
            Worker(
                client,
                build_id=BUILD_ID,
                task_queue=task_queue,
                workflows=[CustomerToCash, SubscriptionLifecycle],
                activities=local_writes(by_queue.get("hub", [])),
                workflow_runner=WORKFLOW_RUNNER,
            )
        )
        for queue, fns in by_queue.items():
            await stack.enter_async_context(
                Worker(client, build_id=BUILD_ID, task_queue=f"{task_queue}-{queue}", activities=fns)
            )
        yield time_skipping_env, estate, task_queue


async def start(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle[Any, Any]:
    deal_id = f"006{uuid.uuid4().hex[:12]}"
    return await env.client.start_workflow(
        CustomerToCash.run, SagaInput(deal_id=deal_id), id=f"c2c:salesforce:{deal_id}", task_queue=task_queue
    )


async def wait_stage(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], stage: Stage, step: timedelta = timedelta(seconds=1)
) -> Any:
    """Poll the status, moving the test server's clock by `step` between polls (larger for the dunning days)."""
    for _ in range(200):
        status = await handle.query(CustomerToCash.status)
        if status.stage is stage:
            return status
        await env.sleep(step)
    raise AssertionError(f"saga never reached {stage}; last {status.stage}")


FINANCE = "jane@finance"


def decision(action: ResolutionAction, **fields: Any) -> Resolution:
    return Resolution(action=action, actor=FINANCE, **fields)


def undo_calls(estate: FakeEstate) -> list[str]:
    names = {
        Names.POST_CREDIT_MEMO,
        Names.VOID_INVOICE,
        Names.CREDIT_INVOICE,
        Names.VOID_TAX,
        Names.CANCEL_SUBSCRIPTION,
    }
    return [c for c in estate.calls if c in names]


async def start_fake_lifecycle(
    env: WorkflowEnvironment, queue: str, first_period_end_in: timedelta
) -> WorkflowHandle[Any, Any]:
    """A SubscriptionLifecycle on the fake vendors, started directly (not as a saga's child: the time-skipping server
    locks its clock once an abandoned child ends after its parent), its next period starting in `first_period_end_in`.

    Its term starts on the server's today: earlier tests may have moved that clock years on, and a term already over
    would end the lifecycle at once."""
    deal = make_deal(close_date=(await env.get_current_time()).date())
    args = LifecycleInput(
        deal=deal,
        golden_id="gc_test",
        subscription_id="sub_test",
        billing_customer_id="cus_test",
        erp_customer_id="101",
        first_period_end=await env.get_current_time() + first_period_end_in,
    )
    return await env.client.start_workflow(
        SubscriptionLifecycle.run, args, id=f"c2c:salesforce:{deal.deal_id}:{queue}:subscription", task_queue=queue
    )
