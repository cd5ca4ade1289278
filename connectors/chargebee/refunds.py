"""Refunds of paid invoices and disputes of payments on Chargebee.

A refund c2c makes is `POST /invoices/{id}/refund`: Chargebee issues a refundable credit note for the amount and
refunds it to the card at once (a transaction of type `refund` linked to the note and to the payment), what Stripe's
credit note with `refund_amount` does. So `issue_credit_note` / `create_credit_note` on a paid invoice refund
through here (client.py's `_issue`), for finance's Refund workflow and a cancellation's credit alike.

Exactly once: the call carries `chargebee-idempotency-key`; after Chargebee forgot it, the invoice's credit notes
are read first and the one whose `customer_notes` carry our mark (`c2c ref {digest of the key}`) is the refund made
before. The key itself, which names the workflow that made the refund (what reconciliation and the webhook need),
goes in the refund's internal `comment` on the credit note (`c2c key {key}`; comments are not shown to customers),
read back with `GET /comments`. More than is left to refund, or another currency: refused before anything is sent.

A refund made in Chargebee directly (its UI) has a credit note without our mark: `c2c_key` None. A dispute is
Chargebee's `GET /disputes/{id}` with the invoice its payment paid; a chargeback whose funds are withdrawn (status
`funds_withdrawn`, `in_review` or `lost`) is money gone, an inquiry or a won/cancelled dispute is not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canonical import Money
from canonical.refunds import BillingDispute, BillingRefund, RefundableInvoice
from connectors.chargebee import mapping, wire
from connectors.chargebee.calls import ChargebeeCalls
from connectors.chargebee.errors import SYSTEM, checked, path_id
from connectors.errors import BusinessRuleError, PermanentError

Record = dict[str, Any]
KEY_COMMENT = "c2c key "  # the internal comment a c2c refund leaves on its credit note: `c2c key {idempotency key}`
MAX_COMMENT = 300  # Chargebee's limit on `comment`
# Chargebee's transaction status in the words refunds are read in (Stripe's: failed / canceled moved no money).
REFUND_STATUS = {"success": "succeeded", "in_progress": "pending", "needs_attention": "pending", "voided": "canceled"}
FUNDS_WITHDRAWN = frozenset({"funds_withdrawn", "in_review", "lost"})
LIVE_NOTE = frozenset({"refund_due", "refunded"})  # a refundable note that gave (or owes) the money back


class ChargebeeRefunds(ChargebeeCalls):
    """Mixed into ChargebeeBilling, which supplies the calls (calls.py)."""

    async def refund(self, payment_id: str, amount: Money | None, *, idempotency_key: str) -> str:
        """Refund a payment (all that is left when `amount` is None) through the invoice it paid; the refund
        transaction's id. Chargebee refunds invoices, not bare payments, so this is `_refund_invoice`."""
        payment = await self._transaction(payment_id, "payment")
        currency = checked(wire.currency, payment, "currency_code")
        if amount is not None and amount.currency != currency:
            raise PermanentError(
                SYSTEM, "currency_mismatch", f"the refund is in {amount.currency}, {payment_id} in {currency}"
            )
        paid = [link for link in checked(wire.records_in, payment, "linked_invoices") if link.get("applied_amount")]
        if not paid:
            raise PermanentError(SYSTEM, "payment_not_refundable", f"{payment_id} paid no invoice")
        invoice = await self._invoice(str(paid[0].get("invoice_id")))
        note_id = await self._refund_invoice(
            invoice, None if amount is None else amount.amount, "other", idempotency_key
        )
        refund_id = await self.credit_note_refund(note_id)
        if refund_id is None:
            raise PermanentError(SYSTEM, "bad_response", f"credit note {note_id} refunded nothing")
        return refund_id

    async def _refund_invoice(self, invoice: Record, amount: int | None, reason: str, key: str) -> str:
        """Refund `amount` (None: all that is left) of a paid invoice to its card; the credit note's id. The note
        an earlier attempt made (our mark) is returned instead. More than is left: BusinessRuleError
        'credit_exceeds_invoice' naming what is left, nothing sent."""
        invoice_id = str(invoice["id"])
        mark = mapping.credit_mark(key)
        notes = await self._list("credit_notes", "credit_note", reference_invoice_id={"is": invoice_id})
        for note in notes:
            if note.get("customer_notes") == mark:
                return str(note["id"])
        paid = checked(wire.integer, invoice, "amount_paid")
        given_back = _given_back(notes)
        left = paid - given_back
        amount = left if amount is None else amount
        if not 0 < amount <= left:
            raise BusinessRuleError(
                SYSTEM,
                "credit_exceeds_invoice",
                f"{amount} is more than the {left} left to refund on {invoice_id} "
                f"(paid {paid}, given back {given_back})",
            )
        comment = KEY_COMMENT + key
        params: Record = {
            "refund_amount": amount,
            "credit_note": {"reason_code": reason if reason in wire.CREDIT_REASONS else "other"},
            "customer_notes": mark,
            "comment": comment if len(comment) <= MAX_COMMENT else None,
        }
        body = await self._request("POST", f"/invoices/{path_id(invoice_id)}/refund", params=params, key=key)
        return str(checked(wire.record, body, "credit_note")["id"])

    async def refundable_invoice(self, invoice_id: str) -> RefundableInvoice:
        """The invoice with what was paid for it and what was given back since (its refundable credit notes, refunded
        or owed). Read-only; PermanentError 'resource_missing' for an unknown id."""
        data = await self._invoice(invoice_id)
        subscription = None
        if isinstance(data.get("subscription_id"), str):
            path = f"/subscriptions/{path_id(data['subscription_id'])}"
            subscription = await self._get(path, "subscription", missing_ok=True)
        invoice = checked(mapping.invoice_from, data, await self._product_codes(data), subscription, None)
        notes = await self._list("credit_notes", "credit_note", reference_invoice_id={"is": invoice_id})
        currency = invoice.currency
        return RefundableInvoice(
            invoice_id=invoice_id,
            invoice=invoice,
            status=invoice.status,
            paid=Money(amount=checked(wire.integer, data, "amount_paid"), currency=currency),
            refunded=Money(amount=_given_back(notes), currency=currency),
            deal_id=wire.meta_data(subscription or {}).get(mapping.META_DEAL_ID),
        )

    async def credit_note_refund(self, credit_note_id: str) -> str | None:
        """The refund transaction a credit note made (its last successful `linked_refunds`), or None."""
        note = await self._get(f"/credit_notes/{path_id(credit_note_id)}", "credit_note", missing_ok=True)
        if note is None:
            raise PermanentError(SYSTEM, "resource_missing", f"no Chargebee credit note {credit_note_id!r}", status=404)
        refunds = [r for r in checked(wire.records_in, note, "linked_refunds") if r.get("txn_status") == "success"]
        return str(refunds[-1]["txn_id"]) if refunds else None

    async def billing_refund(self, refund_id: str) -> BillingRefund:
        """A refund transaction with its invoice and the credit note (and c2c key) that made it."""
        return await self._described(await self._transaction(refund_id, "refund"))

    async def refunds_of_charge(self, charge_id: str) -> list[BillingRefund]:
        """Every refund of a payment transaction (its `linked_refunds`), oldest first."""
        payment = await self._transaction(charge_id, "payment")
        links = sorted(checked(wire.records_in, payment, "linked_refunds"), key=lambda r: r.get("txn_date") or 0)
        return [await self.billing_refund(str(link.get("txn_id"))) for link in links]

    async def refunds_created_since(self, since: datetime) -> list[BillingRefund]:
        """Refund transactions dated from `since` on (the reconciler's read), each with its invoice and note."""
        rows = await self._list(
            "transactions", "transaction", type={"is": "refund"}, date={"after": int(since.timestamp()) - 1}
        )
        return [await self._described(row) for row in reversed(rows)]

    async def billing_dispute(self, dispute_id: str) -> BillingDispute:
        """A dispute with the invoice its payment paid; PermanentError 'resource_missing' for an unknown id."""
        dispute = await self._get(f"/disputes/{path_id(dispute_id)}", "dispute", missing_ok=True)
        if dispute is None:
            raise PermanentError(SYSTEM, "resource_missing", f"no Chargebee dispute {dispute_id!r}", status=404)
        payment_id = checked(wire.text, dispute, "transaction_id")
        payment = await self._transaction(payment_id, "payment")
        invoices = [str(link.get("invoice_id")) for link in checked(wire.records_in, payment, "linked_invoices")]
        status = checked(wire.text, dispute, "status")
        return BillingDispute(
            dispute_id=dispute["id"],
            charge_id=payment_id,
            invoice_id=invoices[0] if invoices else None,
            amount=Money(
                amount=checked(wire.integer, dispute, "amount"),
                currency=checked(wire.currency, dispute, "currency_code"),
            ),
            reason=str(dispute.get("reason") or "general"),
            status=status,
            funds_withdrawn=dispute.get("type") == "chargeback" and status in FUNDS_WITHDRAWN,
            created_at=_moment(dispute, "created_at"),
        )

    async def saga_of_invoice(self, invoice_id: str) -> str | None:
        """The saga whose subscription the invoice bills (the subscription's `c2c_saga`): it names the deal's CRM, which
        a refund webhook needs. None for an invoice c2c did not make."""
        current = await self._invoice(invoice_id)
        if not isinstance(current.get("subscription_id"), str):
            return None
        subscription = await self._get(
            f"/subscriptions/{path_id(current['subscription_id'])}", "subscription", missing_ok=True
        )
        return wire.meta_data(subscription or {}).get(mapping.META_SAGA)

    async def _described(self, refund: Record) -> BillingRefund:
        """The canonical refund: its invoice and credit note from `linked_credit_notes` (a refund of a bare payment:
        the invoice that payment paid), c2c's key from the note's comment when the note carries our mark."""
        notes = list(checked(wire.records_in, refund, "linked_credit_notes"))
        invoice_id = (
            str(notes[0]["cn_reference_invoice_id"]) if notes and notes[0].get("cn_reference_invoice_id") else None
        )
        if invoice_id is None and isinstance(refund.get("refunded_txn_id"), str):
            payment = await self._transaction(refund["refunded_txn_id"], "payment")
            paid = list(checked(wire.records_in, payment, "linked_invoices"))
            invoice_id = str(paid[0]["invoice_id"]) if paid else None
        note_id = str(notes[0]["cn_id"]) if notes and notes[0].get("cn_id") else None
        return BillingRefund(
            refund_id=refund["id"],
            invoice_id=invoice_id,
            amount=Money(
                amount=checked(wire.integer, refund, "amount"), currency=checked(wire.currency, refund, "currency_code")
            ),
            status=REFUND_STATUS.get(str(refund["status"]), "failed"),
            created_at=_moment(refund, "date"),
            credit_note_id=note_id,
            c2c_key=await self._key_of(note_id) if note_id else None,
        )

    async def _key_of(self, credit_note_id: str) -> str | None:
        """c2c's key on a credit note it made: the `c2c key …` comment (the mark when the comment is missing or was
        too long); None for a note someone made in Chargebee."""
        note = await self._get(f"/credit_notes/{path_id(credit_note_id)}", "credit_note", missing_ok=True)
        mark = (note or {}).get("customer_notes")
        if not isinstance(mark, str) or not mark.startswith(mapping.CREDIT_MARK):
            return None
        comments = await self._list("comments", "comment", entity_type="credit_note", entity_id=credit_note_id)
        for comment in comments:
            text = comment.get("notes")
            if isinstance(text, str) and text.startswith(KEY_COMMENT):
                return text[len(KEY_COMMENT) :]
        return mark

    async def _transaction(self, transaction_id: str, kind: str) -> Record:
        found = await self._get(f"/transactions/{path_id(transaction_id)}", "transaction", missing_ok=True)
        if found is None:
            raise PermanentError(SYSTEM, "resource_missing", f"no Chargebee transaction {transaction_id!r}", status=404)
        if found.get("type") != kind:
            raise PermanentError(
                SYSTEM, "wrong_transaction", f"{transaction_id} is a {found.get('type')}, not a {kind}"
            )
        return found


def _given_back(notes: list[Record]) -> int:
    """What refundable credit notes gave back (or owe) on an invoice: all it can no longer refund."""
    return sum(
        int(n.get("total") or 0) for n in notes if n.get("type") == "refundable" and n.get("status") in LIVE_NOTE
    )


def _moment(row: Record, name: str) -> datetime:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PermanentError(SYSTEM, "bad_response", f"{row.get('id', '?')}.{name} is not a unix time")
    return datetime.fromtimestamp(value, UTC)
