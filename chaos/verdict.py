"""What the chaos checker finds and reads: expectations, violations, the report, every system's records."""

from __future__ import annotations

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
        erp = erp_state(states)  # NetSuite's and Xero's records: each entity's deals are in its own ERP
        self.opportunities: list[dict[str, Any]] = crm["Opportunity"]
        self.accounts = {a["Id"]: a for a in crm["Account"]}
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
