"""The demo's final check must catch a system that disagrees with the sagas (it is what makes exit 0 mean something)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from demo.report import verify
from estate.book import DEALS, NOWHERE
from workflows.saga import Problem, SagaStatus, Stage

# A deal that parks and that finance leaves in the queue.
DONE, PARKED = DEALS[0], replace(next(spec for spec in DEALS if spec.account is NOWHERE), finance=None)


def completed() -> SagaStatus:
    return SagaStatus(
        workflow_id="c2c:salesforce:006A",
        deal_id="006A",
        stage=Stage.COMPLETED,
        legal_entity="US01",
        currency="USD",
        external_ids={
            "golden_customer": "gc_1",
            "invoice": "in_1",
            "payment": "pi_1",
            "tax_document": "c2c-salesforce-006A",
        },
        totals={"subtotal": 100_00, "tax": 7_25, "total": 107_25, "paid": 107_25},
    )


def parked() -> SagaStatus:
    problem = Problem(
        stage=Stage.TAX, system="avatax", code="invalid_address", message="x", error_type="BusinessRuleError"
    )
    return SagaStatus(
        workflow_id="c2c:salesforce:006B",
        deal_id="006B",
        stage=Stage.NEEDS_ATTENTION,
        problem=problem,
        external_ids={"golden_customer": "gc_2"},
        timeline=[],
    )


def consistent_states() -> dict[str, Any]:
    return {
        "stripe": {
            "customers": [{"metadata": {"golden_id": "gc_1"}}, {"metadata": {"golden_id": "gc_2"}}],
            "subscriptions": [{"metadata": {"deal_id": "006A"}}, {"metadata": {"deal_id": "006B"}}],
            "invoices": [{"id": "in_1", "status": "paid", "amount_paid": 107_25}],
        },
        "netsuite": {
            "invoice": [{"externalId": "in_1", "total": "107.25", "status": "Paid In Full"}],
            "customerPayment": [{"externalId": "pi_1", "payment": "107.25"}],
        },
        "avatax": {"documents": [{"code": "c2c-salesforce-006A", "status": "Committed", "totalTax": "7.25"}]},
    }


def run(states: dict[str, Any]) -> list[str]:
    return verify([DONE, PARKED], {DONE.key: completed(), PARKED.key: parked()}, states)


def test_consistent_systems_pass() -> None:
    assert run(consistent_states()) == []


@pytest.mark.parametrize(
    ("damage", "finding"),
    [
        (lambda s: s["stripe"]["subscriptions"].append({"metadata": {"deal_id": "006A"}}), "2 subscriptions"),
        (lambda s: s["stripe"]["customers"].append({"metadata": {"golden_id": "gc_1"}}), "2 billing customers"),
        (lambda s: s["stripe"]["invoices"][0].update(status="open"), "not one paid invoice"),
        (lambda s: s["netsuite"]["invoice"].append(dict(s["netsuite"]["invoice"][0])), "ERP holds 2 invoices"),
        (lambda s: s["netsuite"]["invoice"][0].update(total="107.24"), "different total"),
        (lambda s: s["netsuite"]["customerPayment"].clear(), "ERP holds 0 payments"),
        (lambda s: s["avatax"]["documents"][0].update(status="Saved"), "not one committed document"),
        (lambda s: s["stripe"]["invoices"].append({"id": "in_x"}) or None, None),
    ],
    ids=[
        "dup-subscription",
        "dup-customer",
        "unpaid",
        "dup-erp-invoice",
        "erp-total",
        "no-payment",
        "uncommitted-tax",
        "harmless",
    ],
)
def test_each_kind_of_disagreement_is_reported(damage: Any, finding: str | None) -> None:
    states = copy.deepcopy(consistent_states())
    damage(states)
    findings = run(states)
    if finding is None:
        assert findings == []
    else:
        assert any(finding in f for f in findings), findings


def test_a_deal_expected_to_park_that_completed_is_reported() -> None:
    statuses = {DONE.key: completed(), PARKED.key: completed().model_copy(update={"deal_id": "006B"})}
    assert any("expected to park" in f for f in verify([DONE, PARKED], statuses, consistent_states()))


def test_a_hubspot_deal_whose_company_lacks_our_ids_is_reported() -> None:
    sold_in_hubspot = replace(DONE, crm="hubspot")
    states = consistent_states() | {"hubspot": {"objects": {"companies": [{"properties": {"c2c_golden_id": "gc_1"}}]}}}
    statuses = {DONE.key: completed(), PARKED.key: parked()}
    assert verify([sold_in_hubspot, PARKED], statuses, states) == []
    states["hubspot"]["objects"]["companies"][0]["properties"]["c2c_golden_id"] = None
    assert any("no HubSpot company" in f for f in verify([sold_in_hubspot, PARKED], statuses, states))
