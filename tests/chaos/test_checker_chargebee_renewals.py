"""The chaos checker's later periods on the other estate: a HubSpot deal billed in Chargebee and booked in Xero whose
subscription renewed twice passes when each renewal is one Chargebee invoice, one payment, one Xero invoice with its
payment applied once and one tax document; a renewal billed twice (in Chargebee or in Xero), a payment applied twice,
a renewal c2c never billed and a renewal billing never made are each reported, and an upsell counts once in
Chargebee's quantities."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from canonical import AmendmentKind, AmendmentLine, DealLine, Money
from chaos.checker import Expectation, LifecycleExpectation, PlannedChange, Report, check
from tests.chaos.test_checker import CURRENCY, NET, TAX, amendment_record, when
from tests.chaos.test_checker_estates import TwoEstates
from workflows.saga import Stage
from workflows.subscription_messages import LifecycleStatus, PeriodState, PeriodStatus

DAY = 86_400
MONTH = 30 * DAY
START = 15 * 3600 + 42 * 60  # a Chargebee term starts at the subscription's creation time of day, not at midnight
SEATS = 2
SEAT_PRICE = "c2c-plat-seat-usd-monthly"
TOTAL = NET + TAX


class Renewed(TwoEstates):
    """TwoEstates' deal 3 (HubSpot, Chargebee) booked in Xero, its subscription renewed `periods` times, each renewal
    billed once everywhere; `plan` and `lifecycles` are what the run did and what its lifecycle says."""

    def __init__(self, periods: int = 2) -> None:
        super().__init__()
        deal = self.deal
        self.expectations[deal] = Expectation("C-0003", crm="hubspot", billing="chargebee", erp="xero")
        chargebee = self.states["chargebee"]
        chargebee["item_prices"] = [{"id": SEAT_PRICE, "item_id": "PLAT-SEAT"}]
        chargebee["subscriptions"][0].update(
            status="active",
            subscription_items=[
                {"item_price_id": "c2c-base-Monthly-usd", "item_type": "plan", "quantity": 1},
                {"item_price_id": SEAT_PRICE, "item_type": "addon", "quantity": SEATS},
            ],
        )
        chargebee["invoices"] = [self.chargebee_invoice("INV-3", 0, first=True)]
        self.books = self.to_xero()
        lines = [
            DealLine(product_code="PLAT-SEAT", quantity=SEATS, unit_price=Money(amount=NET // SEATS, currency=CURRENCY))
        ]
        periods_now = [
            PeriodStatus(
                number=1, start=when(START), end=when(START + MONTH), state=PeriodState.BILLED, trigger="saga",
                lines=lines, ids={"invoice": "INV-3", "erp_invoice": "x-inv-1"},
                totals={"subtotal": NET, "tax": TAX, "total": TOTAL},
            )
        ]  # fmt: skip
        for n in range(2, periods + 2):
            invoice, code = f"INV-3-p{n}", f"c2c-hubspot-{deal}-p{n}"
            self.renewal(n, invoice, code)
            periods_now.append(
                PeriodStatus(
                    number=n, start=when(START + (n - 1) * MONTH), end=when(START + n * MONTH),
                    state=PeriodState.BILLED, trigger="webhook", lines=lines,
                    ids={"invoice": invoice, "erp_invoice": f"x-inv-{n}", "erp_payment": f"x-pay-{n}",
                         "tax_document": code},
                    totals={"subtotal": NET, "tax": TAX, "total": TOTAL, "paid": TOTAL},
                )
            )  # fmt: skip
        self.lifecycles = {
            deal: LifecycleStatus(
                workflow_id=f"c2c:hubspot:{deal}:subscription", subscription_id="c2c-sub-3", deal_id=deal,
                stage=Stage.WAITING, next_period=periods + 2, next_period_start=when(START + (periods + 1) * MONTH),
                periods=periods_now, timeline=[], lines=lines, changes=[],
            )
        }  # fmt: skip
        self.plans = {deal: LifecycleExpectation(periods=periods, lines={"PLAT-SEAT": SEATS})}

    def check(self) -> Report:
        return check(self.expectations, self.statuses, self.states, self.lifecycles, self.plans)

    @staticmethod
    def chargebee_invoice(invoice_id: str, start: int, *, first: bool = False, net: int = NET) -> dict[str, Any]:
        term = {"date_from": START + start, "date_to": START + start + MONTH}
        lines = [
            {"entity_type": "plan_item_price", "entity_id": "c2c-base-Monthly-usd", "amount": 0, **term},
            {"entity_type": "addon_item_price", "entity_id": SEAT_PRICE, "amount": net, **term},
            {"entity_type": "adhoc", "amount": TAX, "description": "Tax (c2c)", **term},
        ]
        return {
            "id": invoice_id,
            "subscription_id": "c2c-sub-3",
            "first_invoice": first,
            "status": "paid",
            "currency_code": CURRENCY,
            "total": net + TAX,
            "line_items": lines,
        }

    def to_xero(self) -> dict[str, Any]:
        """Deal 3's ERP records in a Xero organisation (UK01 books there) instead of NetSuite."""
        ns = self.states["netsuite"]
        ns["invoice"] = [i for i in ns["invoice"] if i["externalId"] != "INV-3"]
        ns["customerPayment"] = [p for p in ns["customerPayment"] if p["externalId"] != "pi_3"]
        ns["customer"] = [c for c in ns["customer"] if c["externalId"] != "gc_b-US01"]
        books: dict[str, Any] = {"Contacts": [{"ContactID": "c-1", "ContactNumber": "gc_b-UK01"}], "Invoices": [],
                                 "Payments": [], "CreditNotes": []}  # fmt: skip
        self.states["xero"] = {"tenant-uk": books}
        self.book(books, "INV-3", "x-inv-1", "x-pay-1", "txn_3", TOTAL)
        status = self.statuses[self.deal]
        status.legal_entity = "UK01"
        status.external_ids.update(erp_customer="c-1", erp_invoice="x-inv-1", erp_payment="x-pay-1")
        self.states["hubspot"]["objects"]["companies"][0]["properties"]["c2c_erp_customer_id"] = "c-1"  # written back
        return books

    @staticmethod
    def book(books: dict[str, Any], number: str, invoice_id: str, payment_id: str, reference: str, total: int) -> None:
        amount = Decimal(total) / 100
        books["Invoices"].append(
            {"InvoiceID": invoice_id, "InvoiceNumber": number, "Type": "ACCREC", "Status": "PAID", "Total": amount,
             "CurrencyCode": CURRENCY}
        )  # fmt: skip
        books["Payments"].append(
            {"PaymentID": payment_id, "Reference": reference, "PaymentType": "ACCRECPAYMENT", "Status": "AUTHORISED",
             "Amount": amount, "Invoice": {"InvoiceID": invoice_id, "CurrencyCode": CURRENCY}}
        )  # fmt: skip

    def renewal(self, n: int, invoice: str, code: str) -> None:
        chargebee = self.states["chargebee"]
        chargebee["invoices"].append(self.chargebee_invoice(invoice, (n - 1) * MONTH))
        chargebee["transactions"].append({**self.payment(f"txn_3_p{n}", invoice)})
        document = next(d for d in self.states["avatax"]["documents"] if d["code"] == f"c2c-hubspot-{self.deal}")
        self.states["avatax"]["documents"].append({**copy.deepcopy(document), "code": code})
        self.book(self.books, invoice, f"x-inv-{n}", f"x-pay-{n}", f"txn_3_p{n}", TOTAL)


