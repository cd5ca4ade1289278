"""The BillingSystem methods beyond the first invoice and the subscription's later periods that the Chargebee
connector does not do yet.

Each refuses loudly, naming itself (PermanentError 'unsupported'): a saga or lifecycle step routed to Chargebee
that needs one stops with a clear reason instead of doing something half right. What each would take in Chargebee
is said beside it (docs/decisions.md, "issue 15: Chargebee").
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from canonical import Money
from canonical.refunds import BillingDispute, BillingRefund, RefundableInvoice
from canonical.usage import ReportedUsage, UsageReport
from connectors.errors import PermanentError

if TYPE_CHECKING:
    from connectors.stripe.webhooks import PaymentNotice

SYSTEM = "chargebee"


def unsupported(method: str, would_take: str) -> NoReturn:
    raise PermanentError(SYSTEM, "unsupported", f"ChargebeeBilling.{method} is not implemented ({would_take})")


class ChargebeeLifecycle:
    # renewals and amendments (the subscription workflow): connectors/chargebee/renewals.py and amendments.py

    # dunning, webhooks, refunds

    async def complete_notice(self, notice: PaymentNotice) -> PaymentNotice:
        unsupported("complete_notice", "a Chargebee event carries its invoice and transaction whole")

    async def refund(self, payment_id: str, amount: Money | None, *, idempotency_key: str) -> str:
        unsupported("refund", "POST /transactions/{id}/refund or a refundable credit note's refund")

    async def refundable_invoice(self, invoice_id: str) -> RefundableInvoice:
        unsupported("refundable_invoice", "the invoice with its linked payments and credit notes")

    async def credit_note_refund(self, credit_note_id: str) -> str | None:
        unsupported("credit_note_refund", "the credit note's linked_refunds")

    async def billing_refund(self, refund_id: str) -> BillingRefund:
        unsupported("billing_refund", "GET /transactions/{id} of type refund")

    async def refunds_of_charge(self, charge_id: str) -> list[BillingRefund]:
        unsupported("refunds_of_charge", "transactions of type refund linked to the payment")

    async def refunds_created_since(self, since: datetime) -> list[BillingRefund]:
        unsupported("refunds_created_since", "transactions list type[is]=refund, date[after]")

    async def billing_dispute(self, dispute_id: str) -> BillingDispute:
        unsupported("billing_dispute", "transactions of type payment with a dispute, and their linked invoices")

    # usage (the UsageReporting workflow)

    async def report_usage(self, report: UsageReport, *, idempotency_key: str) -> ReportedUsage:
        unsupported("report_usage", "metered addon items and POST /usages on the subscription")

    async def usage_of_period(self, event_name: str, customer_id: str, start: datetime, end: datetime) -> int:
        unsupported("usage_of_period", "GET /usages of the subscription for the period")
