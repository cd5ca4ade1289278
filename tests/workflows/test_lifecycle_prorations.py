"""Prorations billed at once (`C2C_PRORATIONS=immediate`), end to end on the time-skipping server with the
emulators over HTTP: an upsell won mid-period is invoiced at once on an invoice of its own (billing's prorations
alone, taxed with a document of its own, posted to the ERP for billing's total, collected and applied), exactly
once; a seat reduction nets to a credit, which waits for the next period's invoice as it does by default."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio.testing import WorkflowEnvironment

from canonical import ProrationBilling
from estate.amendments import DOWNGRADE, UPGRADE, amendment_deal
from tests.support.histories import record_history
from tests.support.lifecycle import LifecycleEstate, billed, status_of
from tests.support.lifecycle_changes import (
    applied,
    assert_posted_as_billed,
    closed_and_adopted,
    move_to,
)
from tests.support.polling import eventually
from workflows.subscription_messages import LifecycleStatus, PeriodState


async def test_an_upsell_is_invoiced_at_once_exactly_once_and_a_net_credit_waits_for_the_next_invoice(
    lifecycle_env: LifecycleEstate, lifecycle_server: WorkflowEnvironment, left_running: list[Any]
) -> None:
    env, estate = lifecycle_server, lifecycle_env.estate
    estate.settings.prorations = ProrationBilling.IMMEDIATE  # C2C_PRORATIONS=immediate
    _, handle, status = await closed_and_adopted(estate, env, "LIFE-NOW", 12, left_running)
    contract = status.contract_id
    assert contract is not None
    [first] = status.periods

    upsell_day = first.start + timedelta(days=10)
    await move_to(lifecycle_env, env, upsell_day)
    upsell = await amendment_deal(
        estate.crm,
        f"NOW-UP-{estate.suffix}",
        contract,
        kind=UPGRADE,
        lines=(("PLAT-SEAT", 5, Decimal("49.00")),),
        effective_date=upsell_day.date(),
    )
    assert (await estate.trigger.start(upsell)).started

    async def interim_billed() -> LifecycleStatus | None:
        status = await status_of(handle)
        done = status and [p for p in status.periods if p.change == upsell and p.state is PeriodState.BILLED]
        return status if done else None

    status = await eventually(interim_billed, timeout=60)
    [interim] = [p for p in status.periods if p.change == upsell]
    assert interim.number == 1  # billed in the period the change falls in, before the period ends
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    invoice = assert_posted_as_billed(interim, stripe, netsuite)
    assert (invoice["subscription"], invoice["billing_reason"]) == (status.subscription_id, "manual")
    prorations = [line for line in invoice["lines"]["data"] if line.get("proration")]
    others = [line for line in invoice["lines"]["data"] if not line.get("proration")]
    assert len(prorations) == 2
    assert sum(line["amount"] for line in prorations) > 0
    assert [line.get("metadata", {}).get("c2c_line") for line in others] == ["tax"]
    assert interim.totals["subtotal"] == sum(line["amount"] for line in prorations)
    avatax = await estate.state("avatax")
    [document] = [d for d in avatax["documents"] if d["code"] == interim.ids["tax_document"]]
    assert document["status"] == "Committed"
    assert round(Decimal(str(document["totalTax"])) * 100) == interim.totals["tax"] > 0
    assert interim.ids["tax_document"] != first.ids.get("tax_document")

    # A seat reduction later in the period nets to a credit: no invoice now; it goes on period 2's invoice.
    reduction_day = first.start + timedelta(days=20)
    await move_to(lifecycle_env, env, reduction_day)
    reduction = await amendment_deal(
        estate.crm,
        f"NOW-DOWN-{estate.suffix}",
        contract,
        kind=DOWNGRADE,
        lines=(("PLAT-SEAT", -10, Decimal("49.00")),),
        effective_date=reduction_day.date(),
    )
    assert (await estate.trigger.start(reduction)).started
    status = await applied(handle, reduction)
    assert not [p for p in status.periods if p.change == reduction]
    await move_to(lifecycle_env, env, status.next_period_start + timedelta(minutes=10))
    status = await billed(handle, 2)
    second = status.periods[-1]
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    renewal = assert_posted_as_billed(second, stripe, netsuite)
    credit = [line["amount"] for line in renewal["lines"]["data"] if line.get("proration")]
    assert len(credit) == 2
    assert sum(credit) < 0
    assert second.totals["subtotal"] == 20 * 49_00 + 199_00 + sum(credit)
    ours = [i for i in stripe["invoices"] if i["subscription"] == status.subscription_id]
    assert sorted(i["billing_reason"] for i in ours) == ["manual", "subscription_create", "subscription_cycle"]
    erp = {i["externalId"] for i in netsuite["invoice"]}
    assert {i["id"] for i in ours} <= erp  # every invoice of the subscription posted, each once (by external id)
    await record_history(handle, "subscription_lifecycle_prorations_at_once")
