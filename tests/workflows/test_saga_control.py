"""Saga control flow on the time-skipping server with activities re-declared by name (no vendors).

The emulator-backed end-to-end tests live in test_customer_to_cash.py; these cover what needs timers
or precise failure injection: pending payments, dunning, write-off, parking rules and finance decisions.
No test sleeps for real: the time-skipping server jumps over the days of the dunning schedule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from canonical import EventType, PaymentStatus
from store import OutboxRepository, session_scope
from tests.support.factories import make_deal, make_payment
from tests.support.fake_saga import FINANCE, decision, start, undo_calls, wait_stage
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import Names
from workflows.saga import Resolution, ResolutionAction, Resume, Stage


async def test_pending_payment_settles_when_the_billing_webhook_signals(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.PENDING]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.SETTLE)
    await handle.signal(CustomerToCash.payment_settled, make_payment("in_1", 525_53, PaymentStatus.SUCCEEDED))
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    assert result.totals["paid"] == 525_53
    assert estate.calls.index(Names.SEND_INVOICE) < estate.calls.index(Names.COLLECT_PAYMENT)


async def test_declined_card_is_dunned_on_schedule_until_a_retry_succeeds(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = ["declined", "declined", PaymentStatus.SUCCEEDED]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.DUNNING)
    started = await env.get_current_time()
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    # Retries on days 1 and 3, not at once. `started` is read a moment after the saga entered dunning (under load the
    # server's clock moves on meanwhile), hence a minute's allowance.
    assert await env.get_current_time() - started >= timedelta(days=3) - timedelta(minutes=1)
    payment_keys = [k for k in estate.keys if ":payment" in k]
    assert payment_keys == [f"{handle.id}:payment", f"{handle.id}:payment:dunning-1", f"{handle.id}:payment:dunning-2"]
    assert estate.events.count(EventType.PAYMENT_REMINDER) == 2
    assert Names.MARK_UNCOLLECTIBLE not in estate.calls


async def test_no_payment_by_the_due_date_starts_dunning_and_a_late_webhook_ends_it(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.PENDING]
    handle = await start(env, queue)
    await wait_stage(
        env, handle, Stage.DUNNING, step=timedelta(hours=1)
    )  # terms: 3 days; the debit never reported back
    assert estate.events.count(EventType.PAYMENT_REMINDER) == 0
    await env.sleep(timedelta(days=1, hours=1))
    await handle.signal(CustomerToCash.payment_settled, make_payment("in_1", 525_53))
    assert (await handle.result()).outcome is Stage.COMPLETED
    assert estate.events.count(EventType.PAYMENT_REMINDER) == 1
    assert estate.calls.count(Names.COLLECT_PAYMENT) == 1  # no second debit on top of a pending one


async def test_unpaid_after_dunning_is_written_off_and_parked_then_a_retry_reverses_the_provision(
    saga_env: Any,
) -> None:
    env, estate, queue = saga_env
    estate.payment_results = ["declined", "declined", "declined", "declined", PaymentStatus.SUCCEEDED]
    handle = await start(env, queue)
    status = await wait_stage(env, handle, Stage.NEEDS_ATTENTION, step=timedelta(hours=2))
    assert (status.problem.stage, status.problem.code) == (Stage.SETTLE, "uncollectible")
    assert estate.events.count(EventType.PAYMENT_REMINDER) == 3  # each reminder reached the outbox
    with session_scope(estate.outbox) as session:
        reminders = [e for e in OutboxRepository(session).pending(limit=1000) if e.type is EventType.PAYMENT_REMINDER]
    assert [e.id for e in reminders] == [f"{handle.id}:payment.reminder:reminder-{n}" for n in (1, 2, 3)]
    assert [e.data["reminder"] for e in reminders] == [1, 2, 3]
    assert Names.MARK_UNCOLLECTIBLE in estate.calls
    assert estate.journals == ["baddebt-in_1"]
    assert EventType.INVOICE_UNCOLLECTIBLE in estate.events
    await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.RETRY, note="card updated"))
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    assert estate.journals[:2] == ["baddebt-in_1", "baddebt-rev-in_1"]
    assert estate.calls.count(Names.COLLECT_PAYMENT) == 5  # first try, 3 dunning retries, finance's retry


async def test_cancel_after_write_off_credits_the_sent_invoice_and_releases_the_provision(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = ["declined"]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.NEEDS_ATTENTION, step=timedelta(hours=2))
    await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.CANCEL, note="customer walked"))
    result = await handle.result()
    assert result.outcome is Stage.CANCELLED
    # Past the pivot (the invoice was sent): a credit note, never a void.
    assert undo_calls(estate) == [
        Names.POST_CREDIT_MEMO,
        Names.CREDIT_INVOICE,
        Names.VOID_TAX,
        Names.CANCEL_SUBSCRIPTION,
    ]
    assert estate.journals == ["baddebt-in_1", "baddebt-rev-in_1"]
    assert result.external_ids["erp_credit_memo"] == "501"
    assert result.external_ids["credit_note"] == "cn_test"


async def test_cancel_before_the_invoice_was_sent_voids_it(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.problems[Names.POST_INVOICE] = ("netsuite", "period_closed")
    handle = await start(env, queue)
    status = await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    assert status.problem.stage is Stage.POST
    await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.CANCEL, note="deal lost"))
    result = await handle.result()
    assert result.outcome is Stage.CANCELLED
    # The ERP call was refused, so there is no ERP invoice to credit: that undo is skipped.
    assert undo_calls(estate) == [Names.VOID_INVOICE, Names.VOID_TAX, Names.CANCEL_SUBSCRIPTION]
    assert Names.SEND_INVOICE not in estate.calls


async def test_each_compensation_runs_once_however_often_its_activity_is_retried(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.problems[Names.COMMIT_TAX] = ("avatax", "company_inactive")
    estate.failures = {Names.POST_CREDIT_MEMO: 2, Names.VOID_INVOICE: 2, Names.VOID_TAX: 1}
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.CANCEL, note="test"))
    assert (await handle.result()).outcome is Stage.CANCELLED
    # Attempts are retries of one activity each (same inputs, same key), not repeated undo steps.
    assert undo_calls(estate) == [
        *[Names.POST_CREDIT_MEMO] * 3,
        *[Names.VOID_INVOICE] * 3,
        *[Names.VOID_TAX] * 2,
        Names.CANCEL_SUBSCRIPTION,
    ]
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    for name in (Names.POST_CREDIT_MEMO, Names.VOID_INVOICE, Names.VOID_TAX, Names.CANCEL_SUBSCRIPTION):
        assert scheduled.count(name) == 1, name


async def test_resolution_is_rejected_when_the_saga_is_not_parked(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.PENDING]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.SETTLE)
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.CANCEL, note="x"))
    assert "not waiting for a decision" in str(rejected.value.cause)
    await handle.signal(CustomerToCash.payment_settled, make_payment("in_1", 525_53))
    assert (await handle.result()).outcome is Stage.COMPLETED


@pytest.mark.parametrize(
    ("resolution", "message"),
    [
        (decision(ResolutionAction.RETRY_WITH_ADDRESS, corrected_address=make_deal().customer.address), "not invalid"),
        (decision(ResolutionAction.RETRY_WITH_ADDRESS), "needs corrected_address"),
        (decision(ResolutionAction.RETRY_WITH_CUSTOMER, golden_customer_id="gc_other"), "not customer_ambiguous"),
        (decision(ResolutionAction.RETRY, golden_customer_id="gc_other"), "takes no corrected data"),
        (decision(ResolutionAction.CANCEL), "cancel needs a note"),
        (decision(ResolutionAction.CANCEL, note="   "), "cancel needs a note"),
    ],
)
async def test_the_validator_refuses_decisions_that_do_not_fit_and_history_stays_clean(
    saga_env: Any, resolution: Resolution, message: str
) -> None:
    env, estate, queue = saga_env
    estate.problems[Names.POST_INVOICE] = ("netsuite", "period_closed")
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(CustomerToCash.resolve, resolution)
    assert message in str(rejected.value.cause)
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    del estate.problems[Names.POST_INVOICE]
    await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.RETRY, note="period reopened"))
    assert (await handle.result()).outcome is Stage.COMPLETED


async def test_who_resolved_and_why_is_in_the_history(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.problems[Names.POST_INVOICE] = ("netsuite", "period_closed")
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    del estate.problems[Names.POST_INVOICE]
    await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.RETRY, note="reopened Nov"))
    await handle.result()
    history = await handle.fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1
    payloads = accepted[0].accepted_request.input.args.payloads
    [recorded] = await env.client.data_converter.decode(payloads, [Resolution])
    assert (recorded.actor, recorded.note, recorded.action) == (FINANCE, "reopened Nov", ResolutionAction.RETRY)


async def test_cancel_is_refused_once_the_customer_has_paid(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.problems[Names.APPLY_PAYMENT] = ("netsuite", "period_closed")
    handle = await start(env, queue)
    status = await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    assert status.problem.stage is Stage.APPLY
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(CustomerToCash.resolve, decision(ResolutionAction.CANCEL, note="refund please"))
    assert "the customer has paid" in str(rejected.value.cause)
    del estate.problems[Names.APPLY_PAYMENT]
    await handle.signal(CustomerToCash.resume, Resume(actor=FINANCE, note="period reopened"))
    assert (await handle.result()).outcome is Stage.COMPLETED


async def test_ambiguous_customer_is_resolved_with_the_golden_customer_finance_picks(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.problems[Names.RESOLVE_CUSTOMER] = ("c2c", "customer_ambiguous")
    handle = await start(env, queue)
    status = await wait_stage(env, handle, Stage.NEEDS_ATTENTION)
    assert (status.problem.stage, status.problem.code) == (Stage.ONBOARD, "customer_ambiguous")
    await handle.execute_update(
        CustomerToCash.resolve,
        decision(ResolutionAction.RETRY_WITH_CUSTOMER, golden_customer_id="gc_chosen", note="same company"),
    )
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    assert result.external_ids["golden_customer"] == "gc_chosen"
    assert f"{Names.RESOLVE_CUSTOMER}:gc_chosen" in estate.calls


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


async def test_a_payment_for_another_invoice_never_settles_this_saga(saga_env: Any) -> None:
    env, estate, queue = saga_env
    estate.payment_results = [PaymentStatus.PENDING]
    handle = await start(env, queue)
    await wait_stage(env, handle, Stage.SETTLE)
    await handle.signal(CustomerToCash.payment_settled, make_payment("in_someone_else", 525_53))
    status = await handle.query(CustomerToCash.status)
    assert status.stage is Stage.SETTLE
    assert ("billing event ignored", "payment for in_someone_else, not in_1") in [
        (e.event, e.detail) for e in status.timeline
    ]
    await handle.signal(CustomerToCash.payment_settled, make_payment("in_1", 525_53))
    assert (await handle.result()).outcome is Stage.COMPLETED