def texts(report: Report) -> list[str]:
    return [str(v) for v in report.violations]


def test_chargebee_renewals_billed_once_in_chargebee_and_xero_pass_and_count_in_the_totals() -> None:
    world = Renewed(periods=2)
    report = world.check()
    assert report.violations == [], texts(report)
    assert (report.lifecycles, report.periods) == (1, 2)
    assert (report.counted["chargebee"]["renewals"], report.counted["xero"]["renewals"]) == (2, 2)
    assert report.counted["stripe"]["renewals"] == 0
    assert report.totals[CURRENCY]["invoiced"] == 5 * TOTAL  # three first invoices (two Stripe) and two renewals
    assert report.totals[CURRENCY]["applied"] == 5 * TOTAL


def test_a_chargebee_renewal_billed_twice_is_a_duplicate() -> None:
    world = Renewed(periods=2)
    # Chargebee made the period-2 renewal twice (a second invoice over the same term) and c2c billed both
    world.states["chargebee"]["invoices"].append(world.chargebee_invoice("INV-3-p2b", MONTH))
    world.states["chargebee"]["transactions"].append(world.payment("txn_3_p2b", "INV-3-p2b"))
    found = texts(world.check())
    assert any("duplicate" in t and "3 renewal invoice(s)" in t for t in found), found
    assert any("skipped" in t for t in found), found  # the extra renewal no lifecycle period bills
    assert any("totals" in t and "invoiced" in t for t in found), found  # money no period accounts for


