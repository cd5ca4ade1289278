"""A later period's unpaid invoice is dunned like the first one: a reminder and a new attempt on each dunning day,
then written off (uncollectible, bad-debt provision) and parked; a retry that gets paid reverses the provision.
Time-skipping server, fake vendors (tests/support/fake_saga.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from canonical import PaymentStatus, RenewalInvoice
from tests.support.fake_saga import FakeEstate, start_fake_lifecycle
from tests.support.polling import eventually
from workflows.interface import Names
from workflows.saga import Resolution, ResolutionAction, Stage
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleStatus, PeriodState


async def billing_period_two(env: WorkflowEnvironment, queue: str, left_running: list[Any]) -> WorkflowHandle:
    # Its term starts on the server's today: earlier tests in the session may have moved that clock years on, and a
    # term already over would end the lifecycle at once.
    handle = await start_fake_lifecycle(env, queue, timedelta(0))
    left_running.append(handle)
    start = (await handle.query(SubscriptionLifecycle.status)).next_period_start
    notice = RenewalInvoice(
        invoice_id="in_2",
        subscription_id="sub_test",
        status="draft",
        period_start=start,
        period_end=start + timedelta(days=30),
    )
    await handle.signal(SubscriptionLifecycle.renewal_invoiced, notice)
    return handle


async def status_when(handle: WorkflowHandle, condition: Any) -> LifecycleStatus:
    async def probe() -> LifecycleStatus | None:
        status: LifecycleStatus = await handle.query(SubscriptionLifecycle.status)
        return status if condition(status) else None

    return await eventually(probe, timeout=60)


def billed(status: LifecycleStatus) -> bool:
    return any(p.number == 2 and p.state is PeriodState.BILLED for p in status.periods)


async def test_a_declined_period_is_reminded_and_retried_on_the_dunning_days_until_paid(
    saga_env: Any, left_running: list[Any]
) -> None:
    env, estate, queue = saga_env
    estate: FakeEstate
    estate.payment_results = ["declined", "declined", PaymentStatus.SUCCEEDED]
    handle = await billing_period_two(env, queue, left_running)
    await status_when(handle, lambda s: s.stage is Stage.DUNNING)
    await env.sleep(timedelta(days=4))  # past dunning days 1 and 3
    status = await status_when(handle, billed)
    [period] = [p for p in status.periods if p.number == 2]
    assert period.totals["paid"] == 525_53
    payments = [key.rsplit(":p2:", 1)[1] for key in estate.keys]
    assert payments == ["payment", "payment:dunning-1", "payment:dunning-2"]
    assert estate.events.count("payment.reminder") == 2
    assert Names.MARK_UNCOLLECTIBLE not in estate.calls
    assert status.problem is None


async def test_a_period_unpaid_after_dunning_is_written_off_and_parks_and_a_paid_retry_reverses_it(
    saga_env: Any, left_running: list[Any]
) -> None:
    env, estate, queue = saga_env
    estate: FakeEstate
    estate.payment_results = ["declined"]
    handle = await billing_period_two(env, queue, left_running)
    await status_when(handle, lambda s: s.stage is Stage.DUNNING)
    await env.sleep(timedelta(days=9))  # every dunning day, and the last attempt's day
    status = await status_when(handle, lambda s: s.problem is not None)
    assert status.problem is not None
    assert status.problem.code == "uncollectible"
    assert "period 2" in status.problem.message
    [period] = [p for p in status.periods if p.number == 2]
    assert period.state is PeriodState.NEEDS_ATTENTION
    assert estate.calls.count(Names.MARK_UNCOLLECTIBLE) == 1
    assert estate.journals == ["baddebt-in_2"]
    assert estate.events.count("payment.reminder") == 3
    assert estate.events.count("invoice.uncollectible") == 1

    estate.payment_results = [PaymentStatus.SUCCEEDED]  # the customer fixed the card
    await handle.execute_update(
        SubscriptionLifecycle.resolve, Resolution(action=ResolutionAction.RETRY, actor="finance@example.com")
    )
    status = await status_when(handle, billed)
    assert estate.journals == ["baddebt-in_2", "baddebt-rev-in_2", "fee-pi_1"]  # then the paid period's fee
    assert estate.keys[-1].endswith(":p2:payment:r1")  # a new key per finance retry: the decline is not replayed
