"""What the chaos checker finds and reads: expectations, violations, the report, every system's records."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from canonical import Money
from estate.ledgers import erp_state

CLOSED_WON = "Closed Won"
CRM = "salesforce"
MEASURES = ("contracted", "tax", "invoiced", "posted", "collected", "applied", "credited")
COMPARED = ("tax", "invoiced", "posted", "collected", "applied", "credited", "credit memos")
CYCLE = "subscription_cycle"  # billing_reason of a renewal invoice


@dataclass(frozen=True)
class Expectation:
    """What the run's book says about a deal: its key and, for a planted problem, the code it parks with."""

    key: str
    expect_park: str | None = None
    crm: str = "salesforce"  # where the deal was won
    billing: str = "stripe"  # where its entity bills
    erp: str = "netsuite"  # where its entity books


@dataclass(frozen=True)
class PlannedChange:
    """A CRM change the run closed on a contract: upsell / reduction (quantity changes by product code) or
    cancellation; `duplicate` when it was delivered a second time."""

    key: str
    kind: str  # upsell | reduction | cancellation
    lines: tuple[tuple[str, int], ...] = ()
    duplicate: bool = False
    opportunity_id: str = ""


@dataclass(frozen=True)
class LifecycleExpectation:
    """What the run did to one subscription: renewal periods billing must have made (2 and 3 = 2), the deal's
    quantities by product code, the CRM changes it closed."""

    periods: int
    lines: dict[str, int]
    changes: tuple[PlannedChange, ...] = ()


@dataclass(frozen=True)
class Violation:
    kind: str
    deal: str | None  # "KEY (crm id)", or None for a finding that is not one deal's
    detail: str

    def __str__(self) -> str:
        return f"{self.deal or '-'}: {self.kind}: {self.detail}"


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    closed: int = 0
    completed: int = 0
    parked: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # records beyond the one each deal or customer should have
    lifecycles: int = 0  # subscriptions whose later periods were checked
    periods: int = 0  # later periods billed and found once in every system
    changes: Counter[str] = field(default_factory=Counter)  # CRM changes applied once, by kind
    ended: Counter[str] = field(default_factory=Counter)  # subscriptions ended, by reason
    totals: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # currency -> measure
    # system -> what was found exactly once there for a completed deal (or customer), by kind; closed deals per CRM
    counted: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def ok(self) -> bool:
        return not self.violations


def minor(value: Any, currency: str) -> int:
    """A vendor's decimal major-unit amount (JSON number or string) in minor units."""
    return Money.from_decimal(Decimal(str(value)), currency.upper()).amount


def group(records: Iterable[dict[str, Any]], key: Any) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        value = key(record)
        if value is not None:
            groups[value].append(record)
    return groups


