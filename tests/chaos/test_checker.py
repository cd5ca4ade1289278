"""The chaos checker against hand-made vendor states with one planted violation of each kind: it must find it and
name the deal."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from canonical import Amendment, AmendmentKind, AmendmentLine, DealLine, Money
from chaos.checker import Expectation, LifecycleExpectation, PlannedChange, Report, check
from workflows.saga import Problem, SagaStatus, Stage
from workflows.subscription_messages import AmendmentRecord, ChangeState, LifecycleStatus, PeriodState, PeriodStatus

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


# ---- later periods and CRM changes (the subscription lifecycle) -------------------------------------------------

DAY = 86_400
MONTH = 30 * DAY
SEATS = 2  # deal 1 bills PLAT-SEAT x 2 at NET / 2


def lifecycle_world(periods: int = 2, cancel: bool = False) -> tuple[World, dict[str, Any], dict[str, Any]]:
    """World with deal 1's subscription renewed `periods` times (periods 2.., each billed once everywhere), and its
    lifecycle's status and plan; with `cancel`, the last period is cancelled half-way through (credit note, memo)."""
    world = World()
    deal = world.deal_ids[0]
    stripe, netsuite, avatax = world.states["stripe"], world.states["netsuite"], world.states["avatax"]
    [subscription] = [s for s in stripe["subscriptions"] if s["metadata"]["deal_id"] == deal]
    subscription.update(
        status="canceled" if cancel else "active",
        items={"data": [{"price": {"product": "prod_c2c_plat_seat"}, "quantity": SEATS}]},
    )
    first = stripe["invoices"][0]
    first["billing_reason"] = "subscription_create"
    first["lines"]["data"][0]["period"] = {"start": 0, "end": MONTH}
    lines = [DealLine(product_code="PLAT-SEAT", quantity=SEATS, unit_price=Money(amount=NET // SEATS, currency="USD"))]
    statuses = [
        PeriodStatus(
            number=1, start=when(0), end=when(MONTH), state=PeriodState.BILLED, trigger="saga", lines=lines,
            ids={"invoice": first["id"], "erp_invoice": "1001"},
            totals={"subtotal": NET, "tax": TAX, "total": NET + TAX},
        )
    ]  # fmt: skip
    stripe["credit_notes"], netsuite["creditMemo"] = [], []
    for n in range(2, periods + 2):
        invoice, erp, payment, code = f"in_1_p{n}", f"30{n}", f"40{n}", f"c2c-salesforce-{deal}-p{n}"
        start, end = (n - 1) * MONTH, n * MONTH
        stripe["invoices"].append(
            {
                **copy.deepcopy(first),
                "id": invoice,
                "billing_reason": "subscription_cycle",
                "lines": {
                    "data": [
                        {"type": "subscription", "amount": NET, "period": {"start": start, "end": end}},
                        {"type": "invoiceitem", "amount": TAX, "metadata": {"c2c_line": "tax"}},
                    ]
                },
            }
        )
        stripe["charges"].append({**copy.deepcopy(stripe["charges"][0]), "id": f"ch_1_p{n}", "invoice": invoice})
        avatax["documents"].append({**copy.deepcopy(avatax["documents"][0]), "code": code})
        netsuite["invoice"].append({**copy.deepcopy(netsuite["invoice"][0]), "id": erp, "externalId": invoice})
        applied = copy.deepcopy(netsuite["customerPayment"][0])
        applied.update(id=payment, externalId=f"pi_1_p{n}")
        applied["apply"]["items"][0]["doc"]["id"] = erp
        netsuite["customerPayment"].append(applied)
        statuses.append(
            PeriodStatus(
                number=n, start=when(start), end=when(end), state=PeriodState.BILLED, trigger="webhook", lines=lines,
                ids={"invoice": invoice, "erp_invoice": erp, "erp_payment": payment, "tax_document": code},
                totals={"subtotal": NET, "tax": TAX, "total": NET + TAX, "paid": NET + TAX},
            )
        )  # fmt: skip
    changes: list[PlannedChange] = []
    records: list[AmendmentRecord] = []
    ended = None
    if cancel:
        last = statuses[-1]
        credit = (NET + TAX) // 2
        note = {"id": "cn_1", "invoice": last.ids["invoice"], "total": credit, "currency": "usd", "refund": "re_1"}
        stripe["credit_notes"].append(note)
        stripe["charges"][-1]["amount_refunded"] = credit
        netsuite["creditMemo"].append(
            {
                "id": "501", "externalId": "cn_1", "total": Decimal(credit) / 100,
                "currency": {"refName": CURRENCY}, "createdFrom": {"id": last.ids["erp_invoice"]},
            }
        )  # fmt: skip
        last.ids.update(credit_note="cn_1", erp_credit_memo="501")
        last.credited = credit
        changes.append(PlannedChange("C-0001-CAN", "cancellation", (), duplicate=True, opportunity_id="006END"))
        records.append(amendment_record("006END", deal, AmendmentKind.CANCELLATION))
        ended = "cancelled"
    status = LifecycleStatus(
        workflow_id=f"c2c:salesforce:{deal}:subscription", subscription_id=subscription["id"], deal_id=deal,
        stage=Stage.COMPLETED if cancel else Stage.WAITING, next_period=periods + 2, next_period_start=when(0),
        periods=statuses, timeline=[], lines=lines, changes=records, ended=ended,
    )  # fmt: skip
    plan = LifecycleExpectation(periods=periods, lines={"PLAT-SEAT": SEATS}, changes=tuple(changes))
    return world, {deal: status}, {deal: plan}


def when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def amendment_record(opportunity: str, deal: str, kind: AmendmentKind, lines: list[Any] | None = None) -> Any:
    amendment = Amendment(
        crm="salesforce", deal_id=opportunity, contract_id="800X", original_deal_id=deal, kind=kind,
        effective_date=date(2027, 1, 10), currency="USD", lines=lines or [], modified_at=when(0),
    )  # fmt: skip
    return AmendmentRecord(amendment=amendment, state=ChangeState.APPLIED)


def lifecycle_check(world: World, lifecycles: dict[str, Any], plans: dict[str, Any]) -> Report:
    return check(world.expectations, world.statuses, world.states, lifecycles, plans)


def test_renewed_periods_billed_once_everywhere_pass_and_count_in_the_totals() -> None:
    world, lifecycles, plans = lifecycle_world(periods=2)
    report = lifecycle_check(world, lifecycles, plans)
    assert report.violations == [], [str(v) for v in report.violations]
    assert (report.lifecycles, report.periods) == (1, 2)
    assert report.totals["USD"]["invoiced"] == 5 * (NET + TAX)  # three first invoices and two renewals


def test_a_period_posted_twice_to_the_erp_is_a_duplicate() -> None:
    world, lifecycles, plans = lifecycle_world(periods=2)
    twin = {**copy.deepcopy(world.records("netsuite", "invoice")[-1]), "id": "999"}
    world.records("netsuite", "invoice").append(twin)
    report = lifecycle_check(world, lifecycles, plans)
    duplicates = [str(v) for v in report.violations if v.kind == "duplicate"]
    assert len(duplicates) == 1, [str(v) for v in report.violations]
    assert "C-0001" in duplicates[0]
    assert "2 ERP invoices for period 3" in duplicates[0]


def test_a_period_the_lifecycle_never_billed_is_skipped() -> None:
    world, lifecycles, plans = lifecycle_world(periods=2)
    [status] = lifecycles.values()
    status.periods = [p for p in status.periods if p.number != 2]  # billed 1 and 3, not 2
    texts = [str(v) for v in lifecycle_check(world, lifecycles, plans).violations if v.kind == "skipped"]
    assert any("period(s) 2 missing" in t for t in texts), texts
    assert any("in_1_p2 was never billed" in t for t in texts), texts


def test_a_renewal_billed_under_another_period_number_is_skipped() -> None:
    world, lifecycles, plans = lifecycle_world(periods=2)
    [status] = lifecycles.values()
    status.periods = status.periods[:1] + [status.periods[2].model_copy(update={"number": 2})]
    texts = [str(v) for v in lifecycle_check(world, lifecycles, plans).violations]
    assert any("skipped" in t and "in_1_p2 was never billed" in t for t in texts), texts
    assert any("billed as period 2" in t for t in texts), texts


def test_fewer_renewals_than_the_run_moved_billing_through_are_missing() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1)
    plans = {deal: replace(plan, periods=2) for deal, plan in plans.items()}
    assert "1 renewal invoice(s)" in only(lifecycle_check(world, lifecycles, plans), "missing")


def test_a_parked_lifecycle_is_stuck() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1)
    [status] = lifecycles.values()
    status.problem = Problem(stage=Stage.POST, system="netsuite", code="unavailable", message="down", error_type="X")
    assert "unavailable" in only(lifecycle_check(world, lifecycles, plans), "stuck")


def test_a_period_amount_differing_between_billing_and_the_erp_is_reported() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1)
    world.records("netsuite", "invoice")[-1]["total"] = Decimal("1.00")
    amounts = [str(v) for v in lifecycle_check(world, lifecycles, plans).violations if v.kind == "amount"]
    assert any("period 2: invoiced" in t for t in amounts), amounts


