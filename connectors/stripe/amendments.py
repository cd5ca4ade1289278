"""Amendments of a running subscription: item changes prorated by Stripe, moving its term end, credit notes.

`update_subscription` sets the items to absolute quantities (`POST /v1/subscriptions/{id}` with
`proration_behavior=create_prorations` and `proration_date` = the amendment's effective time): Stripe makes
pending proration items that the next renewal invoice bills (see `renewals`). A repeat reads the subscription
first and sends nothing when it already has the lines, so even a retry whose key Stripe forgot (24 h) prorates
once. `set_term_end` sets `cancel_at` (a period end: no proration). `issue_credit_note` gives money back on one
invoice: refunded when it is paid, else taken off what is due; its key also goes into the note's metadata, so a
retry after Stripe forgot the key finds the note instead of crediting twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canonical import CreditNote, DealLine, SubscriptionEnd
from connectors.errors import BusinessRuleError, PermanentError
from connectors.stripe import mapping, wire
from connectors.stripe.checks import checked
from connectors.stripe.errors import SYSTEM


class StripeAmendments:
    """Mixed into StripeBilling, which supplies the authenticated, classified `_get` / `_post` and the lookups."""

    async def subscription_end(self, subscription_id: str) -> SubscriptionEnd | None:
        """`ended_at` of a canceled subscription (its `customer.subscription.deleted` webhook says "look again")."""
        data = checked(wire.Subscription, await self._get(f"/v1/subscriptions/{subscription_id}"))
        ended_at = data.get("ended_at")
        if data["status"] != wire.SUBSCRIPTION_CANCELED or ended_at is None:
            return None
        return SubscriptionEnd(
            subscription_id=subscription_id,
            deal_id=data["metadata"].get(wire.META_DEAL_ID) or None,
            ended_at=datetime.fromtimestamp(ended_at, UTC),
        )

    async def _get(self, path: str, **query: Any) -> Any:
        raise NotImplementedError

    async def _post(self, path: str, form: dict[str, Any], *, idempotency_key: str) -> Any:
        raise NotImplementedError

    async def _credit_note_by_key(self, invoice_id: str, idempotency_key: str) -> wire.CreditNote | None:
        raise NotImplementedError

    async def update_subscription(
        self,
        subscription_id: str,
        lines: list[DealLine],
        price_ids: dict[str, str],
        effective: datetime,
        *,
        idempotency_key: str,
    ) -> None:
        """Set the subscription's items to exactly `lines` from `effective` (Stripe prorates the rest of the
        period on the next invoice). Items of products no longer in `lines` are deleted; a product whose price id
        changed loses its item and gets one with the new price. Nothing to change: nothing is sent."""
        subscription = checked(wire.Subscription, await self._get(f"/v1/subscriptions/{subscription_id}"))
        if subscription["status"] == wire.SUBSCRIPTION_CANCELED:
            raise PermanentError(SYSTEM, "subscription_canceled", f"{subscription_id} is canceled; it cannot change")
        changes = await self._item_changes(subscription, _wanted(lines, price_ids), price_ids)
        if not changes:
            return
        params: dict[str, Any] = {
            "items": changes,
            "proration_behavior": wire.PRORATION_BEHAVIOR,
            "proration_date": int(effective.timestamp()),
        }
        await self._post(f"/v1/subscriptions/{subscription_id}", params, idempotency_key=idempotency_key)

    async def _item_changes(
        self, subscription: wire.Subscription, wanted: dict[str, tuple[str, int]], price_ids: dict[str, str]
    ) -> list[wire.SubscriptionItemChange]:
        """The `items[n]` that turn the subscription's items into `wanted` (product code -> price id, quantity)."""
        codes = {price_id: code for code, price_id in price_ids.items()}
        changes: list[wire.SubscriptionItemChange] = []
        kept: set[str] = set()
        for item in subscription["items"]["data"]:
            price = item["price"]
            if mapping.is_metered(price):
                continue  # usage lines stay as they are: amendments change quantities of priced lines
            code = price["metadata"].get(wire.META_PRODUCT_CODE) or codes.get(price["id"])
            if code is None:
                product = checked(wire.Product, await self._get(f"/v1/products/{price['product']}"))
                code = product["metadata"].get(wire.META_PRODUCT_CODE)
            target = wanted.get(code) if code is not None else None
            if code is None or target is None or code in kept:
                changes.append({"id": item["id"], "deleted": True})
            elif target[0] != price["id"]:
                changes.append({"id": item["id"], "deleted": True})
            else:
                kept.add(code)
                if item["quantity"] != target[1]:
                    changes.append({"id": item["id"], "quantity": target[1]})
        for code, (price_id, quantity) in wanted.items():
            if code not in kept:
                changes.append({"price": price_id, "quantity": quantity})
        return changes

    async def set_term_end(self, subscription_id: str, end: datetime | None, *, idempotency_key: str) -> None:
        """Stripe's `cancel_at` = `end` (the subscription ends there instead of renewing), or cleared for None;
        `cancel_at_period_end` off either way. Repeatable: the same value set again changes nothing."""
        params: dict[str, Any] = {
            "cancel_at": "" if end is None else int(end.timestamp()),
            "cancel_at_period_end": False,
        }
        await self._post(f"/v1/subscriptions/{subscription_id}", params, idempotency_key=idempotency_key)

    async def issue_credit_note(self, credit: CreditNote, *, idempotency_key: str) -> CreditNote:
        """One Stripe credit note on `credit.invoice_id`: a custom line per credit line and one for the tax, all
        refunded (`refund_amount`) when the invoice is paid, else taken off what is due. Exactly once: a note of
        the invoice carrying this key (metadata `c2c_key`) is returned instead. More than the invoice can still be
        credited raises BusinessRuleError 'credit_exceeds_invoice'."""
        invoice_id = credit.invoice_id
        existing = await self._credit_note_by_key(invoice_id, idempotency_key)
        if existing is not None:
            return _with_ref(credit, existing["id"], existing.get("created"))
        invoice = checked(wire.Invoice, await self._get(f"/v1/invoices/{invoice_id}"))
        if invoice["currency"].upper() != credit.currency:
            raise PermanentError(
                SYSTEM, "currency_mismatch", f"{credit.total} does not match {invoice_id} in {invoice['currency']}"
            )
        total = credit.total.amount
        paid = invoice["status"] == wire.INVOICE_PAID
        creditable = invoice["amount_paid"] - invoice.get("post_payment_credit_notes_amount", 0)
        if not paid:
            creditable = invoice["amount_remaining"]
        if total > creditable:
            raise _exceeds(invoice_id, total, creditable)
        lines: list[dict[str, Any]] = [
            {
                "type": "custom_line_item",
                "description": line.description,
                "quantity": 1,
                "unit_amount": line.amount.amount,
            }
            for line in credit.lines
            if line.amount.amount > 0
        ]
        if credit.tax.amount > 0:
            lines.append(
                {"type": "custom_line_item", "description": "Tax", "quantity": 1, "unit_amount": credit.tax.amount}
            )
        params: dict[str, Any] = {
            "invoice": invoice_id,
            "lines": lines,
            "reason": credit.reason if credit.reason in wire.CREDIT_NOTE_REASONS else None,
            "memo": credit.reason,
            "metadata": {wire.META_IDEMPOTENCY_KEY: idempotency_key},
        }
        if paid and invoice["payment_intent"]:
            params["refund_amount"] = total
        try:
            created = await self._post("/v1/credit_notes", params, idempotency_key=idempotency_key)
        except (PermanentError, BusinessRuleError) as exc:
            if exc.code == wire.ERROR_AMOUNT_TOO_LARGE:
                raise _exceeds(invoice_id, total, None) from exc
            raise
        made = checked(wire.CreditNote, created)
        return _with_ref(credit, made["id"], made["created"])


