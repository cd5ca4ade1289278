"""Refunds of paid invoices on Stripe: what an invoice can still give back, the refund a credit note made, a refund
as billing reports it (whose credit note, if any, and c2c's key on it), and refunds since a moment.

A refund c2c makes is a credit note with `refund_amount` (`issue_credit_note`): Stripe creates the Refund with it
and names it in the note's `refund`. A refund made in the Dashboard or with `POST /v1/refunds` has no credit note;
that is how the `charge.refunded` webhook tells the two apart. A dispute (`charge.dispute.created`) is read back
as a BillingDispute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canonical import ids
from canonical.refunds import BillingDispute, BillingRefund, RefundableInvoice
from connectors.stripe import mapping, wire
from connectors.stripe.checks import checked


class StripeRefunds:
    """Mixed into StripeBilling, which supplies `_get`, `get_invoice`, `_product_codes` and `_list_all`."""

    async def refundable_invoice(self, invoice_id: str) -> RefundableInvoice:
        """The invoice with what was paid for it and what was given back since (the larger of its post-payment
        credit notes and its charge's refunds: a Dashboard refund makes no credit note). Read-only."""
        data = await self.get_invoice(invoice_id)
        invoice = mapping.invoice_from_stripe(data, await self._product_codes(data))
        currency = data["currency"].upper()
        refunded = data.get("post_payment_credit_notes_amount", 0)
        if data["charge"]:
            charge = checked(wire.RefundedCharge, await self._get(f"/v1/charges/{data['charge']}"))
            refunded = max(refunded, charge["amount_refunded"])
        deal_id = None
        if data["subscription"]:
            subscription = checked(wire.Subscription, await self._get(f"/v1/subscriptions/{data['subscription']}"))
            deal_id = subscription["metadata"].get(wire.META_DEAL_ID) or None
        if deal_id is None:
            deal_id = _deal_of(data["metadata"].get(wire.META_SAGA))
        return RefundableInvoice(
            invoice_id=invoice_id,
            invoice=invoice,
            status=data["status"],
            paid=mapping.money(data["amount_paid"], currency),
            refunded=mapping.money(refunded, currency),
            deal_id=deal_id,
        )

    async def credit_note_refund(self, credit_note_id: str) -> str | None:
        """The refund a credit note made (`refund_amount`), or None when it refunded nothing."""
        note = checked(wire.CreditNote, await self._get(f"/v1/credit_notes/{credit_note_id}"))
        return note.get("refund") or None

    async def billing_refund(self, refund_id: str) -> BillingRefund:
        """A refund with the invoice its charge paid and the credit note (and c2c key) that made it, if any."""
        refund = checked(wire.Refund, await self._get(f"/v1/refunds/{refund_id}"))
        return await self._described(refund)

    async def refunds_of_charge(self, charge_id: str) -> list[BillingRefund]:
        """Every refund of a charge (what a `charge.refunded` event says to look at), oldest first."""
        found: list[wire.Refund] = []
        query: dict[str, Any] = {"charge": charge_id, "limit": 100}
        while True:
            page = checked(wire.RefundList, await self._get("/v1/refunds", **query))
            found.extend(page["data"])
            if not page["has_more"] or not page["data"]:
                break
            query["starting_after"] = page["data"][-1]["id"]
        return [await self._described(refund) for refund in reversed(found)]

    async def refunds_created_since(self, since: datetime) -> list[BillingRefund]:
        """Refunds created from `since` on (the reconciler's read), each with its invoice and credit note."""
        refunds = [checked(wire.Refund, item) for item in await self._list_all("/v1/refunds", since)]
        return [await self._described(refund) for refund in refunds]

    async def billing_dispute(self, dispute_id: str) -> BillingDispute:
        """A dispute with the invoice its charge paid; `funds_withdrawn` from its balance transactions (what left
        the merchant's balance, net of any reinstatement)."""
        dispute = checked(wire.Dispute, await self._get(f"/v1/disputes/{dispute_id}"))
        charge = checked(wire.RefundedCharge, await self._get(f"/v1/charges/{dispute['charge']}"))
        return BillingDispute(
            dispute_id=dispute["id"],
            charge_id=dispute["charge"],
            invoice_id=charge.get("invoice") or None,
            amount=mapping.money(dispute["amount"], dispute["currency"].upper()),
            reason=dispute["reason"],
            status=dispute["status"],
            funds_withdrawn=sum(txn["amount"] for txn in dispute["balance_transactions"]) < 0,
            created_at=datetime.fromtimestamp(dispute["created"], UTC),
        )

    async def _described(self, refund: wire.Refund) -> BillingRefund:
        invoice_id = None
        if refund.get("charge"):
            charge = checked(wire.RefundedCharge, await self._get(f"/v1/charges/{refund['charge']}"))
            invoice_id = charge.get("invoice") or None
        note = await self._credit_note_of_refund(invoice_id, refund["id"]) if invoice_id else None
        created = refund.get("created")
        return BillingRefund(
            refund_id=refund["id"],
            invoice_id=invoice_id,
            amount=mapping.money(refund["amount"], refund["currency"].upper()),
            status=refund["status"],
            created_at=datetime.fromtimestamp(created or 0, UTC),
            credit_note_id=note["id"] if note else None,
            c2c_key=note["metadata"].get(wire.META_IDEMPOTENCY_KEY) if note else None,
        )

    async def _credit_note_of_refund(self, invoice_id: str, refund_id: str) -> wire.CreditNote | None:
        query: dict[str, Any] = {"invoice": invoice_id, "limit": 100}
        while True:
            page = checked(wire.CreditNoteList, await self._get("/v1/credit_notes", **query))
            for note in page["data"]:
                if note.get("refund") == refund_id:
                    return note
            if not page["has_more"] or not page["data"]:
                return None
            query["starting_after"] = page["data"][-1]["id"]

    # supplied by StripeBilling / StripeReads
    async def _get(self, path: str, **query: Any) -> Any:
        raise NotImplementedError

    async def get_invoice(self, invoice_id: str) -> wire.Invoice:
        raise NotImplementedError

    async def _product_codes(self, invoice: wire.Invoice) -> dict[str, str]:
        raise NotImplementedError

    async def _list_all(self, path: str, since: datetime, **filters: Any) -> list[Any]:
        raise NotImplementedError


def _deal_of(saga: str | None) -> str | None:
    """The deal of a saga or lifecycle workflow id an invoice names, or None."""
    if not saga:
        return None
    for parse in (ids.parse_subscription_id, ids.parse_saga_id):
        try:
            return parse(saga)[1]
        except ValueError:
            continue
    return None
