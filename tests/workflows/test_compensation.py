"""A cancel at every stage leaves every system in a state a controller accepts (README, "What a cancel leaves
behind"): real dev server, real connectors, emulators over HTTP. Each case parks the saga at one stage with an
injected vendor refusal, cancels it, and then reads every emulator's state.

Dunning is off in this estate (`dunning_days=[]`): a declined card is written off at once instead of after
days of real time (the schedule itself is tested on the time-skipping server in test_saga_control.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from estate.book import GLOBEX, NOWHERE, DealSpec
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.sagas import by_id, parked, start
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Resolution, ResolutionAction, SagaResult, Stage

DEAL = DealSpec("COMP", GLOBEX, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))])
NOWHERE_DEAL = DealSpec("COMP-TAX", NOWHERE, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))])
STRIPE_400 = {"error": {"type": "invalid_request_error", "message": "Refused by the test."}}
DECLINED = {
    "error": {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
    }
}
NETSUITE_400 = {
    "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
    "title": "Bad Request",
    "status": 400,
    "o:errorDetails": [{"detail": "Refused by the test.", "o:errorCode": "INVALID_FLD_VALUE"}],
}

# stage -> (deal, fault that makes that stage's vendor refuse); the tax stage parks on its own (bad address).
PARK_AT: dict[Stage, tuple[DealSpec, tuple[str, dict[str, Any]] | None]] = {
    Stage.ONBOARD: (DEAL, ("stripe", {"method": "POST", "path_prefix": "/v1/customers", "body": STRIPE_400})),
    Stage.ACTIVATE: (DEAL, ("stripe", {"method": "POST", "path_prefix": "/v1/subscriptions", "body": STRIPE_400})),
    Stage.TAX: (NOWHERE_DEAL, None),
    Stage.INVOICE: (
        DEAL,
        ("stripe", {"method": "POST", "path_prefix": "/v1/invoices/", "path_suffix": "/finalize", "body": STRIPE_400}),
    ),
    Stage.POST: (
        DEAL,
        (
            "netsuite",
            {"method": "PUT", "path_prefix": "/services/rest/record/v1/invoice/", "body": NETSUITE_400},
        ),
    ),
    Stage.SETTLE: (
        DEAL,
        (
            "stripe",
            {"method": "POST", "path_prefix": "/v1/invoices/", "path_suffix": "/pay", "status": 402, "body": DECLINED},
        ),
    ),
}


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(
        temporal_env, all_emulators(emulators), task_queue, tmp_path, dunning_days=[], http_timeout=2.5
    ) as estate:
        yield estate


def controller_problems(stage: Stage, result: SagaResult, states: dict[str, Any]) -> list[str]:
    """What a controller would object to after a cancel of a saga parked at `stage` (empty = accepted)."""
    stripe, netsuite, avatax = states["stripe"], states["netsuite"], states["avatax"]
    ids, problems = result.external_ids, []
    for sub in by_id(stripe["subscriptions"], "id", ids.get("subscription")):
        if sub["status"] != "canceled":
            problems.append(f"subscription {sub['id']} is {sub['status']}")
    subscription = ids.get("subscription")  # none when parked before activate: then no invoice is this saga's
    invoices = [i for i in stripe["invoices"] if subscription and i.get("subscription") == subscription]
    for invoice in invoices:
        notes = [n for n in stripe["credit_notes"] if n["invoice"] == invoice["id"]]
        credited = sum(n["amount"] for n in notes)
        if invoice["amount_paid"] and invoice["amount_paid"] != credited:
            problems.append(f"invoice {invoice['id']} was paid {invoice['amount_paid']} by the customer")
        sent = stage is Stage.SETTLE
        if sent and (len(notes) != 1 or credited != invoice["total"]):
            problems.append(f"sent invoice {invoice['id']} is not credited once in full: {credited}")
        if not sent and (invoice["status"] != "void" or notes):
            problems.append(f"unsent invoice {invoice['id']} is {invoice['status']} with {len(notes)} credit notes")
    for doc in by_id(avatax["documents"], "code", ids.get("tax_document")):
        if doc["status"] != "Cancelled":
            problems.append(f"tax document {doc['code']} is {doc['status']}")
    if stage is Stage.SETTLE:
        erp_invoices = by_id(netsuite["invoice"], "externalId", ids["invoice"])
        memos = by_id(netsuite["creditMemo"], "externalId", f"cm-{ids['invoice']}")
        if len(erp_invoices) != 1 or len(memos) != 1 or memos[0]["total"] != erp_invoices[0]["total"]:
            problems.append(f"ERP: {len(erp_invoices)} invoices, {len(memos)} credit memos, totals differ")
        provisions = [
            j for j in netsuite["journalEntry"] if j.get("externalId", "").endswith(ids["invoice"])
        ]  # baddebt- and baddebt-rev-
        if sorted(j["externalId"][:11] for j in provisions) != ["baddebt-in_", "baddebt-rev"]:
            problems.append(f"ERP bad-debt provision not released: {[j['externalId'] for j in provisions]}")
    elif ids.get("invoice") and by_id(netsuite["invoice"], "externalId", ids["invoice"]):
        problems.append("an ERP invoice exists although the ERP refused it")
    if "erp_customer" in ids and not by_id(netsuite["customer"], "id", ids["erp_customer"]):
        problems.append("the ERP customer was removed")
    return problems


@pytest.mark.parametrize("stage", list(PARK_AT), ids=lambda s: s.value)
async def test_a_cancel_at_each_stage_leaves_a_state_a_controller_accepts(estate: Estate, stage: Stage) -> None:
    spec, fault = PARK_AT[stage]
    if fault is not None:
        system, rule = fault
        await estate.fault(system, kind="status", **{"status": 400, **rule})
    deal_id, handle = await start(estate, spec)
    status = await parked(estate, handle)
    assert status.problem is not None
    assert status.problem.stage is stage, status.problem
    cancel = Resolution(action=ResolutionAction.CANCEL, note=f"cancel at {stage}", actor="controller-test")
    await handle.execute_update(CustomerToCash.resolve, cancel)
    result = await handle.result()
    assert result.outcome is Stage.CANCELLED
    states = {name: await estate.state(name) for name in ("stripe", "netsuite", "avatax")}
    assert controller_problems(stage, result, states) == []
    if stage is Stage.SETTLE:
        assert {"credit_note", "erp_credit_memo", "erp_bad_debt", "erp_bad_debt_reversal"} <= set(result.external_ids)
