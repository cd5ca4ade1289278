"""A Temporal cancellation request (the UI's "Request Cancellation", `handle.cancel()`) on a deal's saga.

It runs the same unwind as finance's `cancel` resolution, at the next cancellation point (a stage boundary, a
wait, before a payment attempt), never halfway through a vendor call: the call in flight finishes, so what it
made is undone too. Once the customer has paid the request is noted and the saga moves on. The saga ends
Canceled in Temporal with its stage `cancelled`, out of the finance queue. Time-skipping server, fake vendors
(tests/support/fake_saga.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from canonical import EventType, PaymentStatus
from tests.support.fake_saga import FakeEstate, start, undo_calls, wait_stage
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import Names
from workflows.saga import Stage


async def ends_cancelled(handle: WorkflowHandle[Any, Any], estate: FakeEstate) -> Any:
    """The saga ended Canceled in Temporal, compensated, with its stage and fact saying cancelled."""
    with pytest.raises(WorkflowFailureError) as ended:
        await handle.result()
    assert isinstance(ended.value.cause, CancelledError)
    description = await handle.describe()
    assert description.status is WorkflowExecutionStatus.CANCELED
    attrs = description.typed_search_attributes
    assert attrs.get(search_attributes.STAGE) == Stage.CANCELLED.value  # out of the finance queue
    assert attrs.get(search_attributes.EXCEPTION) is None
    status = await handle.query(CustomerToCash.status)
    assert status.stage is Stage.CANCELLED
    assert status.problem is None
    assert [e.event for e in status.timeline if e.event.startswith("cancellation")] == ["cancellation requested"]
    assert EventType.SAGA_CANCELLED in estate.events
    assert estate.calls.count(Names.RECORD_FACT) == 1
    return status


async def held(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), timeout=30)


async def test_a_parked_saga_asked_to_cancel_is_compensated_and_ends_cancelled(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.problems[Names.POST_INVOICE] = ("netsuite", "period_closed")
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    await handle.cancel()
    await ends_cancelled(handle, estate)
    # As the `cancel` resolution does before the pivot: void, never credit; the refused ERP post is skipped.
    assert undo_calls(estate) == [Names.VOID_INVOICE, Names.VOID_TAX, Names.CANCEL_SUBSCRIPTION]


async def test_asked_to_cancel_while_dunning_credits_the_sent_invoice_and_charges_no_more(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = ["declined"]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.DUNNING, step=timedelta(hours=1))
    charged = estate.calls.count(Names.COLLECT_PAYMENT)
    await handle.cancel()
    await ends_cancelled(handle, estate)
    assert estate.calls.count(Names.COLLECT_PAYMENT) == charged
    assert EventType.PAYMENT_REMINDER not in estate.events[estate.events.index(EventType.SAGA_CANCELLED) :]
    # Past the pivot (the customer has the invoice): credited, never voided.
    assert undo_calls(estate) == [
        Names.POST_CREDIT_MEMO,
        Names.CREDIT_INVOICE,
        Names.VOID_TAX,
        Names.CANCEL_SUBSCRIPTION,
    ]


async def test_the_vendor_call_in_flight_finishes_and_what_it_made_is_undone(saga_env: Any) -> None:
    env, estate, queue = saga_env
    started, release = estate.hold(Names.CREATE_INVOICE)
    handle = await start(env, queue)
    await held(started)
    await handle.cancel()
    await asyncio.sleep(0.5)  # the request is in the history while the call is still in flight
    release.set()
    status = await ends_cancelled(handle, estate)
    assert estate.calls.count(Names.CREATE_INVOICE) == 1  # not abandoned, not retried
    assert status.external_ids["invoice"] == "in_1"  # its record was known to the undo
    assert undo_calls(estate) == [Names.VOID_INVOICE, Names.VOID_TAX, Names.CANCEL_SUBSCRIPTION]
    assert Names.POST_INVOICE not in estate.calls
    assert Names.SEND_INVOICE not in estate.calls


async def test_asked_to_cancel_while_the_invoice_is_sent_the_customer_is_not_charged(saga_env: Any) -> None:
    env, estate, queue = saga_env
    started, release = estate.hold(Names.SEND_INVOICE)
    handle = await start(env, queue)
    await held(started)
    await handle.cancel()
    await asyncio.sleep(0.5)
    release.set()
    await ends_cancelled(handle, estate)
    assert Names.COLLECT_PAYMENT not in estate.calls
    assert Names.CREDIT_INVOICE in undo_calls(estate)
    assert Names.VOID_INVOICE not in undo_calls(estate)


async def test_after_the_customer_paid_a_cancellation_request_is_noted_and_the_saga_completes(
    saga_env: Any,
) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.SUCCEEDED]
    started, release = estate.hold(Names.APPLY_PAYMENT)
    handle = await start(env, queue)
    await held(started)
    await handle.cancel()
    await asyncio.sleep(0.5)
    release.set()
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert undo_calls(estate) == []
    status = await handle.query(CustomerToCash.status)
    noted = [e for e in status.timeline if e.event == "cancellation request not acted on"]
    assert len(noted) == 1
    assert "the customer has paid" in (noted[0].detail or "")
