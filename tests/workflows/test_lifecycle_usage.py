"""Usage-based billing end to end: a deal with a usage-priced line (API-CALLS, metered in Stripe), usage events
through the trigger API (`POST /usage`), each reported once to Stripe's meter by its UsageReporting workflow, and
the period's usage on the next renewal invoice — taxed, posted to the ERP and paid like any other line. A late
event (accepted while its period was open, reported after billing closed it) lands on the next period's invoice."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from canonical import ids
from settings import SANDBOX_API_TOKEN
from store.usage import UsageRecord
from tests.support.estate import Estate
from tests.support.histories import record_history
from tests.support.lifecycle import LifecycleEstate, adopt, advance, billed, skip_to, status_of, webhooks
from tests.support.polling import eventually
from tests.support.sagas import USD_DEAL
from workflows.subscription_messages import LifecycleStatus

DEAL = replace(
    USD_DEAL,
    key="LIFE-USAGE",
    term_months=12,
    lines=[("PLAT-SEAT", 5, Decimal("49.00")), ("API-CALLS", 1, Decimal("0.02"))],
)
AUTH = {"Authorization": f"Bearer {SANDBOX_API_TOKEN}"}


def event(deal_id: str, event_id: str, quantity: int, at: datetime, meter: str = "api_calls") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "subscription": deal_id,
        "meter": meter,
        "quantity": quantity,
        "timestamp": at.isoformat(),
    }


async def reported(estate: Estate, event_id: str) -> WorkflowHandle[Any, Any]:
    handle = estate.client.get_workflow_handle(ids.usage_report_id(event_id))

    async def done() -> bool:
        return (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED

    await eventually(done, timeout=60)
    return handle


def stored(estate: Estate, deal_id: str) -> list[UsageRecord]:
    with Session(estate.engine) as session:
        return list(session.exec(select(UsageRecord).where(UsageRecord.deal_id == deal_id)))


def usage_lines(invoice: dict[str, Any]) -> list[tuple[int, int]]:
    return [
        (line["quantity"], line["amount"])
        for line in invoice["lines"]["data"]
        if (line.get("price") or {}).get("recurring", {}).get("usage_type") == "metered"
    ]


async def test_usage_is_counted_once_through_the_meter_to_the_invoice_the_erp_and_the_next_period_when_late(
    lifecycle_env: LifecycleEstate, lifecycle_server: Any, left_running: list[Any]
) -> None:
    estate, clock_id, hook = lifecycle_env.estate, lifecycle_env.clock_id, lifecycle_env.hook
    env = lifecycle_server
    api = hook.removesuffix("/webhooks/stripe")
    today = (await env.get_current_time()).date()
    deal_id = await estate.closed_deal(replace(DEAL, close_date=today.isoformat()))
    started = await estate.trigger.start(deal_id)
    saga = estate.client.get_workflow_handle(started.workflow_id)

    async def saga_done() -> bool:
        return (await saga.describe()).status is WorkflowExecutionStatus.COMPLETED

    await eventually(saga_done, timeout=60)
    lifecycle = await adopt(estate, ids.subscription_id("salesforce", deal_id))
    left_running.append(lifecycle)
    status: LifecycleStatus = await eventually(lambda: status_of(lifecycle))
    assert [line.product_code for line in status.usage_lines] == ["API-CALLS"]
    assert [line.product_code for line in status.lines] == ["PLAT-SEAT"]
    period = status.open_period()
    assert period is not None
    assert period.end is not None
    start, end = period.start, period.end

    mid = start + timedelta(days=10)
    await skip_to(env, mid)
    await advance(estate, clock_id, mid)
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as http:

        async def post(body: dict[str, Any]) -> httpx.Response:
            return await http.post(f"{api}/usage", json=body)

        # A lost answer from Stripe's meter on the first report: the retry counts it once.
        await estate.fault("stripe", method="POST", path_prefix="/v1/billing/meter_events", kind="reset_after")
        first = await post(event(deal_id, "u-1", 100, mid - timedelta(hours=2)))
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "accepted"
        assert (await post(event(deal_id, "u-2", 23, mid - timedelta(hours=1)))).status_code == 202
        again = await post(event(deal_id, "u-1", 100, mid - timedelta(hours=2)))  # the product system retries
        assert (again.status_code, again.json()["status"]) == (202, "duplicate")
        refusals = {
            "event_id_reused": (409, event(deal_id, "u-1", 5, mid - timedelta(hours=2))),
            "negative_quantity": (422, event(deal_id, "bad-1", -3, mid)),
            "unknown_meter": (422, event(deal_id, "bad-2", 3, mid, meter="gigabytes")),
            "timestamp_before_open_period": (422, event(deal_id, "bad-3", 3, start - timedelta(hours=1))),
            "timestamp_in_future": (422, event(deal_id, "bad-4", 3, end + timedelta(days=1))),
            "unknown_subscription": (404, event("NO-SUCH-DEAL", "bad-5", 3, mid)),
        }
        for code, (http_status, body) in refusals.items():
            answer = await post(body)
            assert (answer.status_code, answer.json()["error"]) == (http_status, code), answer.text
        unauthorized = await httpx.AsyncClient().post(f"{api}/usage", json=event(deal_id, "u-9", 1, mid))
        assert unauthorized.status_code == 401
        await reported(estate, "u-1")
        await reported(estate, "u-2")
        records = {r.event_id: r for r in stored(estate, deal_id)}
        assert sorted(records) == ["u-1", "u-2"]  # nothing of the refused ones
        assert all(r.reported_at is not None and not r.late for r in records.values())

        # Billing closes the period while the lifecycle has not heard of it yet (its webhook lost): an event the API
        # still takes for the open period reaches the meter after the close, and goes to the next period.
        await webhooks(estate, None)
        at = end + timedelta(minutes=10)
        await skip_to(env, at)
        await advance(estate, clock_id, at)
        late = await post(event(deal_id, "u-late", 7, end - timedelta(minutes=30)))
        assert (late.status_code, late.json()["status"]) == (202, "accepted")
        await record_history(await reported(estate, "u-late"), "usage_reporting_late")
        [record] = [r for r in stored(estate, deal_id) if r.event_id == "u-late"]
        assert record.late
        assert record.billed_from == end
    await webhooks(estate, hook)
    await skip_to(env, at + timedelta(hours=6))  # the backstop reads billing: period 2 is billed
    status = await billed(lifecycle, 2)

    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    [second] = [i for i in stripe["invoices"] if i["id"] == status.periods[-1].ids["invoice"]]
    assert usage_lines(second) == [(123, 246)]  # u-1 and u-2, once each; not the late one
    [erp] = [i for i in netsuite["invoice"] if i["externalId"] == second["id"]]
    assert erp["status"] == "Paid In Full"
    assert Decimal(str(erp["total"])) * 100 == second["total"]
    assert status.periods[-1].totals["subtotal"] == 5 * 4900 + 246

    third_start = status.next_period_start
    await skip_to(env, third_start + timedelta(minutes=10))
    await advance(estate, clock_id, third_start + timedelta(minutes=10))
    status = await billed(lifecycle, 3)
    stripe = await estate.state("stripe")
    [third] = [i for i in stripe["invoices"] if i["id"] == status.periods[-1].ids["invoice"]]
    assert usage_lines(third) == [(7, 14)]  # the late event, on the next period's invoice
