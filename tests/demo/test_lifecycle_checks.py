"""The demo's check of the later periods must catch any system that disagrees with the subscription lifecycles:
hand-made lifecycle statuses and sandbox states, consistent, then damaged one way at a time."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from canonical import Amendment, AmendmentKind, AmendmentLine, DealLine, Money
from demo.lifecycle import PlannedChange, net_totals, proration, verify_lifecycles
from workflows.saga import Stage
from workflows.subscription_messages import (
    AmendmentRecord,
    ChangeState,
    LifecycleStatus,
    PeriodState,
    PeriodStatus,
)

JAN, FEB, MAR, APR = (datetime(2027, m, 6, tzinfo=UTC) for m in (1, 2, 3, 4))
NOW = datetime(2027, 3, 18, tzinfo=UTC)
TERM_END = datetime(2027, 11, 27, tzinfo=UTC)


def usd(amount: int) -> Money:
    return Money(amount=amount, currency="USD")


def seats(quantity: int) -> list[DealLine]:
    return [DealLine(product_code="PLAT-SEAT", quantity=quantity, unit_price=usd(49_00))]


def period(number: int, start: datetime, end: datetime, quantity: int, subtotal: int, tax: int) -> PeriodStatus:
    total = subtotal + tax
    return PeriodStatus(
        number=number,
        start=start,
        end=end,
        state=PeriodState.BILLED,
        trigger="webhook",
        ids={"invoice": f"in_{number}", "erp_invoice": f"{number}00", "payment": f"pi_{number}"},
        totals={"subtotal": subtotal, "tax": tax, "total": total, "paid": total},
        lines=seats(quantity),
    )


UPSELL = Amendment(
    crm="salesforce",
    deal_id="006UP",
    contract_id="800A",
    original_deal_id="006A",
    kind=AmendmentKind.AMENDMENT,
    effective_date=date(2027, 1, 16),
    currency="USD",
    lines=[AmendmentLine(product_code="PLAT-SEAT", quantity_change=5, unit_price=usd(49_00))],
    modified_at=datetime(2026, 12, 6, tzinfo=UTC),
)
CANCEL = UPSELL.model_copy(
    update={"deal_id": "006END", "kind": AmendmentKind.CANCELLATION, "lines": [], "effective_date": date(2027, 2, 18)}
)


def upsold() -> LifecycleStatus:
    """Periods 1 to 3; the upsell in period 2 prorates +100.00 on period 3's invoice; period 4 is not due yet."""
    return LifecycleStatus(
        workflow_id="c2c:salesforce:006A:subscription",
        subscription_id="sub_a",
        deal_id="006A",
        stage=Stage.WAITING,
        next_period=4,
        next_period_start=APR,
        periods=[
            period(1, datetime(2026, 12, 6, tzinfo=UTC), JAN, 25, 1225_00, 100_00),
            period(2, JAN, FEB, 25, 1225_00, 100_00),
            period(3, FEB, MAR, 30, 1570_00, 120_00),
        ],
        timeline=[],
        lines=seats(30),
        term_end=TERM_END,
        contract_id="800A",
        changes=[AmendmentRecord(amendment=UPSELL, state=ChangeState.APPLIED)],
    )


def cancelled() -> LifecycleStatus:
    status = upsold().model_copy(
        update={
            "subscription_id": "sub_b",
            "deal_id": "006B",
            "workflow_id": "c2c:salesforce:006B:subscription",
            "stage": Stage.COMPLETED,
            "ended": "cancelled",
            "changes": [AmendmentRecord(amendment=CANCEL, state=ChangeState.APPLIED)],
        }
    )
    status.periods = [
        period(1, datetime(2026, 12, 6, tzinfo=UTC), JAN, 10, 490_00, 40_00),
        period(2, JAN, FEB, 10, 490_00, 40_00),
    ]
    for p in status.periods:
        p.ids = {k: v.replace("_", "_b") if "_" in v else f"b{v}" for k, v in p.ids.items()}
    status.periods[-1].ids |= {"credit_note": "cn_b", "erp_credit_memo": "b900"}
    status.periods[-1].credited = 200_00
    status.lines = seats(10)
    return status


