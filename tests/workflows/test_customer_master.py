"""CustomerMaster on the dev server with fake activities: CRM account changes reach billing and every ERP
subsidiary in the order they happened, duplicates and stale notices change nothing, and the history is
rolled over with continue-as-new without losing a queued change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canonical import AccountSnapshot, Customer, ids
from operations import finance as control
from tests.support.estate import WORKFLOW_RUNNER
from tests.support.factories import make_deal
from tests.support.histories import record_history
from tests.support.polling import eventually
from tests.support.temporal import BUILD_ID
from workflows import interface as act
from workflows.customer_master import CustomerMaster, MasterInput, MasterStatus
from workflows.interface import AccountChange, Names

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
GOLDEN = "gc_master_test"


@dataclass
class FakeSystems:
    """The CRM's current account, and what billing and the ERP were told, in order."""

    account: Customer = field(default_factory=lambda: make_deal().customer)
    modified_at: datetime = T0
    billing: list[tuple[str, str]] = field(default_factory=list)  # (legal name, idempotency key)
    erp: list[tuple[str, str]] = field(default_factory=list)  # (entity, legal name)

    def rename(self, name: str, minutes: int) -> AccountChange:
        """Sales renames the account in the CRM; returns the webhook's notice."""
        self.account = self.account.model_copy(update={"legal_name": name})
        self.modified_at = T0 + timedelta(minutes=minutes)
        return AccountChange(
            crm="salesforce", account_id="001ACME", event_id=f"evt-{minutes}", modified_at=self.modified_at
        )

    reads: int = 0  # CRM reads of the account
    gate: asyncio.Event | None = None  # when set, a CRM read waits for it (the notices queue up meanwhile)
    reading: asyncio.Event = field(default_factory=asyncio.Event)

    def activities(self) -> dict[str, list[Any]]:
        systems = self

        @activity.defn(name=Names.FETCH_ACCOUNT)
        async def fetch_account(args: act.FetchAccount) -> AccountSnapshot:
            systems.reads += 1
            systems.reading.set()
            if systems.gate is not None:
                await systems.gate.wait()
            return AccountSnapshot(customer=systems.account, modified_at=systems.modified_at)

        @activity.defn(name=Names.CUSTOMER_REFS)
        async def customer_refs(args: act.CustomerRefs) -> dict[str, str]:
            return {"salesforce": "001ACME", "stripe": "cus_1", "netsuite:US01": "101", "netsuite:DE01": "201"}

        @activity.defn(name=Names.BILLING_CUSTOMER)
        async def billing_customer(args: act.UpsertBillingCustomer) -> str:
            assert args.customer.golden_id == GOLDEN
            assert args.customer.external_refs["stripe"] == "cus_1"
            systems.billing.append((args.customer.legal_name, args.idempotency_key))
            return "cus_1"

        @activity.defn(name=Names.ERP_UPDATE_CUSTOMER)
        async def erp_update(args: act.UpdateErpCustomer) -> str:
            systems.erp.append((args.legal_entity.code, args.customer.legal_name))
            return "101"

        return {"crm": [fetch_account], "hub": [customer_refs], "billing": [billing_customer], "erp": [erp_update]}


@pytest.fixture
async def systems(temporal_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[tuple[Client, FakeSystems]]:
    fakes = FakeSystems()
    client = temporal_env.client
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            Worker(
                client,
                build_id=BUILD_ID,
                task_queue=task_queue,
                workflows=[CustomerMaster],
                workflow_runner=WORKFLOW_RUNNER,
            )
        )
        for queue, fns in fakes.activities().items():
            await stack.enter_async_context(
                Worker(client, build_id=BUILD_ID, task_queue=f"{task_queue}-{queue}", activities=fns)
            )
        yield client, fakes
        await client.get_workflow_handle(ids.master_id(GOLDEN)).terminate("test over")


async def settled(handle: WorkflowHandle[Any, Any], applied: int) -> MasterStatus:
    async def probe() -> MasterStatus | None:
        status: MasterStatus = await handle.query(CustomerMaster.status)
        return status if status.pending == 0 and status.applied_total >= applied else None

    return await eventually(probe)


