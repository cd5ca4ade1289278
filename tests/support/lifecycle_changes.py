"""Steps shared by the end-to-end tests of CRM changes to a running subscription (tests/workflows/
test_lifecycle_changes.py, test_lifecycle_prorations.py): a deal closed and its lifecycle adopted, both clocks moved,
a change applied, the lifecycle ended, what every system shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from store import OutboxEvent, session_scope
from tests.support.estate import Estate
from tests.support.lifecycle import LifecycleEstate, adopt, advance, skip_to, status_of
from tests.support.polling import eventually
from tests.support.sagas import USD_DEAL
from workflows.subscription_messages import ChangeState, LifecycleStatus, PeriodStatus


async def closed_and_adopted(
    estate: Estate, env: WorkflowEnvironment, key: str, term_months: int, left_running: list[Any]
) -> tuple[str, WorkflowHandle[Any, Any], LifecycleStatus]:
    """A deal closed on the server's today, its saga completed, its lifecycle adopted and its contract written."""
    today = (await env.get_current_time()).date()
    deal_id = await estate.closed_deal(
        replace(USD_DEAL, key=key, term_months=term_months, close_date=today.isoformat())
    )
    started = await estate.trigger.start(deal_id)
    saga = estate.client.get_workflow_handle(started.workflow_id)

    async def saga_done() -> bool:  # polled, not awaited: awaiting a result would let the server skip time
        return (await saga.describe()).status is WorkflowExecutionStatus.COMPLETED

    await eventually(saga_done, timeout=60)
    handle = await adopt(estate, ids.subscription_id("salesforce", deal_id))
    left_running.append(handle)

    async def contracted() -> LifecycleStatus | None:
        status = await status_of(handle)
        return status if status and status.contract_id else None

    return deal_id, handle, await eventually(contracted)


async def move_to(lifecycle: LifecycleEstate, env: WorkflowEnvironment, at: datetime) -> None:
    """Workflow time and billing time both move to `at` (no workflow timer is due on the way)."""
    await skip_to(env, at)
    await advance(lifecycle.estate, lifecycle.clock_id, at)


async def applied(handle: WorkflowHandle[Any, Any], deal_id: str) -> LifecycleStatus:
    async def probe() -> LifecycleStatus | None:
        status = await status_of(handle)
        if status is None:
            return None
        done = [c for c in status.changes if c.amendment.deal_id == deal_id and c.state is ChangeState.APPLIED]
        return status if done else None

    return await eventually(probe, timeout=60)


async def completed(handle: WorkflowHandle[Any, Any]) -> LifecycleStatus:
    """The lifecycle's status once it has ended by itself (polled: awaiting its result would skip time)."""

    async def probe() -> LifecycleStatus | None:
        if (await handle.describe()).status is not WorkflowExecutionStatus.COMPLETED:
            return None
        return await status_of(handle)

    return await eventually(probe, timeout=60)


def events(estate: Estate, correlation_id: str) -> list[str]:
    with session_scope(estate.engine) as session:
        rows = session.exec(select(OutboxEvent).where(OutboxEvent.correlation_id == correlation_id)).all()
        return sorted(row.type for row in rows)


async def contract_of(estate: Estate, contract_id: str) -> dict[str, Any]:
    fields = "Id, Status, StartDate, ContractTerm, EndDate, C2C_Ended_On__c"
    [contract] = await estate.crm.query(f"SELECT {fields} FROM Contract WHERE Id = '{contract_id}'")
    return contract


def subscription_lines(stripe: dict[str, Any], subscription_id: str) -> dict[str, int]:
    [subscription] = [s for s in stripe["subscriptions"] if s["id"] == subscription_id]
    return {item["price"]["product"]: item["quantity"] for item in subscription["items"]["data"]}


def assert_posted_as_billed(period: PeriodStatus, stripe: dict[str, Any], netsuite: dict[str, Any]) -> dict[str, Any]:
    """The period's invoice is paid in billing and posted to the ERP for the same total, paid in full there."""
    [invoice] = [i for i in stripe["invoices"] if i["id"] == period.ids["invoice"]]
    [erp] = [i for i in netsuite["invoice"] if i["externalId"] == period.ids["invoice"]]
    assert invoice["status"] == "paid"
    assert invoice["amount_paid"] == period.totals["total"] == period.totals["paid"]
    assert Decimal(str(erp["total"])) * 100 == invoice["total"]
    assert erp["status"] == "Paid In Full"
    return invoice
