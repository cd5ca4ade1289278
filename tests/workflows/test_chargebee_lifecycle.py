"""A subscription billed on Chargebee (UK01 configured `billing: chargebee`, booked in Xero), end to end on the
time-skipping server with the emulators over HTTP, billing time moved by Chargebee's time machine beside the
workflow clock: an upsell won in the CRM mid-period prorates in Chargebee once, and the renewal Chargebee makes at
the period's end (with that proration) is taxed, closed, posted to Xero, collected and applied exactly once, even
with Chargebee's answers to the change and to the renewal's tax line lost; a period whose webhook never comes is
found by the lifecycle's backstop, whose refused read parks the lifecycle until finance retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from estate.amendments import UPGRADE, amendment_deal
from tests.support.emulators import Emulators
from tests.support.lifecycle import (
    LifecycleEstate,
    adopt,
    billed,
    chargebee_hook,
    lifecycle_estate,
    skip_to,
    status_of,
)
from tests.support.lifecycle_changes import applied
from tests.support.polling import eventually
from tests.support.sagas import GBP_DEAL
from tests.support.xero import TENANT
from workflows.saga import Resolution, ResolutionAction
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleInput, LifecycleStatus

UK_ON_CHARGEBEE = {"UK01": {"billing": "chargebee", "erp": "xero"}}
GRACE: timedelta = LifecycleInput.model_fields["grace"].default  # then the backstop reads billing's renewals


@pytest.fixture
async def chargebee_lifecycle_env(
    lifecycle_server: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[LifecycleEstate]:
    emulators = Emulators()
    try:
        async with lifecycle_estate(
            lifecycle_server, emulators, task_queue, tmp_path, vendors_by_entity=UK_ON_CHARGEBEE
        ) as estate:
            # Billing's time starts at the workflow clock's, as the Stripe test clock does for Stripe's customers.
            now = await lifecycle_server.get_current_time()
            await time_machine(estate, "start_afresh", genesis_time=int(now.timestamp()))
            yield estate
    finally:
        emulators.stop()


async def time_machine(lifecycle: LifecycleEstate, action: str, **form: int) -> None:
    estate = lifecycle.estate
    answer = await estate.http.post(
        f"{estate.urls['chargebee']}/api/v2/time_machines/delorean/{action}",
        data={name: str(value) for name, value in form.items()},
        auth=(estate.settings.chargebee_api_key.get_secret_value(), ""),
    )
    answer.raise_for_status()
    assert answer.json()["time_machine"]["time_travel_status"] == "succeeded"


async def move_to(lifecycle: LifecycleEstate, env: WorkflowEnvironment, at: datetime) -> None:
    """Chargebee's site time, then workflow time move to `at` (billing first: a backstop due on the way reads
    billing as it is at its moment)."""
    await time_machine(lifecycle, "travel_forward", destination_time=int(at.timestamp()))
    await skip_to(env, at)


async def test_a_uk01_subscription_on_chargebee_prorates_an_upsell_once_and_bills_its_renewal_once_to_xero(
    chargebee_lifecycle_env: LifecycleEstate, lifecycle_server: WorkflowEnvironment, left_running: list[Any]
) -> None:
    lifecycle_env, env = chargebee_lifecycle_env, lifecycle_server
    estate = lifecycle_env.estate
    today = (await env.get_current_time()).date()
    deal_id = await estate.closed_deal(replace(GBP_DEAL, key="LIFE-GBP-CB", close_date=today.isoformat()))
    saga = estate.client.get_workflow_handle((await estate.trigger.start(deal_id)).workflow_id)

    async def saga_done() -> bool:  # polled, not awaited: awaiting a result would let the server skip time
        return (await saga.describe()).status is WorkflowExecutionStatus.COMPLETED

    await eventually(saga_done, timeout=60)
    handle = await adopt(estate, ids.subscription_id("salesforce", deal_id))
    left_running.append(handle)

    async def contracted() -> LifecycleStatus | None:
        status = await status_of(handle)
        return status if status and status.contract_id else None

    status = await eventually(contracted)
    [first] = status.periods
    assert status.billing == "chargebee"
    assert status.contract_id is not None

    # Period 1, ten days in: the rep wins 5 more seats; Chargebee's answer to the change is lost once.
    upsell_day = first.start + timedelta(days=10)
    await move_to(lifecycle_env, env, upsell_day)
    await estate.fault(
        "chargebee",
        method="POST",
        path_prefix="/api/v2/subscriptions/",
        path_suffix="/update_for_items",
        kind="reset_after",
    )
    upsell = await amendment_deal(
        estate.crm,
        f"CB-UP-{estate.suffix}",
        status.contract_id,
        kind=UPGRADE,
        currency="GBP",
        lines=(("PLAT-SEAT", 5, Decimal("39.00")),),
        effective_date=upsell_day.date(),
    )
    assert (await estate.trigger.start(upsell)).started
    status = await applied(handle, upsell)
    assert {line.product_code: line.quantity for line in status.lines} == {"PLAT-SEAT": 15, "ANALYTICS": 1}
    chargebee = await estate.state("chargebee")
    [subscription] = [s for s in chargebee["subscriptions"] if s["id"] == status.subscription_id]
    addons = [i["quantity"] for i in subscription["subscription_items"] if i["item_type"] == "addon"]
    assert sorted(addons) == [1, 15]
    [proration] = chargebee["unbilled_charges"]  # prorated once, whatever the retry did
    assert 0 < proration["amount"] < 5 * 39_00

    # The period ends: Chargebee renews, its subscription_renewed webhook signals the lifecycle (no backstop wait),
    # and the answer to the renewal's tax line is lost once.
    await estate.fault(
        "chargebee",
        method="POST",
        path_prefix="/api/v2/invoices/",
        path_suffix="/add_charge",
        kind="reset_after",
    )
    await move_to(lifecycle_env, env, status.next_period_start + timedelta(minutes=5))
    status = await billed(handle, 2)
    second = status.periods[-1]
    assert second.trigger == "webhook"
    chargebee = await estate.state("chargebee")
    ours = [i for i in chargebee["invoices"] if i["subscription_id"] == status.subscription_id]
    assert len(ours) == 2  # the first and one renewal
    [renewal] = [i for i in ours if not i["first_invoice"]]
    assert renewal["id"] == second.ids["invoice"]
    assert (renewal["status"], renewal["amount_paid"]) == ("paid", second.totals["total"])
    prorated = [line for line in renewal["line_items"] if line["description"].endswith("Prorated Charges")]
    assert [line["amount"] for line in prorated] == [proration["amount"]]
    taxes = [line for line in renewal["line_items"] if line["entity_type"] == "adhoc"]
    assert [line["amount"] for line in taxes] == [second.totals["tax"]]  # the tax line once, its answer lost or not
    assert second.totals["subtotal"] == 15 * 39_00 + 159_00 + proration["amount"]
    assert chargebee["unbilled_charges"] == []

    xero = (await estate.state("xero"))[TENANT]
    booked = [i for i in xero["Invoices"] if i["InvoiceNumber"] == renewal["id"]]
    assert len(booked) == 1  # the renewal reaches the ERP once
    assert round(Decimal(str(booked[0]["Total"])) * 100) == renewal["total"]
    assert booked[0]["Status"] == "PAID"
    payments = [p for p in xero["Payments"] if p["Reference"] == second.ids["payment"]]
    assert len(payments) == 1
    stripe = await estate.state("stripe")
    assert not [i for i in stripe.get("invoices", []) if i.get("subscription") == status.subscription_id]
    # Both lost answers did cost a retry: the change's update and the renewal's completion.
    assert {"billing.update_subscription", "billing.complete_renewal_invoice"} <= await retried(handle)

    # Period 3 without a webhook: the backstop reads Chargebee past the grace; its first read is refused, which parks
    # the lifecycle (not a period) until finance retries; then it bills the renewal it finds.
    await chargebee_hook(estate, None)
    await estate.fault(
        "chargebee",
        method="GET",
        path_prefix="/api/v2/invoices",
        path_suffix="invoices",
        kind="status",
        status=400,
        body={"message": "refused once", "type": "invalid_request", "api_error_code": "param_wrong_value"},
    )
    await move_to(lifecycle_env, env, status.next_period_start + GRACE + timedelta(minutes=5))

    async def parked() -> LifecycleStatus | None:
        now = await status_of(handle)
        return now if now is not None and now.problem is not None else None

    problem = (await eventually(parked, timeout=60)).problem
    assert problem is not None
    assert (problem.system, problem.code) == ("chargebee", "param_wrong_value")
    await handle.execute_update(
        SubscriptionLifecycle.resolve, Resolution(action=ResolutionAction.RETRY, actor="finance@example.com")
    )
    status = await billed(handle, 3)
    assert status.periods[-1].trigger == "backstop"
    renewals = [
        i for i in (await estate.state("chargebee"))["invoices"] if i["subscription_id"] == status.subscription_id
    ]
    assert len(renewals) == 3
    xero = (await estate.state("xero"))[TENANT]
    assert len([i for i in xero["Invoices"] if i["InvoiceNumber"] == status.periods[-1].ids["invoice"]]) == 1


async def retried(handle: Any) -> set[str]:
    """The activity types the lifecycle's history ran more than once."""
    events = (await handle.fetch_history()).events
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    return {
        scheduled[e.activity_task_started_event_attributes.scheduled_event_id]
        for e in events
        if e.HasField("activity_task_started_event_attributes") and e.activity_task_started_event_attributes.attempt > 1
    }
