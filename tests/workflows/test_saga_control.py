"""Saga control flow on the time-skipping server with activities re-declared by name (no vendors).

The emulator-backed end-to-end tests live in test_customer_to_cash.py; these cover what needs timers
or precise failure injection: pending payments, dunning timeout, parking rules and finance decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from activities.contracts import Names
from canonical import Invoice, Payment, PaymentStatus, Subscription, SubscriptionItem
from tests.factories import make_deal, make_payment, make_quote, with_billing_id
from workflows.customer_to_cash import PAYMENT_WAIT, CustomerToCash
from workflows.saga import Resolution, ResolutionAction, SagaInput, Stage


@dataclass
class FakeEstate:
    """What the fake activities were asked to do, and knobs to make them fail or pend."""

    calls: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    payment_results: list[PaymentStatus | str] = field(default_factory=lambda: [PaymentStatus.SUCCEEDED])
    deal_changes: dict[str, Any] = field(default_factory=dict)

    def activities(self) -> list[Callable[..., Any]]:
        estate = self

        def record(name: str) -> None:
            estate.calls.append(name)

        @activity.defn(name=Names.FETCH_DEAL)
        async def fetch_deal(args: act.FetchDeal) -> Any:
            record(Names.FETCH_DEAL)
            return make_deal(args.deal_id, **estate.deal_changes)

        @activity.defn(name=Names.RESOLVE_CUSTOMER)
        async def resolve_customer(args: act.ResolveCustomer) -> act.ResolvedCustomer:
            record(Names.RESOLVE_CUSTOMER)
            return act.ResolvedCustomer(golden_id="gc_test", legal_name="Acme Corp", created=True, refs={})

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

        def plain(name: str, result: Any = None) -> Callable[..., Any]:
            @activity.defn(name=name)
            async def fake(args: Any) -> Any:
                record(name)
                return result

            return fake

        return [
            fetch_deal,
            resolve_customer,
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
            plain(Names.RECORD_EVENT, True),
            plain(Names.RECORD_FACT),
            plain(Names.POST_INVOICE, "201"),
            plain(Names.COMMIT_TAX),
            plain(Names.APPLY_PAYMENT, "301"),
            plain(Names.POST_JOURNAL, "401"),
            plain(Names.POST_CREDIT_MEMO, "501"),
            plain(Names.VOID_INVOICE),
            plain(Names.VOID_TAX),
            plain(Names.CANCEL_SUBSCRIPTION),
        ]


def make_invoice_for(estate: FakeEstate) -> Invoice:
    from datetime import date

    from canonical import InvoiceLine
    from tests.factories import usd

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


@pytest.fixture
async def saga_env(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[tuple[WorkflowEnvironment, FakeEstate, str]]:
    estate = FakeEstate()
    by_queue: dict[str, list[Callable[..., Any]]] = {}
    for fn in estate.activities():
        name = fn.__temporal_activity_definition.name  # type: ignore[attr-defined]
        by_queue.setdefault(name.split(".")[0], []).append(fn)
    async with AsyncExitStack() as stack:
        client = time_skipping_env.client
        await stack.enter_async_context(Worker(client, task_queue=task_queue, workflows=[CustomerToCash]))
        for queue, fns in by_queue.items():
            await stack.enter_async_context(Worker(client, task_queue=f"{task_queue}-{queue}", activities=fns))
        yield time_skipping_env, estate, task_queue


async def start(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle[Any, Any]:
    deal_id = f"006{uuid.uuid4().hex[:12]}"
    return await env.client.start_workflow(
        CustomerToCash.run, SagaInput(deal_id=deal_id), id=f"c2c:salesforce:{deal_id}", task_queue=task_queue
    )


async def wait_stage(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], stage: Stage) -> Any:
    for _ in range(200):
        status = await handle.query(CustomerToCash.status)
        if status.stage is stage:
            return status
        await env.sleep(timedelta(seconds=1))
    raise AssertionError(f"saga never reached {stage}; last {status.stage}")


async def test_pending_payment_settles_when_the_billing_webhook_signals(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.PENDING]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.SETTLE)
    await handle.signal(CustomerToCash.payment_settled, make_payment("in_1", 525_53, PaymentStatus.SUCCEEDED))
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    assert result.totals["paid"] == 525_53


async def test_payment_with_no_outcome_for_three_days_parks_for_finance(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.PENDING, PaymentStatus.SUCCEEDED]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.SETTLE)
    await env.sleep(PAYMENT_WAIT + timedelta(minutes=1))
    status = await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    assert status.problem.code == "payment_timeout"
    await handle.execute_update(CustomerToCash.resolve, Resolution(action=ResolutionAction.RETRY))
    assert (await handle.result()).outcome is Stage.COMPLETED


async def test_declined_card_parks_and_a_retry_uses_a_new_payment_key(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = ["declined", PaymentStatus.SUCCEEDED]
    handle = await start(env, queue)
    status = await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    assert (status.problem.system, status.problem.code) == ("stripe", "card_declined")
    assert status.problem.message == "Your card was declined."
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "**Needs attention** at stage `settle`: stripe/card_declined" in metadata.current_details  # shown in the UI
    await handle.signal(CustomerToCash.resume)
    assert (await handle.result()).outcome is Stage.COMPLETED
    payment_keys = [k for k in estate.keys if k.endswith(":payment") or ":payment:" in k]
    assert payment_keys == [f"{handle.id}:payment", f"{handle.id}:payment:r1"]


async def test_resolution_is_rejected_when_the_saga_is_not_parked(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.PENDING]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.SETTLE)
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(CustomerToCash.resolve, Resolution(action=ResolutionAction.CANCEL))
    assert "not waiting for a decision" in str(rejected.value.cause)
    await handle.signal(CustomerToCash.payment_settled, make_payment("in_1", 525_53))
    assert (await handle.result()).outcome is Stage.COMPLETED


async def test_address_fix_is_only_accepted_for_an_address_problem(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = ["declined", PaymentStatus.SUCCEEDED]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    bad = Resolution(action=ResolutionAction.RETRY_WITH_ADDRESS, corrected_address=make_deal().customer.address)
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(CustomerToCash.resolve, bad)
    assert "not an address" in str(rejected.value.cause)
    await handle.execute_update(CustomerToCash.resolve, Resolution(action=ResolutionAction.RETRY))
    assert (await handle.result()).outcome is Stage.COMPLETED


async def test_cancel_after_invoice_compensates_in_reverse_order(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = ["declined"]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    await handle.execute_update(
        CustomerToCash.resolve, Resolution(action=ResolutionAction.CANCEL, note="customer walked")
    )
    result = await handle.result()
    assert result.outcome is Stage.CANCELLED
    undo = [
        c
        for c in estate.calls
        if c in {Names.POST_CREDIT_MEMO, Names.VOID_INVOICE, Names.VOID_TAX, Names.CANCEL_SUBSCRIPTION}
    ]
    assert undo == [Names.POST_CREDIT_MEMO, Names.VOID_INVOICE, Names.VOID_TAX, Names.CANCEL_SUBSCRIPTION]
    assert result.external_ids["erp_credit_memo"] == "501"


async def test_deal_breaking_a_billing_rule_parks_at_onboard_and_refetches_on_retry(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.deal_changes = {"legal_entity": "XX99"}
    handle = await start(env, queue)
    status = await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    assert status.problem.code == "unknown_legal_entity"
    assert Names.BILLING_CUSTOMER not in estate.calls  # nothing was written anywhere
    estate.deal_changes = {}  # sales fixed the deal in the CRM
    await handle.signal(CustomerToCash.resume)
    assert (await handle.result()).outcome is Stage.COMPLETED
    assert estate.calls.count(Names.FETCH_DEAL) == 2
