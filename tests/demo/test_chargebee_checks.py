"""The demo's checks read UK01's records in Chargebee and Xero: a subscription that renewed twice in Chargebee, as
the emulator's state holds it, passes; each way Chargebee or Xero can disagree with the lifecycle is reported (a
renewal billed twice, a payment taken twice, a renewal left pending, another term end or other items), and the first
invoice's check finds the deal's Chargebee invoice and customer."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from canonical import DealLine, Money
from demo.lifecycle import net_totals, verify_lifecycles
from demo.report import verify
from estate.billing_records import billing_state, term_ends
from estate.book import DealSpec
from settings import get_settings
from tests.demo.test_report import DONE
from workflows.saga import SagaStatus, Stage
from workflows.subscription_messages import LifecycleStatus, PeriodState, PeriodStatus

STARTED = datetime(2027, 1, 6, 15, 20, 30, tzinfo=UTC)  # Chargebee's terms end at this time of day
MONTHS = [datetime(2027, m, 6, 15, 20, 30, tzinfo=UTC) for m in (1, 2, 3, 4)]
NOW = datetime(2027, 3, 16, tzinfo=UTC)
TERM_END = datetime(2028, 1, 6, tzinfo=UTC)  # the lifecycle's: midnight after the contract's last day
SUB = "c2c-sub-006UK"
TENANT = get_settings().xero_tenants["UK01"]


def gbp(amount: int) -> Money:
    return Money(amount=amount, currency="GBP")


def renewed_twice() -> LifecycleStatus:
    periods = [
        PeriodStatus(
            number=n,
            start=MONTHS[n - 1],
            end=MONTHS[n],
            state=PeriodState.BILLED,
            trigger="saga" if n == 1 else "webhook",
            ids={"invoice": f"INV-{n}", "erp_invoice": f"x-{n}", "payment": f"txn_{n}"},
            totals={"subtotal": 562_50, "tax": 112_50, "total": 675_00, "paid": 675_00},
            lines=[DealLine(product_code="PLAT-SEAT", quantity=15, unit_price=gbp(37_50))],
        )
        for n in (1, 2, 3)
    ]
    return LifecycleStatus(
        workflow_id="c2c:salesforce:006UK:subscription",
        subscription_id=SUB,
        deal_id="006UK",
        billing="chargebee",
        stage=Stage.WAITING,
        next_period=4,
        next_period_start=MONTHS[3],
        periods=periods,
        timeline=[],
        lines=periods[0].lines,
        term_end=TERM_END,
        contract_id="800UK",
    )


def states() -> dict[str, Any]:
    """Chargebee's records as its emulator holds them (ids, amounts in pence, unix times) and Xero's books."""
    invoices, xero_invoices, payments = [], [], []
    for n in (1, 2, 3):
        invoices.append(
            {
                "id": f"INV-{n}",
                "subscription_id": SUB,
                "first_invoice": n == 1,
                "status": "paid",
                "total": 675_00,
                "amount_paid": 675_00,
                "currency_code": "GBP",
                "linked_payments": [{"txn_id": f"txn_{n}", "txn_status": "success", "applied_amount": 675_00}],
            }
        )
        xero_invoices.append(
            {
                "InvoiceID": f"x-{n}",
                "InvoiceNumber": f"INV-{n}",
                "Type": "ACCREC",
                "Status": "PAID",
                "Total": 675.0,
                "CurrencyCode": "GBP",
            }
        )
        payments.append(
            {
                "PaymentID": f"p-{n}",
                "Reference": f"txn_{n}",
                "PaymentType": "ACCRECPAYMENT",
                "Amount": 675.0,
                "Invoice": {"InvoiceID": f"x-{n}", "CurrencyCode": "GBP"},
            }
        )
    subscription = {
        "id": SUB,
        "status": "active",
        "meta_data": {"c2c_deal_id": "006UK", "c2c_legal_entity": "UK01", "c2c_golden_id": "gc_uk"},
        "billing_period": 1,
        "billing_period_unit": "month",
        "started_at": int(STARTED.timestamp()),
        "current_term_end": int(MONTHS[3].timestamp()),
        "remaining_billing_cycles": 9,  # 12 cycles, the third one current
        "subscription_items": [
            {"item_price_id": "c2c-base-month-gbp", "item_type": "plan", "quantity": 1},
            {"item_price_id": "c2c-plat-seat-gbp-3750-month", "item_type": "addon", "quantity": 15},
        ],
    }
    return {
        "stripe": {"customers": [], "subscriptions": [], "invoices": [], "credit_notes": []},
        "chargebee": {
            "customers": [{"id": "c2c-gc_uk", "meta_data": '{"c2c_golden_id": "gc_uk"}'}],
            "item_prices": [{"id": "c2c-plat-seat-gbp-3750-month", "item_id": "PLAT-SEAT"}],
            "subscriptions": [subscription],
            # a renewal Chargebee holds pending for c2c's tax line bills nothing yet
            "invoices": [*invoices, {"id": "INV-9", "subscription_id": SUB, "status": "pending", "total": 1}],
            "credit_notes": [],
        },
        "netsuite": {"invoice": [], "customerPayment": [], "creditMemo": []},
        "xero": {TENANT: {"Invoices": xero_invoices, "Payments": payments}},
    }


def run(systems: dict[str, Any], status: LifecycleStatus | None = None) -> list[str]:
    return verify_lifecycles({"D-015": status or renewed_twice()}, {"D-015": "GBP"}, systems, [], NOW)


def test_a_subscription_renewed_in_chargebee_and_booked_in_xero_passes() -> None:
    assert run(states()) == []
    assert net_totals(states()) == {"billing": {("UK01", "GBP"): 3 * 675_00}, "erp": {("UK01", "GBP"): 3 * 675_00}}


def test_the_last_billing_cycle_ends_on_the_lifecycles_term_end_day() -> None:
    [subscription] = states()["chargebee"]["subscriptions"]
    assert datetime.fromtimestamp(term_ends(subscription) or 0, UTC) == datetime(2028, 1, 6, 15, 20, 30, tzinfo=UTC)
    ending = subscription | {"status": "non_renewing", "cancelled_at": 1}
    assert term_ends(ending) == 1


def cb(systems: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = systems["chargebee"][kind]
    return records


@pytest.mark.parametrize(
    ("damage", "finding"),
    [
        (lambda s: cb(s, "invoices").append(dict(cb(s, "invoices")[1], id="INV-8")), "INV-8 is in no period"),
        (
            lambda s: cb(s, "invoices")[1]["linked_payments"].append(cb(s, "invoices")[1]["linked_payments"][0]),
            "INV-2 has 2 payments",
        ),
        (lambda s: cb(s, "invoices")[2].update(status="pending"), "INV-3 missing"),
        (lambda s: cb(s, "invoices")[2].update(status="payment_due"), "INV-3 is open"),
        (lambda s: cb(s, "subscriptions")[0].update(remaining_billing_cycles=10), "last billing cycle ends"),
        (lambda s: cb(s, "subscriptions")[0]["subscription_items"][1].update(quantity=10), "not the lifecycle's"),
        (lambda s: cb(s, "subscriptions")[0].update(status="cancelled"), "still follows it"),
        (lambda s: s["xero"][TENANT]["Invoices"].pop(1), "the ERP holds 0 invoices for INV-2"),
        (lambda s: s["xero"][TENANT]["Invoices"][2].update(Total=674.99), "UK01 GBP: billing nets 202500"),
    ],
    ids=[
        "renewal-twice",
        "paid-twice",
        "renewal-pending",
        "renewal-unpaid",
        "term-end",
        "items",
        "cancelled-in-chargebee-only",
        "missing-in-xero",
        "xero-total",
    ],
)
def test_each_disagreement_of_chargebee_or_xero_is_reported(damage: Any, finding: str) -> None:
    systems = copy.deepcopy(states())
    damage(systems)
    findings = run(systems)
    assert any(finding in f for f in findings), findings


def test_the_first_invoice_check_reads_the_deals_chargebee_invoice_and_customer() -> None:
    spec = DealSpec("D-015", DONE.account, "UK01", "GBP", [("PLAT-SEAT", 15, DONE.lines[0][2])])
    saga = SagaStatus(
        workflow_id="c2c:salesforce:006UK",
        deal_id="006UK",
        stage=Stage.COMPLETED,
        legal_entity="UK01",
        currency="GBP",
        external_ids={
            "golden_customer": "gc_uk",
            "billing_customer": "c2c-gc_uk",
            "subscription": SUB,
            "invoice": "INV-1",
            "payment": "txn_1",
            "tax_document": "c2c-salesforce-006UK",
            "erp_invoice": "x-1",
        },
        totals={"subtotal": 562_50, "tax": 112_50, "total": 675_00, "paid": 675_00},
    )
    systems = states() | {
        "avatax": {"documents": [{"code": "c2c-salesforce-006UK", "status": "Committed", "totalTax": 112.5}]}
    }
    assert verify([spec], {"D-015": saga}, systems) == []
    assert len(billing_state(systems)["customers"]) == 1
    cb(systems, "customers").append({"id": "c2c-gc_uk-2", "meta_data": {"c2c_golden_id": "gc_uk"}})
    cb(systems, "invoices")[0]["linked_payments"] *= 2
    findings = verify([spec], {"D-015": saga}, systems)
    assert "golden customer gc_uk has 2 billing customers" in findings, findings
    assert "D-015: billing invoice INV-1 has 2 payments" in findings, findings