def test_a_cancellation_with_one_credit_note_and_one_memo_passes() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1, cancel=True)
    report = lifecycle_check(world, lifecycles, plans)
    assert report.violations == [], [str(v) for v in report.violations]
    assert report.changes["cancellation"] == 1
    assert report.totals["USD"]["credited"] == (NET + TAX) // 2


def test_a_second_credit_memo_for_a_cancellation_is_a_duplicate() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1, cancel=True)
    world.records("netsuite", "creditMemo").append({**world.records("netsuite", "creditMemo")[0], "id": "502"})
    report = lifecycle_check(world, lifecycles, plans)
    duplicates = [str(v) for v in report.violations if v.kind == "duplicate"]
    assert any("2 ERP credit memos for cn_1" in t for t in duplicates), [str(v) for v in report.violations]
    assert any(v.kind == "totals" and "credit memos" in str(v) for v in report.violations)


def test_a_cancellation_billing_never_carried_out_is_reported() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1, cancel=True)
    world.records("stripe", "subscriptions")[0]["status"] = "active"
    assert "is active" in only(lifecycle_check(world, lifecycles, plans), "change")


def test_a_duplicate_upsell_applied_twice_shows_in_billing_quantities() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1)
    [(deal, status)] = lifecycles.items()
    upsell = PlannedChange("C-0001-UPS", "upsell", (("PLAT-SEAT", 3),), duplicate=True, opportunity_id="006UP")
    plans[deal] = replace(plans[deal], changes=(upsell,))
    line = AmendmentLine(product_code="PLAT-SEAT", quantity_change=3, unit_price=Money(amount=50_00, currency="USD"))
    status.changes = [amendment_record("006UP", deal, AmendmentKind.AMENDMENT, [line])]
    status.lines = [status.lines[0].model_copy(update={"quantity": SEATS + 3})]
    world.records("stripe", "subscriptions")[0]["items"]["data"][0]["quantity"] = SEATS + 6  # applied twice
    text = only(lifecycle_check(world, lifecycles, plans), "change")
    assert "billing's quantities {'PLAT-SEAT': 8}" in text
    assert "{'PLAT-SEAT': 5}" in text


