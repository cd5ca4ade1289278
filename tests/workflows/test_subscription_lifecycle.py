"""The subscription lifecycle on the real servers: a Stripe test clock moves billing month by month, the
time-skipping server moves the workflow's timers; each later period is taxed, posted and applied exactly once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from canonical import RenewalInvoice, ids
from tests.support.histories import record_history
from tests.support.lifecycle import LifecycleEstate, adopt, advance, billed, skip_to, webhooks
from tests.support.polling import eventually
from tests.support.sagas import USD_DEAL
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleStatus

DEAL = replace(USD_DEAL, key="LIFE-USD", term_months=24)
PERIODS = 12  # the saga's first period and eleven more


async def test_twelve_monthly_periods_are_each_taxed_posted_and_applied_once(
    lifecycle_env: LifecycleEstate, lifecycle_server: WorkflowEnvironment, left_running: list[Any]
) -> None:
    estate_, clock_id, hook = lifecycle_env.estate, lifecycle_env.clock_id, lifecycle_env.hook
    env = lifecycle_server
    # The deal closes "today" on the session's time-skipping server, which earlier tests may have moved years on:
    # its term (cancel_at) must lie after the test clock's time, as for a real deal.
    today = (await env.get_current_time()).date()
    deal_id = await estate_.closed_deal(replace(DEAL, close_date=today.isoformat()))
    started = await estate_.trigger.start(deal_id)
    saga = estate_.client.get_workflow_handle(started.workflow_id)

    async def saga_done() -> bool:  # polled, not awaited: awaiting a result would let the server skip time
        return (await saga.describe()).status is WorkflowExecutionStatus.COMPLETED

    await eventually(saga_done, timeout=60)
    # Adopted as a top-level workflow: when the saga's abandoned child continues as new after its parent closed,
    # the time-skipping server can stop skipping (each skip then waits out its 30 s RPC deadline).
    lifecycle = await adopt(estate_, ids.subscription_id("salesforce", deal_id))
    left_running.append(lifecycle)
    status: LifecycleStatus = await lifecycle.query(SubscriptionLifecycle.status)
    first_run = (await lifecycle.describe()).run_id
    grace = timedelta(hours=6)
    lost = {4, 9}  # periods whose webhook never arrives: the backstop bills them
    duplicated = 6  # every event of this month is delivered twice
    for period in range(2, PERIODS + 1):
        start = status.next_period_start
        at = start + timedelta(minutes=10)
        if period in lost:
            await webhooks(estate_, None)
        elif period == duplicated:
            await webhooks(estate_, hook, duplicates=1)
        await skip_to(env, at)  # workflow time follows billing's, no timer due yet
        await advance(estate_, clock_id, at)
        if period in lost:
            await skip_to(env, at + grace)  # past the grace: the backstop timer fires and reads billing
        status = await billed(lifecycle, period)
        if period in lost or period == duplicated:
            await webhooks(estate_, hook)

    assert (await lifecycle.describe()).run_id != first_run  # continued as new on the way, carrying the periods
    # period 1 is the saga's (its invoice, for a later credit); the lifecycle billed the others
    periods = {p.number: p for p in status.periods if p.number > 1}
    assert [p.trigger for p in status.periods if p.number == 1] == ["saga"]
    assert sorted(periods) == list(range(2, PERIODS + 1))
    assert {n for n, p in periods.items() if p.trigger == "backstop"} == lost
    invoices = [p.ids["invoice"] for p in periods.values()]
    assert len(set(invoices)) == PERIODS - 1
    netsuite, avatax, stripe = (
        await estate_.state("netsuite"),
        await estate_.state("avatax"),
        await estate_.state("stripe"),
    )
    for period in periods.values():
        [erp_invoice] = [i for i in netsuite["invoice"] if i["externalId"] == period.ids["invoice"]]
        assert erp_invoice["status"] == "Paid In Full"
        assert len([p for p in netsuite["customerPayment"] if p["externalId"] == period.ids["payment"]]) == 1
        [document] = [d for d in avatax["documents"] if d["code"] == period.ids["tax_document"]]
        assert document["status"] == "Committed"
        [invoice] = [i for i in stripe["invoices"] if i["id"] == period.ids["invoice"]]
        assert invoice["status"] == "paid"
        assert invoice["amount_paid"] == period.totals["total"] == period.totals["paid"]
        taxes = [line for line in invoice["lines"]["data"] if line["metadata"].get("c2c_line") == "tax"]
        assert [line["amount"] for line in taxes] == [period.totals["tax"]]
        assert period.totals["tax"] > 0
        assert period.totals["total"] == period.totals["subtotal"] + period.totals["tax"]
    codes = {p.ids["tax_document"] for p in periods.values()}
    assert len(codes) == PERIODS - 1
    assert ids.tax_document_code("salesforce", deal_id) not in codes
    renewals = [i for i in stripe["invoices"] if i["subscription"] == status.subscription_id]
    assert len([i for i in renewals if i["billing_reason"] == "subscription_cycle"]) == PERIODS - 1

    # Bad input changes nothing: an invoice of another subscription, a period already billed.
    before = [p.model_dump() for p in status.periods]
    first = periods[2]
    assert first.end is not None
    other = RenewalInvoice(
        invoice_id="in_other",
        subscription_id="sub_other",
        status="draft",
        period_start=status.next_period_start,
        period_end=status.next_period_start + timedelta(days=30),
        deal_id=deal_id,
    )
    again = RenewalInvoice(
        invoice_id=first.ids["invoice"],
        subscription_id=status.subscription_id,
        status="paid",
        period_start=first.start,
        period_end=first.end,
        deal_id=deal_id,
    )
    await lifecycle.signal(SubscriptionLifecycle.renewal_invoiced, other)
    await lifecycle.signal(SubscriptionLifecycle.renewal_invoiced, again)

    async def ignored() -> LifecycleStatus | None:
        now: LifecycleStatus = await lifecycle.query(SubscriptionLifecycle.status)
        details = [e.detail or "" for e in now.timeline if e.event == "renewal ignored"]
        hits = [d for d in details if "in_other" in d or first.ids["invoice"] in d]
        return now if len(hits) >= 2 else None

    after = await eventually(ignored)
    assert [p.model_dump() for p in after.periods] == before
    await record_history(lifecycle, "subscription_lifecycle_webhooks_and_backstop")
    await record_history(saga, "customer_to_cash_starts_lifecycle")
    # Terminated, not cancelled: the time-skipping test server locks its clock for the rest of the session once
    # an abandoned child closes by itself after its parent did (cancelling: test_lifecycle_cancellation.py).
    await lifecycle.terminate("test over")