class Systems:
    """The emulators' states, indexed the ways the checks look records up."""

    def __init__(self, states: dict[str, Any]) -> None:
        crm, stripe, tax = states["salesforce"], states["stripe"], states["avatax"]
        hubspot = (states.get("hubspot") or {}).get("objects", {})
        chargebee = states.get("chargebee") or {}
        erp = erp_state(states)  # NetSuite's and Xero's records: each entity's deals are in its own ERP
        self.opportunities: list[dict[str, Any]] = crm["Opportunity"]
        self.accounts = {a["Id"]: a for a in crm["Account"]}
        # HubSpot's deals and companies in the Salesforce shape the checks read (`crm` says where they live)
        self.hubspot_deals = [hubspot_deal(d) for d in hubspot.get("deals", [])]
        self.hubspot_companies = [hubspot_company(c) for c in hubspot.get("companies", [])]
        self.accounts |= {c["Id"]: c for c in self.hubspot_companies}
        # Chargebee's records (amounts in minor units, like Stripe's), found the same ways as Stripe's
        self.chargebee_customers = group(
            chargebee.get("customers", []), lambda c: meta(c).get("c2c_golden_id") or c["id"].removeprefix("c2c-")
        )
        self.chargebee_subscriptions = group(chargebee.get("subscriptions", []), lambda s: meta(s).get("c2c_deal_id"))
        self.chargebee_invoice_list: list[dict[str, Any]] = chargebee.get("invoices", [])
        self.chargebee_invoices = group(self.chargebee_invoice_list, lambda i: i.get("subscription_id"))
        self.chargebee_payments: list[dict[str, Any]] = [
            t
            for t in chargebee.get("transactions", [])
            if t.get("type") == "payment" and t.get("status") == "success" and not t.get("deleted")
        ]
        # item price id -> its item (an addon's item is the product code: connectors/chargebee/client.py)
        self.chargebee_items = {p["id"]: p.get("item_id") for p in chargebee.get("item_prices", [])}
        self.chargebee_notes = group(chargebee.get("credit_notes", []), lambda n: n.get("reference_invoice_id"))
        self.chargebee_paid: dict[str, list[dict[str, Any]]] = defaultdict(list)  # invoice id -> its payments
        for payment in self.chargebee_payments:
            for link in payment.get("linked_invoices", []):
                self.chargebee_paid[link["invoice_id"]].append(payment)
        self.stripe_customers = group(stripe["customers"], lambda c: c["metadata"].get("golden_id", ""))
        self.subscriptions = group(stripe["subscriptions"], lambda s: s["metadata"].get("deal_id"))
        self.invoices = group(stripe["invoices"], lambda i: i.get("subscription"))
        self.charges = group(
            (c for c in stripe["charges"] if c["status"] == "succeeded" and c.get("paid")), lambda c: c.get("invoice")
        )
        self.stripe_subscriptions = {s["id"]: s for s in stripe["subscriptions"]}
        self.stripe_invoices: list[dict[str, Any]] = stripe["invoices"]
        self.credit_notes: list[dict[str, Any]] = stripe.get("credit_notes", [])
        self.notes_by_invoice = group(self.credit_notes, lambda n: n.get("invoice"))
        products = stripe.get("products", [])
        self.product_codes = {p["id"]: p.get("metadata", {}).get("product_code") for p in products}
        self.stripe_charges: list[dict[str, Any]] = stripe["charges"]
        self.documents = group(tax["documents"], lambda d: d["code"])
        self.tax_documents: list[dict[str, Any]] = tax["documents"]
        self.erp_customers = group(erp["customer"], lambda c: c.get("externalId"))
        self.erp_invoices = group(erp["invoice"], lambda i: i.get("externalId"))
        self.erp_invoice_list: list[dict[str, Any]] = erp["invoice"]
        self.erp_payments: list[dict[str, Any]] = erp["customerPayment"]
        self.credit_memo_list: list[dict[str, Any]] = erp.get("creditMemo", [])
        self.credit_memos = group(self.credit_memo_list, lambda m: m.get("externalId"))
        # ERP payments by the ERP invoice they are applied to
        self.applications: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for payment in erp["customerPayment"]:
            for item in payment["apply"]["items"]:
                if item["apply"]:
                    self.applications[item["doc"]["id"]].append(payment)

    def note_refunds(self, invoice_id: str) -> int:
        """What credit notes on the invoice refunded (a refund is the whole note when the invoice was paid)."""
        return sum(n["total"] for n in self.notes_by_invoice.get(invoice_id, []) if n.get("refund"))

    def product_code(self, item: dict[str, Any]) -> str:
        product = item["price"]["product"]
        product_id = product if isinstance(product, str) else product["id"]
        code = self.product_codes.get(product_id)
        return code or product_id.removeprefix("prod_c2c_").upper().replace("_", "-")


def meta(record: dict[str, Any]) -> dict[str, Any]:
    """A Chargebee record's meta_data (a JSON object, or its text)."""
    value = record.get("meta_data") or {}
    return dict(json.loads(value) if isinstance(value, str) else value)


def hubspot_deal(deal: dict[str, Any]) -> dict[str, Any]:
    p = deal.get("properties", {})
    return {
        "Id": str(deal["id"]),
        "StageName": CLOSED_WON if p.get("dealstage") == "closedwon" else p.get("dealstage"),
        "Amount": p.get("amount"),
        "CurrencyIsoCode": p.get("deal_currency_code"),
        "External_Key__c": p.get("c2c_external_key"),
        # a won change to a contract (connectors/hubspot/contracts.py) names the deal that holds the contract
        "ContractId": p.get("c2c_contract_deal_id") or None,
        "crm": "hubspot",
    }


def hubspot_company(company: dict[str, Any]) -> dict[str, Any]:
    p = company.get("properties", {})
    return {
        "Id": str(company["id"]),
        "C2C_Golden_Id__c": p.get("c2c_golden_id") or None,
        "Tax_Id__c": p.get("c2c_tax_id") or None,
        "billing_customer": p.get("c2c_billing_customer_id") or None,
        "erp_customer": p.get("c2c_erp_customer_id") or None,
        "External_Key__c": p.get("c2c_external_key"),
        "crm": "hubspot",
    }
