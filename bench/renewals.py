"""The month-end backlog's setup: N subscriptions on one Stripe test clock, each followed by its own
SubscriptionLifecycle waiting for period 2, without running N first-invoice sagas (at this box's 0.5 sagas/s,
10,000 of them would take about six hours).

Each subscription is made by the steps of the deal's saga that leave state a renewal needs, called as the saga's own
activities (the same classes, connectors and HTTP; not through Temporal): read the deal from the CRM, resolve the
golden customer in the store, create and update the billing customer (on the test clock), create the ERP customer,
link the refs, ensure the prices and create the subscription. What a renewal does not read is left out: the first
period's tax, invoice, posting and payment (its draft stays held, as the saga holds it until it invoices), the CRM
write-back and the outbox events. Then the lifecycle starts as the saga's `start_lifecycle` starts it (same id and
input, `first_invoice` unset: no period 1 in its status) and records the CRM contract, as every lifecycle does.
None of this is measured: the drain (bench/backlog.py) is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError

from activities.billing import BillingActivities
from activities.crm import CrmActivities
from activities.erp import ErpActivities
from activities.store import StoreActivities
from bench.estate import BenchEstate
from canonical import ids
from canonical.reference import LEGAL_ENTITIES
from connectors.stripe import StripeBilling
from estate.clock import TestClock
from workflows import documents
from workflows import interface as act
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleInput

CONCURRENCY = 16  # subscriptions set up at once (the sandbox is one process: more only queue there)
# Customers per test clock. The emulator advances a clock in one step that looks at every subscription and invoice
# it holds for each renewal it makes (its time grows with the square of the subscriptions on a clock advanced at
# once: one clock of 2,000 held the sandbox for longer than its clients wait). Clocks of 100, all frozen at the
# same second and moved to the same moment, keep each step short and still make every renewal at one instant.
CLOCK_SIZE = 100


class Subscriber:
    """The saga's onboarding and activation activities, called directly on the bench's connectors."""

    def __init__(self, estate: BenchEstate) -> None:
        c = estate.connectors
        self.estate = estate
        self.crm, self.store = CrmActivities(c.crms), StoreActivities(estate.engine)
        self.billing, self.erp = BillingActivities(c.billings), ErpActivities(c.erps)
        # Price ids by the deal's price lookup keys: the catalog is shared, so ensured once per set of prices (the
        # first asker's task; concurrent ensures of one price race for its idempotency key, as sagas retry through).
        self._prices: dict[str, asyncio.Task[dict[str, str]]] = {}

    async def subscribe(self, deal_id: str) -> LifecycleInput:
        crm = self.estate.settings.crm
        key = f"bench-backlog:{deal_id}"
        deal = await self.crm.fetch_deal(act.FetchDeal(deal_id=deal_id, crm=crm))
        resolved = await self.store.resolve_customer(act.ResolveCustomer(crm=crm, customer=deal.customer))
        golden, refs = resolved.golden_id, dict(resolved.refs)
        billing, erp = act.BillingCall().billing, act.ErpCall().erp
        if billing not in refs:
            refs[billing] = await self.billing.create_customer(
                act.CreateBillingCustomer(
                    golden_id=golden, legal_name=resolved.legal_name, idempotency_key=ids.billing_customer_key(golden)
                )
            )
        customer = deal.customer.model_copy(
            update={"golden_id": golden, "external_refs": {**deal.customer.external_refs, **refs}}
        )
        billing_id, erp_id = await asyncio.gather(
            self.billing.upsert_customer(
                act.UpsertBillingCustomer(customer=customer, idempotency_key=f"{key}:billing-customer")
            ),
            self.erp.upsert_customer(
                act.UpsertErpCustomer(
                    customer=customer, legal_entity=LEGAL_ENTITIES[deal.legal_entity], currency=deal.currency
                )
            ),
        )
        await self.store.link_refs(
            act.LinkRefs(golden_id=golden, refs={billing: billing_id, f"{erp}:{deal.legal_entity}": erp_id})
        )
        prices = documents.price_requests(deal)
        catalog = ",".join(sorted(p.price.lookup_key for p in prices))
        if catalog not in self._prices:
            ensure = self.billing.ensure_prices(act.EnsurePrices(prices=prices, idempotency_key=f"{key}:prices"))
            self._prices[catalog] = asyncio.create_task(ensure)
        price_ids = await self._prices[catalog]
        subscription = await self.billing.create_subscription(
            act.CreateSubscription(
                customer_id=billing_id,
                contract=documents.contract(deal, golden),
                price_ids=price_ids,
                idempotency_key=f"{key}:subscription",
            )
        )
        if subscription.current_period_end is None:
            raise SystemExit(f"billing gave subscription {subscription.id} of {deal_id} no period end")
        return LifecycleInput(
            crm=crm,
            deal=deal,
            golden_id=golden,
            subscription_id=subscription.id,
            billing_customer_id=billing_id,
            erp_customer_id=erp_id,
            first_period_end=subscription.current_period_end,
        )


async def _retried(step: Callable[[], Awaitable[LifecycleInput]], attempts: int = 5) -> LifecycleInput:
    """As Temporal would retry the activities: a retryable failure (a dropped connection on the loaded box) runs
    the steps again; each is idempotent (keyed, or checked before it creates)."""
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except ApplicationError as error:
            if error.non_retryable or attempt == attempts:
                raise
            await asyncio.sleep(attempt)
    raise AssertionError("unreachable")


Subscription = tuple[WorkflowHandle[Any, Any], LifecycleInput]


async def subscriptions(
    estate: BenchEstate, deal_ids: list[str], progress: Callable[[str], Any]
) -> tuple[list[Subscription], list[TestClock]]:
    """A subscription and a started lifecycle per deal, on test clocks of CLOCK_SIZE customers each, all frozen at
    one instant (so every subscription's period ends at the same moment); the clocks, to move them on."""
    key = estate.settings.stripe_api_key.get_secret_value()
    billing = estate.connectors.billing
    assert isinstance(billing, StripeBilling)
    frozen = datetime.now(UTC).replace(microsecond=0)
    subscriber = Subscriber(estate)
    gate = asyncio.Semaphore(CONCURRENCY)
    made: list[Subscription] = []
    clocks: list[TestClock] = []

    async def one(deal_id: str) -> Subscription:
        async with gate:
            args = await _retried(lambda: subscriber.subscribe(deal_id))
            handle = await estate.client.start_workflow(
                SubscriptionLifecycle.run,
                args,
                id=ids.subscription_id(args.crm, deal_id),
                task_queue=estate.queue,
            )
        return handle, args

    try:
        for first in range(0, len(deal_ids), CLOCK_SIZE):
            clock = await TestClock.create(estate.admin, estate.settings.stripe_url, key, "bench month-end", frozen)
            clocks.append(clock)
            billing.test_clock = clock.clock_id  # the connector puts the customers it creates on it
            made += await asyncio.gather(*(one(d) for d in deal_ids[first : first + CLOCK_SIZE]))
            progress(f"backlog setup: {len(made)}/{len(deal_ids)} subscriptions and lifecycles")
    finally:
        billing.test_clock = None
    return made, clocks