async def test_a_change_is_signal_with_started_and_reaches_billing_and_every_erp_subsidiary(
    systems: Any, task_queue: str
) -> None:
    client, fakes = systems
    await control.notify_customer_master(client, task_queue, GOLDEN, fakes.rename("Acme Holdings Inc", 1))
    handle = client.get_workflow_handle(ids.master_id(GOLDEN))
    status = await settled(handle, 1)
    assert fakes.billing == [("Acme Holdings Inc", f"c2c:customer:{GOLDEN}:update:20261128T090100000000Z")]
    assert sorted(fakes.erp) == [("DE01", "Acme Holdings Inc"), ("US01", "Acme Holdings Inc")]
    assert status.last_applied == T0 + timedelta(minutes=1)


async def test_changes_apply_in_order_and_duplicate_or_stale_notices_change_nothing(
    systems: Any, task_queue: str
) -> None:
    client, fakes = systems
    first = fakes.rename("Acme One", 1)
    await control.notify_customer_master(client, task_queue, GOLDEN, first)
    handle = client.get_workflow_handle(ids.master_id(GOLDEN))
    await settled(handle, 1)
    second = fakes.rename("Acme Two", 2)
    await control.notify_customer_master(client, task_queue, GOLDEN, second)
    await settled(handle, 2)
    # The first notice again (redelivered), and late: the CRM already says "Acme Two", which was pushed.
    await control.notify_customer_master(client, task_queue, GOLDEN, first)
    await control.notify_customer_master(client, task_queue, GOLDEN, second)

    async def drained() -> MasterStatus | None:
        status: MasterStatus = await handle.query(CustomerMaster.status)
        return status if status.pending == 0 and len(status.recent) >= 4 else None

    status = await eventually(drained)
    assert [name for name, _ in fakes.billing] == ["Acme One", "Acme Two"]
    assert status.applied_total == 2
    assert all("up to date" in entry.outcome for entry in status.recent[2:])


async def test_the_history_rolls_over_with_continue_as_new_and_keeps_its_state(systems: Any, task_queue: str) -> None:
    client, fakes = systems
    handle = await client.start_workflow(
        CustomerMaster.run,
        MasterInput(golden_id=GOLDEN, changes_per_run=2),
        id=ids.master_id(GOLDEN),
        task_queue=task_queue,
    )
    first_run = handle.result_run_id
    for minute in range(1, 6):
        await control.notify_customer_master(client, task_queue, GOLDEN, fakes.rename(f"Acme {minute}", minute))
        await settled(client.get_workflow_handle(ids.master_id(GOLDEN)), minute)
    latest = client.get_workflow_handle(ids.master_id(GOLDEN))
    status = await settled(latest, 5)
    assert (await latest.describe()).run_id != first_run  # continued as new (at least twice)
    assert status.applied_total == 5
    assert status.last_applied == T0 + timedelta(minutes=5)
    assert [name for name, _ in fakes.billing] == [f"Acme {m}" for m in range(1, 6)]


async def test_notices_queued_for_one_account_are_answered_by_one_crm_read(systems: Any, task_queue: str) -> None:
    """Issue 16: a burst of onboarding sagas of one customer queues a sync notice each; every notice queued before
    a read is answered by that read (it sees the CRM at least as new as each of them), not by a read of its own."""
    client, fakes = systems
    fakes.gate = asyncio.Event()
    await control.notify_customer_master(client, task_queue, GOLDEN, fakes.rename("Acme One", 1))
    await asyncio.wait_for(fakes.reading.wait(), timeout=30)  # the first read is running: the next notices queue
    handle = client.get_workflow_handle(ids.master_id(GOLDEN))
    for minute in (2, 3, 4):
        await control.notify_customer_master(client, task_queue, GOLDEN, fakes.rename(f"Acme {minute}", minute))

    async def queued() -> MasterStatus | None:
        status: MasterStatus = await handle.query(CustomerMaster.status)
        return status if status.pending == 4 else None

    await eventually(queued)
    fakes.gate.set()

    async def drained() -> MasterStatus | None:
        status: MasterStatus = await handle.query(CustomerMaster.status)
        return status if status.pending == 0 and len(status.recent) == 4 else None

    status = await eventually(drained)
    assert fakes.reads == 2  # one for the first notice, one for the three queued behind it
    # The first read already found the CRM at minute 4 (the renames went on meanwhile): pushed once.
    assert [name for name, _ in fakes.billing] == ["Acme 4"]
    assert status.last_applied == T0 + timedelta(minutes=4)
    assert [entry.event_id for entry in status.recent] == ["evt-1", "evt-2", "evt-3", "evt-4"]
    await record_history(handle, "customer_master_one_read_per_queued_account")
