"""Chasing an unpaid invoice: send it to the customer, and finally mark it uncollectible (bad debt).

Stripe documents that a paid invoice can be sent too (the email then has no reference to the payment); the
emulator also sends uncollectible ones (they can still be paid) and refuses drafts and void invoices. Test
mode sends no email, only the `invoice.sent` event, as at Stripe. An uncollectible invoice can still be paid
(`POST /pay`, a settling bank debit, or credit notes covering what remains) or voided."""

from __future__ import annotations

from typing import Any

from sandbox.stripe.errors import invalid
from sandbox.stripe.state import Call, now

INVOICE_SEND: frozenset[str] = frozenset()
INVOICE_MARK_UNCOLLECTIBLE: frozenset[str] = frozenset()
SENDABLE = ("open", "paid", "uncollectible")


def send_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    invoice = call.state.get("invoices", invoice_id)
    status = invoice["status"]
    if status == "draft":
        raise invalid(
            "You can't send a draft invoice. Finalize the invoice before sending it.", code="invoice_not_open"
        )
    if status not in SENDABLE:
        raise invalid(f"This invoice is {status} and can no longer be sent.", code="invoice_not_open")
    call.state.emit(call, "invoice.sent", invoice)
    return invoice


def mark_uncollectible(call: Call, invoice_id: str) -> dict[str, Any]:
    """open -> uncollectible; automatic collection stops (auto_advance off)."""
    invoice = call.state.get("invoices", invoice_id)
    if invoice["status"] != "open":
        raise invalid(
            f"You can only mark open invoices as uncollectible; this invoice is {invoice['status']}.",
            code="invoice_not_open",
        )
    invoice.update(status="uncollectible", auto_advance=False)
    invoice["status_transitions"]["marked_uncollectible_at"] = now()
    call.state.emit(call, "invoice.marked_uncollectible", invoice)
    return invoice