def ledgers() -> dict[str, LifecycleStatus]:
    return {"D-001": upsold(), "D-002": cancelled()}


def consistent_states() -> dict[str, Any]:
    invoices, erp, payments = [], [], []
    for status, entity in ((upsold(), "1"), (cancelled(), "1")):
        for p in status.periods:
            total = p.totals["total"]
            invoices.append(
                {
                    "id": p.ids["invoice"],
                    "subscription": status.subscription_id,
                    "status": "paid",
                    "total": total,
                    "amount_paid": total,
                    "currency": "usd",
                    "metadata": {},
                }
            )
            erp.append(
                {
                    "id": p.ids["erp_invoice"],
                    "externalId": p.ids["invoice"],
                    "total": f"{total / 100:.2f}",
                    "subsidiary": {"id": entity},
                    "currency": {"id": "1"},
                }
            )
            payments.append(
                {
                    "externalId": p.ids["payment"],
                    "apply": {"items": [{"doc": {"id": p.ids["erp_invoice"]}, "amount": f"{total / 100:.2f}"}]},
                }
            )
    return {
        "stripe": {
            "subscriptions": [
                {
                    "id": "sub_a",
                    "status": "active",
                    "cancel_at": int(TERM_END.timestamp()),
                    "metadata": {"legal_entity": "US01"},
                    "items": {"data": [{"price": {"product": "prod_c2c_plat_seat"}, "quantity": 30}]},
                },
                {
                    "id": "sub_b",
                    "status": "canceled",
                    "cancel_at": None,
                    "metadata": {"legal_entity": "US01"},
                    "items": {"data": [{"price": {"product": "prod_c2c_plat_seat"}, "quantity": 10}]},
                },
                # a draft of another subscription bills nothing yet
            ],
            "invoices": [*invoices, {"id": "in_draft", "subscription": "sub_a", "status": "draft", "total": 1}],
            "credit_notes": [{"id": "cn_b", "invoice": "in_b2", "total": 200_00, "status": "issued"}],
        },
        "netsuite": {
            "invoice": erp,
            "customerPayment": payments,
            "creditMemo": [
                {
                    "id": "b900",
                    "externalId": "cn_b",
                    "createdFrom": {"id": "b200"},
                    "total": "200.00",
                    "subsidiary": {"id": "1"},
                    "currency": {"id": "1"},
                }
            ],
        },
    }


PLANNED = [PlannedChange("D-001", "upsell", "006UP"), PlannedChange("D-002", "cancellation", "006END")]


def run(states: dict[str, Any], statuses: dict[str, LifecycleStatus] | None = None) -> list[str]:
    return verify_lifecycles(statuses or ledgers(), {"D-001": "USD", "D-002": "USD"}, states, PLANNED, NOW)


def test_consistent_systems_pass() -> None:
    assert run(consistent_states()) == []


def test_net_totals_subtract_credits_on_both_sides() -> None:
    totals = net_totals(consistent_states())
    invoiced = sum(p.totals["total"] for s in ledgers().values() for p in s.periods)
    assert totals["billing"] == totals["erp"] == {("US01", "USD"): invoiced - 200_00}


def test_proration_is_what_a_period_bills_beyond_its_lines() -> None:
    assert [proration(p) for p in upsold().periods] == [0, 0, 100_00]


