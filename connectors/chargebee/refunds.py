"""The refund and dispute methods of the BillingSystem role on Chargebee (not implemented yet: each refuses, naming
itself, PermanentError 'unsupported')."""

from __future__ import annotations

from datetime import datetime

from canonical import Money
from canonical.refunds import BillingDispute, BillingRefund, RefundableInvoice
from connectors.chargebee.lifecycle import unsupported


class ChargebeeRefunds:
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