def test_a_change_the_lifecycle_recorded_twice_is_a_duplicate() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1, cancel=True)
    [status] = lifecycles.values()
    status.changes = status.changes * 2
    assert "recorded 2 times" in only(lifecycle_check(world, lifecycles, plans), "duplicate")


def test_a_change_that_never_reached_the_lifecycle_is_missing() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1, cancel=True)
    [status] = lifecycles.values()
    status.changes = []
    texts = [str(v) for v in lifecycle_check(world, lifecycles, plans).violations]
    assert any("missing" in t and "never reached the lifecycle" in t for t in texts), texts


def booked_in_xero(world: World, n: int) -> dict[str, Any]:
    """Deal n's ERP records moved from NetSuite to a Xero organisation (its entity books in Xero)."""
    ns = world.states["netsuite"]
    [invoice] = [i for i in ns["invoice"] if i["externalId"] == f"in_{n}"]
    [payment] = [p for p in ns["customerPayment"] if p["externalId"] == f"pi_{n}"]
    ns["invoice"].remove(invoice)
    ns["customerPayment"].remove(payment)
    ns["customer"] = [c for c in ns["customer"] if c["externalId"] != "gc_b-US01"]  # gc_b buys from UK01 only
    contact = {"ContactID": "c-1", "ContactNumber": "gc_b-UK01"}
    books = {
        "Contacts": [contact],
        "Invoices": [
            {"InvoiceID": invoice["id"], "InvoiceNumber": f"in_{n}", "Type": "ACCREC", "Status": "PAID",
             "Total": invoice["total"], "CurrencyCode": CURRENCY}
        ],
        "Payments": [
            {"PaymentID": payment["id"], "Reference": f"pi_{n}", "PaymentType": "ACCRECPAYMENT", "Status": "AUTHORISED",
             "Amount": payment["applied"], "Invoice": {"InvoiceID": invoice["id"], "CurrencyCode": CURRENCY}}
        ],
        "CreditNotes": [],
    }  # fmt: skip
    world.states["xero"] = {"tenant-uk": books}
    status = world.status(n)
    status.legal_entity = "UK01"
    status.external_ids["erp_customer"] = "c-1"
    return books


def test_a_deal_booked_in_xero_is_counted_there() -> None:
    world = World()
    booked_in_xero(world, 3)
    assert [str(v) for v in world.check().violations] == []


def test_a_xero_invoice_posted_twice_is_a_duplicate_and_one_missing_is_missing() -> None:
    world = World()
    books = booked_in_xero(world, 3)
    books["Invoices"].append({**books["Invoices"][0], "InvoiceID": "other"})
    assert "2 ERP invoices" in only(world.check(), "duplicate")
    books["Invoices"] = []
    assert "no ERP invoices" in only(world.check(), "missing")


def test_a_cancellations_committed_credit_tax_nets_the_tax_total() -> None:
    world, lifecycles, plans = lifecycle_world(periods=1, cancel=True)
    [status] = lifecycles.values()
    credited = next(p for p in status.periods if "credit_note" in p.ids)
    credited.ids["credit_tax"] = "c2c-credit-tax"
    credit_tax = {**copy.deepcopy(world.records("avatax", "documents")[0]), "code": "c2c-credit-tax"}
    credit_tax["totalTax"] = Decimal(-TAX // 2) / 100
    world.records("avatax", "documents").append(credit_tax)
    assert lifecycle_check(world, lifecycles, plans).violations == []
    credit_tax["status"] = "Saved"  # never committed: the tax engine does not count it either
    assert lifecycle_check(world, lifecycles, plans).violations == []