def ns(states: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = states["netsuite"][kind]
    return records


@pytest.mark.parametrize(
    ("damage", "finding"),
    [
        (lambda s: ns(s, "invoice").pop(1), "the ERP holds 0 invoices for in_2"),
        (lambda s: ns(s, "invoice").append(dict(ns(s, "invoice")[1])), "the ERP holds 2 invoices for in_2"),
        (lambda s: ns(s, "invoice")[2].update(total="1580.01"), "ERP invoice 300 totals 1580.01"),
        (lambda s: ns(s, "customerPayment").append(copy.deepcopy(ns(s, "customerPayment")[1])), "2 payments"),
        (lambda s: ns(s, "customerPayment").pop(0), "has 0 payments applied"),
        (lambda s: ns(s, "customerPayment")[1].update(externalId="pi_x"), "is not billing's pi_2"),
        (lambda s: ns(s, "creditMemo").clear(), "0 credit memos for cn_b"),
        (lambda s: ns(s, "creditMemo")[0].update(createdFrom={"id": "b100"}), "created from b100"),
        (lambda s: ns(s, "creditMemo")[0].update(total="199.99"), "totals 199.99"),
        (lambda s: s["stripe"]["credit_notes"].clear(), "no credit note cn_b"),
        (lambda s: s["stripe"]["invoices"][1].update(status="open"), "in_2 is open"),
        (
            lambda s: s["stripe"]["invoices"].append(dict(s["stripe"]["invoices"][0], id="in_9", status="open")),
            "in_9 is in no period",
        ),
        (lambda s: s["stripe"]["subscriptions"][1].update(status="active"), "billing's subscription is active"),
        (lambda s: s["stripe"]["subscriptions"][0].update(status="canceled"), "still follows it"),
        (lambda s: s["stripe"]["subscriptions"][0].update(cancel_at=1), "billing ends it at 1"),
        (lambda s: s["stripe"]["subscriptions"][0]["items"]["data"][0].update(quantity=25), "not the lifecycle's"),
    ],
    ids=[
        "missing-erp-invoice",
        "dup-erp-invoice",
        "erp-total",
        "payment-applied-twice",
        "payment-not-applied",
        "payment-other-id",
        "no-credit-memo",
        "memo-from-other-invoice",
        "memo-total",
        "no-credit-note",
        "unpaid",
        "unbilled-invoice",
        "cancel-not-in-billing",
        "cancelled-in-billing-only",
        "term-end",
        "lines",
    ],
)
def test_each_kind_of_disagreement_is_reported(damage: Any, finding: str) -> None:
    states = copy.deepcopy(consistent_states())
    damage(states)
    findings = run(states)
    assert any(finding in f for f in findings), findings


def test_unequal_totals_per_entity_and_currency_are_reported() -> None:
    states = copy.deepcopy(consistent_states())
    ns(states, "invoice")[0]["subsidiary"] = {"id": "2"}  # posted to the German entity
    findings = run(states)
    assert any(f.startswith("DE01 USD: billing nets 0") for f in findings), findings
    assert any(f.startswith("US01 USD: billing nets") for f in findings), findings


def test_a_period_due_but_not_billed_a_parked_period_and_a_refused_change_are_reported() -> None:
    statuses = ledgers()
    behind = statuses["D-001"]
    behind.next_period_start, behind.next_period = FEB, 3
    statuses["D-002"].periods[0].state = PeriodState.NEEDS_ATTENTION
    states = consistent_states()
    statuses["D-001"].changes[0].state, statuses["D-001"].changes[0].rule = ChangeState.REFUSED, "quantity_below_zero"
    findings = run(states, statuses)
    assert any("period 3 started" in f for f in findings), findings
    assert any("D-002 period 1: is needs_attention" in f for f in findings), findings
    assert any("upsell 006UP is refused quantity_below_zero" in f for f in findings), findings


def test_a_cancellation_that_credited_nothing_is_reported() -> None:
    statuses = ledgers()
    statuses["D-002"].periods[-1].credited = 0
    del statuses["D-002"].periods[-1].ids["credit_note"]
    states = consistent_states()
    states["stripe"]["credit_notes"].clear()
    states["netsuite"]["creditMemo"].clear()
    findings = run(states, statuses)
    assert findings == ["D-002: a mid-period cancellation credited nothing"]
