"""CRM changes to a running subscription, end to end on the time-skipping server with the emulators over HTTP:
an upsell and a seat reduction won in Salesforce prorate in Stripe and bill on the next period's invoice, taxed and
posted so the ERP's totals equal billing's; a cancellation mid-period ends the subscription and credits the unused
time on the period's invoice and in the ERP; a renewal moves the term on and a lapsed term ends it. Bad changes
are refused naming the rule and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from canonical.contract import add_months
from estate.amendments import CANCELLATION, DOWNGRADE, RENEWAL, UPGRADE, amendment_deal
from operations.errors import ContractNotActive, DealRefused
from tests.support.histories import record_history
from tests.support.lifecycle import LifecycleEstate, billed, stripe_auth
from tests.support.lifecycle_changes import (
    applied,
    assert_posted_as_billed,
    closed_and_adopted,
    completed,
    contract_of,
    events,
    move_to,
    subscription_lines,
)
from workflows import search_attributes
from workflows.subscription_terms import last_day


async def test_an_upsell_a_seat_reduction_and_a_cancellation_won_in_the_crm_reach_every_system_once(
    lifecycle_env: LifecycleEstate, lifecycle_server: WorkflowEnvironment, left_running: list[Any]
) -> None:
    env, estate = lifecycle_server, lifecycle_env.estate
    deal_id, handle, status = await closed_and_adopted(estate, env, "LIFE-CHG", 24, left_running)
    contract = status.contract_id
    assert contract is not None
    [first] = status.periods
    assert first.number == 1

    # Period 1: the rep wins an upsell of 5 seats effective ten days in.
    upsell_day = first.start + timedelta(days=10)
    await move_to(lifecycle_env, env, upsell_day)
    upsell = await amendment_deal(
        estate.crm,
        f"UP-{estate.suffix}",
        contract,
        kind=UPGRADE,
        lines=(("PLAT-SEAT", 5, Decimal("49.00")),),
        effective_date=upsell_day.date(),
    )
    answer = await estate.trigger.start(upsell)
    assert answer.started
    assert answer.workflow_id == handle.id
    again = await estate.trigger.start(upsell)  # the webhook delivered twice
    assert not again.started
    assert "already" in again.detail
    # Bad input: more seats removed than there are; refused naming the rule, nothing changes.
    too_many = await amendment_deal(
        estate.crm,
        f"BAD-{estate.suffix}",
        contract,
        kind=DOWNGRADE,
        lines=(("PLAT-SEAT", -100, Decimal("49.00")),),
        effective_date=upsell_day.date(),
    )
    with pytest.raises(DealRefused) as refused:
        await estate.trigger.start(too_many)
    assert refused.value.code == "quantity_below_zero"
    # ... and finance's queue shows it (C2CException) until a later change is accepted.
    assert (await handle.describe()).typed_search_attributes.get(search_attributes.EXCEPTION) == "quantity_below_zero"
    status = await applied(handle, upsell)
    assert {line.product_code: line.quantity for line in status.lines} == {"PLAT-SEAT": 30, "ANALYTICS": 1}
    stripe = await estate.state("stripe")
    assert sorted(subscription_lines(stripe, status.subscription_id).values()) == [1, 30]

    # Period 2 bills the new quantity and the upsell's prorations, taxed and posted for the same total.
    await move_to(lifecycle_env, env, status.next_period_start + timedelta(minutes=10))
    status = await billed(handle, 2)
    second = status.periods[-1]
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    invoice = assert_posted_as_billed(second, stripe, netsuite)
    prorations = [line for line in invoice["lines"]["data"] if line.get("proration")]
    assert len(prorations) == 2
    assert sum(line["amount"] for line in prorations) > 0  # 5 more seats for two thirds of a month
    assert second.totals["subtotal"] == 30 * 49_00 + 199_00 + sum(line["amount"] for line in prorations)
    avatax = await estate.state("avatax")
    [document] = [d for d in avatax["documents"] if d["code"] == second.ids["tax_document"]]
    assert round(Decimal(str(document["totalTax"])) * 100) == second.totals["tax"]

    # Period 2: a seat reduction of 10 half-way through; period 3 bills 20 seats less the prorated credit.
    reduction_day = second.start + timedelta(days=15)
    await move_to(lifecycle_env, env, reduction_day)
    reduction = await amendment_deal(
        estate.crm,
        f"DOWN-{estate.suffix}",
        contract,
        kind=DOWNGRADE,
        lines=(("PLAT-SEAT", -10, Decimal("49.00")),),
        effective_date=reduction_day.date(),
    )
    assert (await estate.trigger.start(reduction)).started
    assert (await handle.describe()).typed_search_attributes.get(search_attributes.EXCEPTION) is None
    status = await applied(handle, reduction)
    await move_to(lifecycle_env, env, status.next_period_start + timedelta(minutes=10))
    status = await billed(handle, 3)
    third = status.periods[-1]
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    invoice = assert_posted_as_billed(third, stripe, netsuite)
    credit = sum(line["amount"] for line in invoice["lines"]["data"] if line.get("proration"))
    assert credit < 0
    assert third.totals["subtotal"] == 20 * 49_00 + 199_00 + credit

    # Period 3: cancelled twelve days in. The subscription ends now; the unused time is credited on period 3's
    # invoice in billing and as a credit memo created from its ERP invoice.
    cancel_day = third.start + timedelta(days=12)
    await move_to(lifecycle_env, env, cancel_day)
    cancellation = await amendment_deal(
        estate.crm, f"END-{estate.suffix}", contract, kind=CANCELLATION, effective_date=cancel_day.date()
    )
    assert (await estate.trigger.start(cancellation)).started

    status = await completed(handle)
    assert status.ended == "cancelled"
    third = status.periods[-1]
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    [subscription] = [s for s in stripe["subscriptions"] if s["id"] == status.subscription_id]
    assert subscription["status"] == "canceled"
    [note] = [n for n in stripe["credit_notes"] if n["id"] == third.ids["credit_note"]]
    assert note["invoice"] == third.ids["invoice"]
    assert note["total"] == third.credited
    assert 0 < third.credited < third.totals["total"]
    [memo] = [m for m in netsuite["creditMemo"] if m["externalId"] == third.ids["credit_note"]]
    assert memo["createdFrom"]["id"] == third.ids["erp_invoice"]
    assert Decimal(str(memo["total"])) * 100 == third.credited
    # The credit is taxed by a document of its own (credited lines negative), committed; the note carries that tax.
    [credit_tax] = [d for d in (await estate.state("avatax"))["documents"] if d["code"] == third.ids["credit_tax"]]
    assert credit_tax["status"] == "Committed"
    [tax_line] = [line for line in note["lines"]["data"] if line["description"] == "Tax"]
    assert round(Decimal(str(credit_tax["totalTax"])) * 100) == -tax_line["amount"] < 0
    per_period = ["invoice.posted", "payment.settled"] * 2  # periods 2 and 3
    assert events(estate, handle.id) == sorted(
        ["subscription.amended", "subscription.amended", "credit_memo.applied", "subscription.ended", *per_period]
    )
    contract_now = await contract_of(estate, contract)
    assert contract_now["Status"] == "Terminated"
    assert contract_now["C2C_Ended_On__c"] == (cancel_day.date() - timedelta(days=1)).isoformat()  # served through
    # A change after the end reaches nothing: the contract is no longer followed.
    late = await amendment_deal(
        estate.crm,
        f"LATE-{estate.suffix}",
        contract,
        kind=UPGRADE,
        lines=(("PLAT-SEAT", 1, Decimal("49.00")),),
        effective_date=cancel_day.date(),
    )
    with pytest.raises(ContractNotActive):
        await estate.trigger.start(late)
    await record_history(handle, "subscription_lifecycle_amended_and_cancelled")


async def test_a_renewal_won_in_the_crm_moves_the_term_on_and_a_lapsed_term_ends_the_subscription(
    lifecycle_env: LifecycleEstate, lifecycle_server: WorkflowEnvironment, left_running: list[Any]
) -> None:
    env, estate = lifecycle_server, lifecycle_env.estate
    deal_id, handle, status = await closed_and_adopted(estate, env, "LIFE-REN", 2, left_running)
    contract = status.contract_id
    assert contract is not None
    first_term_end = status.term_end
    assert first_term_end is not None
    # A renewal for two more months, won in period 1; a change in another currency is refused.
    renewal = await amendment_deal(
        estate.crm,
        f"REN-{estate.suffix}",
        contract,
        kind=RENEWAL,
        term_months=2,
        effective_date=first_term_end.date(),
    )
    assert (await estate.trigger.start(renewal)).started
    euros = await amendment_deal(
        estate.crm,
        f"EUR-{estate.suffix}",
        contract,
        kind=UPGRADE,
        currency="EUR",
        lines=(("PLAT-SEAT", 1, Decimal("45.00")),),
        effective_date=status.periods[0].start.date(),
    )
    with pytest.raises(DealRefused) as refused:
        await estate.trigger.start(euros)
    assert refused.value.code == "currency_change"
    status = await applied(handle, renewal)
    assert status.term_end == add_months(first_term_end, 2)
    stripe = await estate.state("stripe")
    [subscription] = [s for s in stripe["subscriptions"] if s["id"] == status.subscription_id]
    assert status.term_end is not None
    assert subscription["cancel_at"] == int(status.term_end.timestamp())
    renewed = await contract_of(estate, contract)
    assert renewed["ContractTerm"] == 4
    assert renewed["EndDate"] == (status.term_end.date() - timedelta(days=1)).isoformat()  # the CRM agrees

    # Periods 2, 3 and 4 bill; then the term is over: billing ends the subscription and so does the lifecycle.
    for period in (2, 3, 4):
        await move_to(lifecycle_env, env, status.next_period_start + timedelta(minutes=10))
        status = await billed(handle, period)
    assert status.next_period_start >= status.term_end
    await move_to(lifecycle_env, env, status.term_end + timedelta(hours=1))

    status = await completed(handle)
    assert status.ended == "lapsed"
    stripe = await estate.state("stripe")
    [subscription] = [s for s in stripe["subscriptions"] if s["id"] == status.subscription_id]
    assert subscription["status"] == "canceled"
    assert len([p for p in status.periods if p.number > 1]) == 3
    per_period = ["invoice.posted", "payment.settled"] * 3  # periods 2, 3 and 4
    assert events(estate, handle.id) == sorted(["subscription.ended", "subscription.renewed", *per_period])
    # Finance reads the same over the API (scope read); an unknown deal is a 404 naming it.
    api = lifecycle_env.hook.removesuffix("/webhooks/stripe")
    token = estate.settings.api_token
    assert token is not None
    auth = {"Authorization": f"Bearer {token.get_secret_value()}"}
    answer = await estate.http.get(f"{api}/deals/{deal_id}/subscription", headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ended"] == "lapsed"
    assert [p["number"] for p in answer.json()["periods"]] == [1, 2, 3, 4]
    missing = await estate.http.get(f"{api}/deals/006000000000000AAA/subscription", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"] == "saga_not_found"
    await record_history(handle, "subscription_lifecycle_renewed_and_lapsed")


async def test_a_subscription_cancelled_in_billing_ends_its_lifecycle(
    lifecycle_env: LifecycleEstate, lifecycle_server: WorkflowEnvironment, left_running: list[Any]
) -> None:
    env, estate = lifecycle_server, lifecycle_env.estate
    deal_id, handle, status = await closed_and_adopted(estate, env, "LIFE-DASH", 12, left_running)
    # Someone cancels it in Stripe's dashboard: Stripe's customer.subscription.deleted webhook reaches the trigger
    # API, which reads the subscription back and tells its lifecycle.
    cancelled = await estate.http.delete(
        f"{estate.urls['stripe']}/v1/subscriptions/{status.subscription_id}", headers=stripe_auth(estate)
    )
    assert cancelled.status_code == 200, cancelled.text

    status = await completed(handle)
    assert status.ended == "cancelled in billing"
    ended = await contract_of(estate, status.contract_id or "")
    assert ended["Status"] == "Terminated"
    [subscription] = [s for s in (await estate.state("stripe"))["subscriptions"] if s["id"] == status.subscription_id]
    assert ended["C2C_Ended_On__c"] == last_day(datetime.fromtimestamp(subscription["ended_at"], UTC)).isoformat()
    await record_history(handle, "subscription_lifecycle_cancelled_in_billing")
    assert [p.number for p in status.periods] == [1]
    assert events(estate, handle.id) == ["subscription.ended"]