def _wanted(lines: list[DealLine], price_ids: dict[str, str]) -> dict[str, tuple[str, int]]:
    """Product code -> (price id, quantity); lines of one product code add up, as their one item does."""
    wanted: dict[str, tuple[str, int]] = {}
    for line in lines:
        try:
            price_id = price_ids[line.product_code]
        except KeyError:
            raise PermanentError(SYSTEM, "price_not_mapped", f"no price id for {line.product_code}") from None
        quantity = wanted.get(line.product_code, (price_id, 0))[1]
        wanted[line.product_code] = (price_id, quantity + line.quantity)
    return wanted


def _with_ref(credit: CreditNote, note_id: str, created: int | None = None) -> CreditNote:
    """The credit with Stripe's id and creation time (the source time of its credit_memo.applied event)."""
    at = datetime.fromtimestamp(created, UTC) if created is not None else None
    return credit.model_copy(update={"external_refs": {**credit.external_refs, SYSTEM: note_id}, "created_at": at})


def _exceeds(invoice_id: str, total: int, creditable: int | None) -> BusinessRuleError:
    left = "" if creditable is None else f" (only {creditable} can still be credited)"
    return BusinessRuleError(SYSTEM, "credit_exceeds_invoice", f"a credit of {total} exceeds {invoice_id}{left}")