def test_a_chargebee_renewal_posted_twice_to_xero_or_its_payment_applied_twice_is_a_duplicate() -> None:
    world = Renewed(periods=2)
    world.book(world.books, "INV-3-p3", "x-inv-3b", "x-pay-3b", "txn_3_p3", TOTAL)  # period 3 posted twice
    found = texts(world.check())
    assert any("C-0003" in t and "duplicate" in t and "2 ERP invoices for period 3" in t for t in found), found
    world = Renewed(periods=2)
    payment = copy.deepcopy(world.books["Payments"][-1])
    world.books["Payments"].append({**payment, "PaymentID": "x-pay-3b"})  # period 3's payment applied twice
    found = texts(world.check())
    assert any("duplicate" in t and "2 applied ERP payments for period 3" in t for t in found), found


def test_a_chargebee_renewal_c2c_never_billed_is_skipped_and_one_billing_never_made_is_missing() -> None:
    world = Renewed(periods=2)
    status = world.lifecycles[world.deal]
    status.periods = status.periods[:-1]  # the lifecycle never billed period 3, which Chargebee made
    status.next_period = 3
    found = texts(world.check())
    assert any("skipped" in t and "INV-3-p3 was never billed" in t for t in found), found
    world = Renewed(periods=1)
    world.plans[world.deal] = LifecycleExpectation(periods=2, lines={"PLAT-SEAT": SEATS})  # the run moved 2 periods
    found = texts(world.check())
    assert any("missing" in t and "billing made 1 renewal invoice(s)" in t for t in found), found


def test_a_chargebee_renewal_without_its_xero_payment_is_missing_it() -> None:
    world = Renewed(periods=2)
    world.books["Payments"] = [p for p in world.books["Payments"] if p["PaymentID"] != "x-pay-2"]
    found = texts(world.check())
    assert any("missing" in t and "no applied ERP payments for period 2" in t for t in found), found


def test_an_upsell_on_a_chargebee_subscription_counts_once_in_its_quantities() -> None:
    world = Renewed(periods=2)
    deal = world.deal
    upsell = PlannedChange("C-0003-UPS", "upsell", (("PLAT-SEAT", 3),), duplicate=True, opportunity_id="9003")
    world.plans[deal] = LifecycleExpectation(periods=2, lines={"PLAT-SEAT": SEATS}, changes=(upsell,))
    line = AmendmentLine(
        product_code="PLAT-SEAT", quantity_change=3, unit_price=Money(amount=NET // SEATS, currency=CURRENCY)
    )
    status = world.lifecycles[deal]
    record = amendment_record("9003", deal, AmendmentKind.AMENDMENT, [line])
    status.changes = [record.model_copy(update={"amendment": record.amendment.model_copy(update={"crm": "hubspot"})})]
    status.lines = [status.lines[0].model_copy(update={"quantity": SEATS + 3})]
    items = world.states["chargebee"]["subscriptions"][0]["subscription_items"]
    items[1]["quantity"] = SEATS + 3
    # the change deal is won in HubSpot and names the contract's deal: checked with the subscription, not as a deal
    change = {"dealstage": "closedwon", "c2c_contract_deal_id": deal, "c2c_external_key": "C-0003-UPS"}
    world.states["hubspot"]["objects"]["deals"].append({"id": "9003", "properties": change})
    report = world.check()
    assert report.violations == [], texts(report)
    assert report.changes["upsell"] == 1
    items[1]["quantity"] = SEATS + 6  # applied twice in Chargebee
    found = texts(world.check())
    assert any("change" in t and "billing's quantities {'PLAT-SEAT': 8}" in t for t in found), found
