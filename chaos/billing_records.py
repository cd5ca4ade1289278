"""A subscription's records in its billing system as the later-periods check reads them (chaos/lifecycle_check.py):
Stripe's and Chargebee's shapes behind one set of questions (which invoices renew it, what service period each bills,
its subscription and tax lines, the payments of an invoice, the subscription's quantities, its credit notes)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

from chaos.verdict import CYCLE, Systems

Record = dict[str, Any]
PLAN_LINE = "plan_item_price"  # a Chargebee invoice's base plan line: its dates are the term the invoice bills


class BillingRecords(Protocol):
    canceled: str  # the subscription status of an ended subscription

    def subscriptions(self, deal_id: str) -> list[Record]: ...
    def invoices(self, subscription: Record) -> list[Record]: ...
    def is_renewal(self, invoice: Record) -> bool: ...
    def service(self, invoice: Record) -> tuple[Any, Any]: ...
    def payments(self, invoice_id: str) -> list[Record]: ...
    def lines(self, invoice: Record) -> tuple[int, int]: ...
    def note_refunds(self, invoice_id: str) -> int: ...
    def quantities(self, subscription: Record) -> Counter[str]: ...
    def notes(self, invoice_id: str) -> list[Record]: ...


class StripeRecords:
    canceled = "canceled"

    def __init__(self, systems: Systems) -> None:
        self.s = systems

    def subscriptions(self, deal_id: str) -> list[Record]:
        return self.s.subscriptions.get(deal_id, [])

    def invoices(self, subscription: Record) -> list[Record]:
        return self.s.invoices.get(subscription["id"], [])

    def is_renewal(self, invoice: Record) -> bool:
        return invoice.get("billing_reason") == CYCLE

    def service(self, invoice: Record) -> tuple[Any, Any]:
        """The subscription line's period (a renewal's `period_start` is the period before)."""
        lines = [line for line in invoice["lines"]["data"] if line.get("type") == "subscription" and "period" in line]
        period = (
            lines[0]["period"] if lines else {"start": invoice.get("period_start"), "end": invoice.get("period_end")}
        )
        return period["start"], period["end"]

    def payments(self, invoice_id: str) -> list[Record]:
        return self.s.charges.get(invoice_id, [])

    def lines(self, invoice: Record) -> tuple[int, int]:
        """(the subscription lines: prorations are invoice items; the tax line)."""
        lines = invoice["lines"]["data"]
        tax = sum(line["amount"] for line in lines if line.get("metadata", {}).get("c2c_line") == "tax")
        return sum(line["amount"] for line in lines if line.get("type") == "subscription"), tax

    def note_refunds(self, invoice_id: str) -> int:
        return self.s.note_refunds(invoice_id)

    def quantities(self, subscription: Record) -> Counter[str]:
        found: Counter[str] = Counter()
        for item in subscription["items"]["data"]:
            found[self.s.product_code(item)] += item["quantity"]
        return found

    def notes(self, invoice_id: str) -> list[Record]:
        return self.s.notes_by_invoice.get(invoice_id, [])


class ChargebeeRecords:
    """Chargebee invoices carry no billing reason: a renewal is an invoice that is not the subscription's first and
    has the base plan's line (what the connector takes as one); prorated charges are addon lines over another span."""

    canceled = "cancelled"

    def __init__(self, systems: Systems) -> None:
        self.s = systems

    def subscriptions(self, deal_id: str) -> list[Record]:
        return self.s.chargebee_subscriptions.get(deal_id, [])

    def invoices(self, subscription: Record) -> list[Record]:
        return self.s.chargebee_invoices.get(subscription["id"], [])

    def is_renewal(self, invoice: Record) -> bool:
        return not invoice.get("first_invoice") and _plan(invoice) is not None

    def service(self, invoice: Record) -> tuple[Any, Any]:
        plan = _plan(invoice) or {}
        return plan.get("date_from"), plan.get("date_to")

    def payments(self, invoice_id: str) -> list[Record]:
        return self.s.chargebee_paid.get(invoice_id, [])

    def lines(self, invoice: Record) -> tuple[int, int]:
        """(the item lines over the invoice's term, prorations left out; the ad hoc tax line)."""
        start, _ = self.service(invoice)
        lines = invoice["line_items"]
        tax = [line for line in lines if line.get("entity_type") == "adhoc" and line["description"].startswith("Tax")]
        term = [line for line in lines if line.get("entity_type") != "adhoc" and line.get("date_from") == start]
        return sum(line["amount"] for line in term), sum(line["amount"] for line in tax)

    def note_refunds(self, invoice_id: str) -> int:
        return 0  # a Chargebee refund is a transaction of its own, not a part of the payment

    def quantities(self, subscription: Record) -> Counter[str]:
        found: Counter[str] = Counter()
        for item in subscription.get("subscription_items", []):
            if item.get("item_type") == "addon":
                found[str(self.s.chargebee_items.get(item["item_price_id"]) or item["item_price_id"])] += item[
                    "quantity"
                ]
        return found

    def notes(self, invoice_id: str) -> list[Record]:
        return self.s.chargebee_notes.get(invoice_id, [])


def _plan(invoice: Record) -> Record | None:
    return next((line for line in invoice.get("line_items", []) if line.get("entity_type") == PLAN_LINE), None)


def billing_records(billing: str, systems: Systems) -> BillingRecords:
    return ChargebeeRecords(systems) if billing == "chargebee" else StripeRecords(systems)
