"""The chaos checker against hand-made vendor states with one planted violation of each kind: it must find it and
name the deal."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from chaos.checker import Expectation, Report, check
from workflows.saga import Problem, SagaStatus, Stage

CURRENCY = "USD"
NET, TAX = 100_00, 8_25


def deal_records(n: int, golden: str) -> dict[str, Any]:
    """One completed deal as each system holds it: deal id 006…n, billing invoice in_n, ERP invoice 10n…"""
    deal, account = f"006CHAOS{n:010d}", f"001CHAOS{n:010d}"
    invoice, intent = f"in_{n}", f"pi_{n}"
    erp_invoice, erp_payment = f"{1000 + n}", f"{2000 + n}"
    total = NET + TAX
    return {
        "Opportunity": {
            "Id": deal,
            "AccountId": account,
            "StageName": "Closed Won",
            "CurrencyIsoCode": CURRENCY,
            "Amount": Decimal(NET) / 100,
            "External_Key__c": f"C-{n:04d}",
        },
        "Account": {"Id": account, "Tax_Id__c": f"US-{n}", "C2C_Golden_Id__c": golden},
        "subscriptions": {"id": f"sub_{n}", "customer": f"cus_{golden}", "metadata": {"deal_id": deal}},
        "invoices": {
            "id": invoice,
            "subscription": f"sub_{n}",
            "status": "paid",
            "currency": "usd",
            "total": total,
            "lines": {
                "data": [
                    {"type": "subscription", "amount": NET, "metadata": {"deal_id": deal}},
                    {"type": "invoiceitem", "amount": TAX, "metadata": {"c2c_line": "tax"}},
                ]
            },
        },
        "charges": {
            "id": f"ch_{n}",
            "invoice": invoice,
            "status": "succeeded",
            "paid": True,
            "currency": "usd",
            "amount": total,
            "amount_refunded": 0,
        },
        "documents": {
            "code": f"c2c-salesforce-{deal}",
            "status": "Committed",
            "currencyCode": CURRENCY,
            "totalTax": Decimal(TAX) / 100,
        },
        "invoice": {
            "id": erp_invoice,
            "externalId": invoice,
            "status": "Paid In Full",
            "currency": {"refName": CURRENCY},
            "total": Decimal(total) / 100,
        },
        "customerPayment": {
            "id": erp_payment,
            "externalId": intent,
            "currency": {"refName": CURRENCY},
            "applied": Decimal(total) / 100,
            "apply": {"items": [{"doc": {"id": erp_invoice}, "apply": True, "amount": Decimal(total) / 100}]},
        },
        "status": SagaStatus(
            workflow_id=f"c2c:salesforce:{deal}",
            deal_id=deal,
            stage=Stage.COMPLETED,
            legal_entity="US01",
            currency=CURRENCY,
            external_ids={
                "crm_account": account,
                "golden_customer": golden,
                "billing_customer": f"cus_{golden}",
                "erp_customer": f"{golden}-US01",
                "subscription": f"sub_{n}",
                "invoice": invoice,
                "tax_document": f"c2c-salesforce-{deal}",
                "erp_invoice": erp_invoice,
                "payment": intent,
                "erp_payment": erp_payment,
            },
            totals={"subtotal": NET, "tax": TAX, "total": total, "paid": total, "fee": 0},
        ),
    }


class World:
    """Three completed deals of two golden customers, consistent in every system; tests break one thing."""

    def __init__(self) -> None:
        records = [deal_records(1, "gc_a"), deal_records(2, "gc_a"), deal_records(3, "gc_b")]
        self.deal_ids = [r["Opportunity"]["Id"] for r in records]
        self.expectations = {r["Opportunity"]["Id"]: Expectation(r["Opportunity"]["External_Key__c"]) for r in records}
        self.statuses = {r["Opportunity"]["Id"]: r["status"] for r in records}

        def each(kind: str) -> list[dict[str, Any]]:
            return [copy.deepcopy(r[kind]) for r in records]

        self.states: dict[str, Any] = {
            "salesforce": {"Opportunity": each("Opportunity"), "Account": each("Account")},
            "stripe": {
                "customers": [{"id": f"cus_{g}", "metadata": {"golden_id": g}} for g in ("gc_a", "gc_b")],
                "subscriptions": each("subscriptions"),
                "invoices": each("invoices"),
                "charges": each("charges"),
            },
            "avatax": {"documents": each("documents")},
            "netsuite": {
                "customer": [{"id": f"{i}", "externalId": f"{g}-US01"} for i, g in enumerate(("gc_a", "gc_b"))],
                "invoice": each("invoice"),
                "customerPayment": each("customerPayment"),
            },
        }

    def check(self) -> Report:
        return check(self.expectations, self.statuses, self.states)

    def records(self, system: str, kind: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.states[system][kind]
        return records

    def status(self, n: int) -> SagaStatus:
        return self.statuses[self.deal_ids[n - 1]]


def only(report: Report, kind: str) -> str:
    """The one violation of the report, which must be of `kind`; its text."""
    assert [v.kind for v in report.violations][:1] == [kind], [str(v) for v in report.violations]
    return str(report.violations[0])


def test_the_consistent_world_passes() -> None:
    report = World().check()
    assert report.violations == []
    assert (report.closed, report.completed, report.duplicates) == (3, 3, 0)
    assert report.totals["USD"]["applied"] == 3 * (NET + TAX)


def test_a_closed_deal_without_a_saga_is_lost() -> None:
    world = World()
    del world.statuses[world.deal_ids[1]]
    assert "C-0002" in only(world.check(), "lost")


def test_a_saga_still_running_is_stuck() -> None:
    world = World()
    world.statuses[world.deal_ids[0]] = world.status(1).model_copy(update={"stage": Stage.POST})
    assert "C-0001" in only(world.check(), "stuck")


def test_a_saga_parked_without_a_reason_is_stuck() -> None:
    world = World()
    world.statuses[world.deal_ids[2]] = world.status(3).model_copy(update={"stage": Stage.NEEDS_ATTENTION})
    assert "C-0003" in only(world.check(), "stuck")


def test_a_deal_that_should_complete_but_parked_is_reported_with_its_reason() -> None:
    world = World()
    problem = Problem(stage=Stage.POST, system="netsuite", code="unavailable", message="down", error_type="X")
    world.statuses[world.deal_ids[0]] = world.status(1).model_copy(
        update={"stage": Stage.NEEDS_ATTENTION, "problem": problem}
    )
    text = only(world.check(), "unexpected_outcome")
    assert "C-0001" in text
    assert "unavailable" in text


def test_a_deal_planted_to_park_that_completed_is_reported() -> None:
    world = World()
    world.expectations[world.deal_ids[1]] = Expectation("C-0002", expect_park="invalid_address")
    assert "C-0002" in only(world.check(), "unexpected_outcome")


@pytest.mark.parametrize(
    ("system", "kind", "n", "what"),
    [
        ("stripe", "subscriptions", 1, "billing subscriptions"),
        ("stripe", "invoices", 2, "billing invoices"),
        ("stripe", "charges", 3, "succeeded charges"),
        ("netsuite", "invoice", 1, "ERP invoices"),
        ("netsuite", "customerPayment", 2, "applied ERP payments"),
        ("avatax", "documents", 3, "tax documents"),
    ],
)
def test_a_second_record_for_a_deal_is_a_duplicate(system: str, kind: str, n: int, what: str) -> None:
    world = World()
    twin = copy.deepcopy(world.records(system, kind)[n - 1])
    if "id" in twin:
        twin["id"] = f"{twin['id']}x"
    world.records(system, kind).append(twin)
    report = world.check()
    duplicates = [str(v) for v in report.violations if v.kind == "duplicate"]
    assert len(duplicates) == 1, [str(v) for v in report.violations]
    assert f"C-{n:04d}" in duplicates[0]
    assert what in duplicates[0]
    assert report.duplicates == 1


@pytest.mark.parametrize(
    ("system", "kind", "n", "what"),
    [
        ("stripe", "charges", 1, "succeeded charges"),
        ("netsuite", "invoice", 2, "ERP invoices"),
        ("avatax", "documents", 3, "tax documents"),
    ],
)
def test_a_missing_record_for_a_completed_deal_is_reported(system: str, kind: str, n: int, what: str) -> None:
    world = World()
    del world.records(system, kind)[n - 1]
    missing = [str(v) for v in world.check().violations if v.kind == "missing"]
    # (an ERP payment is found through the ERP invoice it is applied to: without the invoice, it is missing too)
    assert missing[0] == f"C-{n:04d} ({world.deal_ids[n - 1]}): missing: no {what}"
    assert all(f"C-{n:04d}" in text for text in missing)


@pytest.mark.parametrize(
    ("change", "n"),
    [
        (lambda w: w.records("salesforce", "Opportunity")[0].update(Amount=Decimal("99.00")), 1),  # contracted
        (lambda w: w.records("netsuite", "invoice")[1].update(total=Decimal("108.26")), 2),  # posted to AR
        (lambda w: w.records("stripe", "charges")[2].update(amount_refunded=100), 3),  # collected
        (lambda w: w.records("netsuite", "customerPayment")[0]["apply"]["items"][0].update(amount=1), 1),  # applied
        (lambda w: w.records("avatax", "documents")[1].update(totalTax=Decimal("8.24")), 2),  # tax
    ],
)
def test_an_amount_that_differs_between_systems_names_the_deal(change: Any, n: int) -> None:
    world = World()
    change(world)
    amounts = [str(v) for v in world.check().violations if v.kind == "amount"]
    assert amounts, "no amount violation"
    assert all(f"C-{n:04d}" in text for text in amounts), amounts


def test_an_unpaid_billing_invoice_is_reported() -> None:
    world = World()
    world.records("stripe", "invoices")[1]["status"] = "open"
    assert "C-0002" in only(world.check(), "amount")


def test_a_golden_customer_with_two_billing_customers_is_reported() -> None:
    world = World()
    world.records("stripe", "customers").append({"id": "cus_gc_b2", "metadata": {"golden_id": "gc_b"}})
    report = world.check()
    assert "C-0003" in only(report, "customer")
    assert "2 billing customers" in str(report.violations[0])
    assert report.duplicates == 1


def test_a_billing_customer_no_saga_knows_is_reported() -> None:
    world = World()
    world.records("stripe", "customers").append({"id": "cus_stray", "metadata": {}})
    assert "cus_stray" in only(world.check(), "customer")


def test_an_erp_customer_twice_is_reported() -> None:
    world = World()
    world.records("netsuite", "customer").append({"id": "9", "externalId": "gc_a-US01"})
    assert "gc_a-US01: 2 records" in only(world.check(), "customer")


def test_one_company_split_over_two_golden_customers_is_reported() -> None:
    world = World()
    world.records("salesforce", "Account")[2]["Tax_Id__c"] = "US-1"  # deal 3's account: deal 1's company
    text = only(world.check(), "customer")
    assert "tax id US-1" in text
    assert "C-0001" in text
    assert "C-0003" in text


def test_a_crm_account_linked_to_another_golden_customer_is_reported() -> None:
    world = World()
    world.records("salesforce", "Account")[0]["C2C_Golden_Id__c"] = "gc_other"
    assert "C-0001" in only(world.check(), "customer")


def test_money_no_deal_accounts_for_shows_in_the_currency_totals() -> None:
    world = World()
    stray = {**copy.deepcopy(world.records("stripe", "charges")[0]), "id": "ch_stray", "invoice": None}
    world.records("stripe", "charges").append(stray)
    text = only(world.check(), "totals")
    assert "USD collected" in text


def test_the_saga_reporting_other_ids_than_the_systems_hold_is_reported() -> None:
    world = World()
    ids = {**world.status(2).external_ids, "erp_invoice": "9999"}
    world.statuses[world.deal_ids[1]] = world.status(2).model_copy(update={"external_ids": ids})
    assert "C-0002" in only(world.check(), "missing")


def test_a_parked_deal_may_lack_records_but_never_holds_two() -> None:
    world = World()
    problem = Problem(stage=Stage.TAX, system="avatax", code="invalid_address", message="no", error_type="X")
    deal = world.deal_ids[2]
    world.expectations[deal] = Expectation("C-0003", expect_park="invalid_address")
    world.statuses[deal] = world.status(3).model_copy(
        update={"stage": Stage.NEEDS_ATTENTION, "problem": problem, "totals": {}}
    )
    for system, kind in (("stripe", "charges"), ("netsuite", "invoice"), ("netsuite", "customerPayment")):
        del world.records(system, kind)[2]
    world.records("avatax", "documents").pop(2)
    world.records("stripe", "invoices")[2]["status"] = "draft"
    assert world.check().violations == []
    world.records("stripe", "subscriptions").append({**world.records("stripe", "subscriptions")[2], "id": "sub_x"})
    assert "C-0003" in only(world.check(), "duplicate")
