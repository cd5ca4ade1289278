"""The chaos checker on the other estate: a deal won in HubSpot and billed in Chargebee is found there, counted
per system, and a planted violation (a second Chargebee invoice, a second HubSpot company, a missing write-back,
money no deal accounts for) is reported."""

from __future__ import annotations

import copy
import json
from typing import Any

from chaos.checker import Expectation, Report
from tests.chaos.test_checker import NET, TAX, World, only

TOTAL = NET + TAX


class TwoEstates(World):
    """World's deal 3 (golden customer gc_b) won in HubSpot and billed in Chargebee instead; NetSuite books it."""

    def __init__(self) -> None:
        super().__init__()
        deal = self.deal_ids[2]
        self.deal = deal
        sf = self.states["salesforce"]
        sf["Opportunity"] = [o for o in sf["Opportunity"] if o["Id"] != deal]
        sf["Account"] = [a for a in sf["Account"] if a["Id"] != self.status(3).external_ids["crm_account"]]
        stripe = self.states["stripe"]
        stripe["customers"] = [c for c in stripe["customers"] if c["metadata"]["golden_id"] != "gc_b"]
        for kind in ("subscriptions", "invoices", "charges"):
            stripe[kind] = stripe[kind][:2]
        self.states["hubspot"] = {
            "objects": {
                "deals": [
                    {
                        "id": deal,
                        "properties": {
                            "dealstage": "closedwon",
                            "amount": str(NET / 100),
                            "deal_currency_code": "USD",
                            "c2c_external_key": "C-0003",
                        },
                    }
                ],
                "companies": [self.company("8003")],
            }
        }
        self.states["chargebee"] = {
            "customers": [{"id": "c2c-gc_b", "meta_data": {"c2c_golden_id": "gc_b"}}],
            "subscriptions": [{"id": "c2c-sub-3", "meta_data": json.dumps({"c2c_deal_id": deal})}],
            "invoices": [self.invoice("INV-3", "c2c-sub-3")],
            "transactions": [self.payment("txn_3", "INV-3")],
        }
        self.records("netsuite", "invoice")[2]["externalId"] = "INV-3"
        self.records("avatax", "documents")[2]["code"] = f"c2c-hubspot-{deal}"
        ids = self.status(3).external_ids | {
            "crm_account": "8003",
            "billing_customer": "c2c-gc_b",
            "subscription": "c2c-sub-3",
            "invoice": "INV-3",
            "tax_document": f"c2c-hubspot-{deal}",
        }
        self.statuses[deal] = self.status(3).model_copy(
            update={"workflow_id": f"c2c:hubspot:{deal}", "external_ids": ids}
        )
        self.expectations[deal] = Expectation("C-0003", crm="hubspot", billing="chargebee")

    @staticmethod
    def company(company_id: str) -> dict[str, Any]:
        properties = {
            "c2c_golden_id": "gc_b",
            "c2c_tax_id": "US-3",
            "c2c_billing_customer_id": "c2c-gc_b",
            "c2c_erp_customer_id": "gc_b-US01",
            "c2c_external_key": "chaos-003",
        }
        return {"id": company_id, "properties": properties}

    @staticmethod
    def invoice(invoice_id: str, subscription_id: str) -> dict[str, Any]:
        lines = [
            {"entity_type": "plan_item_price", "amount": NET, "description": "PLAT-SEAT"},
            {"entity_type": "adhoc", "amount": TAX, "description": "Tax (c2c-hubspot-…)"},
        ]
        return {
            "id": invoice_id,
            "subscription_id": subscription_id,
            "first_invoice": True,
            "status": "paid",
            "currency_code": "USD",
            "total": TOTAL,
            "line_items": lines,
        }

    @staticmethod
    def payment(transaction_id: str, invoice_id: str) -> dict[str, Any]:
        return {
            "id": transaction_id,
            "type": "payment",
            "status": "success",
            "amount": TOTAL,
            "currency_code": "USD",
            "linked_invoices": [{"invoice_id": invoice_id}],
        }


def test_a_hubspot_deal_billed_in_chargebee_is_found_and_counted_there() -> None:
    report: Report = TwoEstates().check()
    assert report.violations == []
    assert (report.closed, report.completed, report.duplicates) == (3, 3, 0)
    counted = report.counted
    assert (counted["salesforce"]["closed won"], counted["hubspot"]["closed won"]) == (2, 1)
    assert counted["hubspot"]["write-backs"] == 1
    assert dict(counted["chargebee"]) == {"subscriptions": 1, "invoices": 1, "payments": 1, "customers": 1}
    assert (counted["stripe"]["invoices"], counted["stripe"]["customers"]) == (2, 1)
    assert counted["netsuite"]["invoices"] == 3
    assert report.totals["USD"]["collected"] == 3 * TOTAL


def test_a_second_chargebee_invoice_for_the_deal_is_a_duplicate() -> None:
    world = TwoEstates()
    chargebee = world.states["chargebee"]
    chargebee["subscriptions"].append({"id": "c2c-sub-3b", "meta_data": {"c2c_deal_id": world.deal}})
    chargebee["invoices"].append(world.invoice("INV-3b", "c2c-sub-3b"))
    text = only(world.check(), "duplicate")
    assert "C-0003" in text
    assert "billing subscriptions" in text


def test_a_chargebee_deal_without_its_payment_is_missing_it() -> None:
    world = TwoEstates()
    world.states["chargebee"]["transactions"] = []
    text = only(world.check(), "missing")
    assert "C-0003" in text
    assert "succeeded charges" in text


def test_a_second_hubspot_company_under_one_key_is_a_duplicate() -> None:
    world = TwoEstates()
    world.states["hubspot"]["objects"]["companies"].append(copy.deepcopy(world.company("8004")))
    report = world.check()
    assert report.duplicates >= 1
    assert any(v.kind == "duplicate" and "HubSpot companies 8003, 8004" in v.detail for v in report.violations)


def test_a_hubspot_company_without_the_billing_customer_written_back_is_reported() -> None:
    world = TwoEstates()
    world.states["hubspot"]["objects"]["companies"][0]["properties"]["c2c_billing_customer_id"] = ""
    text = only(world.check(), "missing")
    assert "C-0003" in text
    assert "billing_customer" in text


def test_a_paid_chargebee_invoice_no_deal_accounts_for_shows_in_the_totals() -> None:
    world = TwoEstates()
    world.states["chargebee"]["invoices"].append(world.invoice("INV-X", "c2c-sub-x"))
    assert "invoiced" in only(world.check(), "totals")
