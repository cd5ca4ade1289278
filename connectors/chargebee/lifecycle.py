"""The BillingSystem methods beyond the first invoice that the Chargebee connector does not do yet.

Each refuses loudly, naming itself (PermanentError 'unsupported'): a saga or lifecycle step routed to Chargebee
that needs one stops with a clear reason instead of doing something half right. What each would take in Chargebee
is said beside it (docs/decisions.md, "issue 15: Chargebee").
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from canonical import DealLine, Invoice, RenewalInvoice, SubscriptionEnd
from canonical.usage import ReportedUsage, UsageReport
from connectors.errors import PermanentError

if TYPE_CHECKING:
    from connectors.stripe.webhooks import PaymentNotice

SYSTEM = "chargebee"


def unsupported(method: str, would_take: str) -> NoReturn:
    raise PermanentError(SYSTEM, "unsupported", f"ChargebeeBilling.{method} is not implemented ({would_take})")


class ChargebeeLifecycle:
    # renewals and amendments (the subscription workflow)

    async def renewal_invoices(self, subscription_id: str) -> list[RenewalInvoice]:
        unsupported("renewal_invoices", "invoices list by subscription_id, recurring, after the first")

    async def subscription_end(self, subscription_id: str) -> SubscriptionEnd | None:
        unsupported("subscription_end", "the subscription's cancelled_at")

    async def renewal_invoice(self, invoice_id: str) -> RenewalInvoice | None:
        unsupported("renewal_invoice", "a recurring invoice that is not the first")

    async def complete_renewal_invoice(
        self, customer_id: str, invoice_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        unsupported("complete_renewal_invoice", "pending renewal invoices: add_charge then close")

    async def update_subscription(
        self,
        subscription_id: str,
        lines: list[DealLine],
        price_ids: dict[str, str],
        effective: datetime,
        *,
        idempotency_key: str,
    ) -> None:
        unsupported("update_subscription", "POST /subscriptions/{id}/update_for_items with replace_items_list")

    async def invoice_prorations(
        self, customer_id: str, subscription_id: str, *, idempotency_key: str
    ) -> RenewalInvoice | None:
        unsupported("invoice_prorations", "invoice_immediately on update_for_items")

    async def set_term_end(self, subscription_id: str, end: datetime | None, *, idempotency_key: str) -> None:
        unsupported("set_term_end", "billing_cycles / cancel_for_items end_of_term")

    # dunning, webhooks, refunds

    async def complete_notice(self, notice: PaymentNotice) -> PaymentNotice:
        unsupported("complete_notice", "a Chargebee event carries its invoice and transaction whole")

    # usage (the UsageReporting workflow)

    async def report_usage(self, report: UsageReport, *, idempotency_key: str) -> ReportedUsage:
        unsupported("report_usage", "metered addon items and POST /usages on the subscription")

    async def usage_of_period(self, event_name: str, customer_id: str, start: datetime, end: datetime) -> int:
        unsupported("usage_of_period", "GET /usages of the subscription for the period")
