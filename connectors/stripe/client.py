"""`StripeBilling`: the BillingSystem role over Stripe's API v1, every POST keyed for idempotency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from canonical import Contract, Customer, Invoice, Money, Payment, Price, Subscription
from connectors.errors import BusinessRuleError, PermanentError
from connectors.kit import json_body, send
from connectors.stripe import mapping, wire
from connectors.stripe.amendments import StripeAmendments
from connectors.stripe.checks import checked
from connectors.stripe.errors import SYSTEM, classify
from connectors.stripe.forms import encode_form
from connectors.stripe.meters import StripeMeters
from connectors.stripe.reads import StripeReads
from connectors.stripe.refunds import StripeRefunds
from connectors.stripe.renewals import StripeRenewals
from connectors.stripe.webhooks import PaymentNotice


class StripeBilling(StripeAmendments, StripeRenewals, StripeReads, StripeRefunds, StripeMeters):
    """Billing on Stripe. The caller owns `http` (and its timeouts); keys come from the caller, never random."""

    system = SYSTEM

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str, default_payment_method: str = "pm_card_visa"
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._default_payment_method = default_payment_method
        # Test mode only (C2C_STRIPE_TEST_CLOCK): new customers live on this Stripe test clock, so their
        # subscriptions renew as it advances (tests, the demo and the chaos run).
        self.test_clock: str | None = None

    # -- generic helpers -------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        form: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._api_key}", "Stripe-Version": wire.API_VERSION}
        content = None
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = urlencode(encode_form(form))
        params: list[tuple[str, str | int | float | bool | None]] = list(encode_form(query)) if query else []
        request = self._http.build_request(
            method,
            f"{self._base_url}{path}",
            params=params or None,
            content=content,
            headers=headers,
        )
        response = await send(self._http, SYSTEM, request, classify)
        return json_body(SYSTEM, response)

    async def _post(self, path: str, form: dict[str, Any], *, idempotency_key: str) -> Any:
        return await self._call("POST", path, form=form, idempotency_key=idempotency_key)

    async def _get(self, path: str, **query: Any) -> Any:
        return await self._call("GET", path, query=query or None)

    # -- BillingSystem ---------------------------------------------------------------------------

    async def create_customer(self, golden_id: str, legal_name: str, *, idempotency_key: str) -> str:
        """Lookup by golden id, then create with identity only (details follow in upsert_customer)."""
        found = await self.search_customers_by_golden_id(golden_id)
        if found:
            return str(found[0]["id"])
        params = {
            "name": legal_name,
            "metadata": {wire.META_GOLDEN_ID: golden_id},
            "payment_method": self._default_payment_method,
            "invoice_settings": {"default_payment_method": self._default_payment_method},
        }
        if self.test_clock is not None:
            params["test_clock"] = self.test_clock
        created = checked(wire.Created, await self._post("/v1/customers", params, idempotency_key=idempotency_key))
        return created["id"]

    async def upsert_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        """Update the customer we already know (external_refs['stripe'], else the one carrying its golden id),
        else create it with a card.

        The lookup by golden id finds the customer of an earlier attempt whose answer was lost, also after Stripe
        forgot its key (24 h; Stripe's search lags writes by about a minute, well inside those 24 hours)."""
        params = mapping.customer_params(customer)
        existing = customer.external_refs.get(SYSTEM)
        key = idempotency_key
        if not existing and customer.golden_id:
            found = await self.search_customers_by_golden_id(customer.golden_id)
            # Another request than the create this key may have been used for: a key of its own.
            existing, key = (found[0]["id"], f"{idempotency_key}:update") if found else (None, key)
        if existing:
            updated = await self._post(f"/v1/customers/{existing}", params, idempotency_key=key)
            return checked(wire.Created, updated)["id"]
        params["payment_method"] = self._default_payment_method
        params["invoice_settings"] = {"default_payment_method": self._default_payment_method}
        if self.test_clock is not None:
            params["test_clock"] = self.test_clock
        created = checked(wire.Created, await self._post("/v1/customers", params, idempotency_key=idempotency_key))
        return created["id"]

    async def ensure_price(self, price: Price, product_name: str, *, idempotency_key: str) -> str:
        """Find the price by lookup key; else create it (and the product code's shared product, and for a metered
        price its meter)."""
        found = await self._price_by_lookup_key(price.lookup_key)
        if found:
            return found
        meter_id = None
        if price.meter is not None:
            meter_id = await self.ensure_meter(price.meter, product_name, idempotency_key=f"{idempotency_key}:meter")
        product = {
            "id": mapping.product_id(price.product_code),
            "name": product_name,
            "metadata": {wire.META_PRODUCT_CODE: price.product_code},
        }
        try:
            await self._post("/v1/products", product, idempotency_key=f"{idempotency_key}:product")
        except PermanentError as exc:
            if exc.code != "resource_already_exists":  # another price of this product created it
                raise
        try:
            created = await self._post(
                "/v1/prices", mapping.price_params(price, meter_id), idempotency_key=idempotency_key
            )
        except PermanentError as exc:
            # Lost a race for the lookup key: the winner's price is the one we want.
            found = await self._price_by_lookup_key(price.lookup_key) if exc.code == "resource_already_exists" else None
            if found is None:
                raise
            return found
        return checked(wire.Created, created)["id"]

    async def _price_by_lookup_key(self, lookup_key: str) -> str | None:
        listed = checked(wire.PriceList, await self._get("/v1/prices", lookup_keys=[lookup_key]))
        return listed["data"][0]["id"] if listed["data"] else None

    async def create_subscription(
        self, customer_id: str, contract: Contract, price_ids: dict[str, str], *, idempotency_key: str
    ) -> Subscription:
        """Subscription billed by `send_invoice`: Stripe creates its first invoice as a draft, which we hold
        (auto_advance off: Stripe would finalize it in about an hour) until `create_invoice` completes it."""
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": mapping.subscription_items(contract, price_ids),
            "collection_method": wire.COLLECTION_METHOD,
            "days_until_due": wire.DAYS_UNTIL_DUE,
            "metadata": {
                wire.META_DEAL_ID: contract.deal_id,
                wire.META_GOLDEN_ID: contract.golden_customer_id,
                wire.META_LEGAL_ENTITY: contract.legal_entity,
            },
        }
        cancel_at = mapping.term_end(contract)
        if cancel_at > datetime.now(UTC).timestamp():
            params["cancel_at"] = cancel_at
        existing = await self._subscription_of_deal(customer_id, contract.deal_id)
        if existing is not None:
            # Stripe forgets idempotency keys after 24 hours; a saga retried later must not subscribe twice. The
            # attempt that subscribed may have lost its answer before holding the draft: hold it if still needed.
            first = existing["latest_invoice"]
            if isinstance(first, str):
                draft = await self.get_invoice(first)
                if draft["status"] == wire.INVOICE_DRAFT and draft["auto_advance"]:
                    await self._hold_draft(first, idempotency_key)
            return mapping.subscription_from_stripe(existing, contract, price_ids)
        data = checked(
            wire.Subscription, await self._post("/v1/subscriptions", params, idempotency_key=idempotency_key)
        )
        first = data["latest_invoice"]
        if isinstance(first, str):
            await self._hold_draft(first, idempotency_key)
        return mapping.subscription_from_stripe(data, contract, price_ids)

    async def _hold_draft(self, invoice_id: str, subscription_key: str) -> None:
        """Turn the first invoice's auto_advance off, so Stripe leaves the draft for `create_invoice` to complete."""
        await self._post(
            f"/v1/invoices/{invoice_id}", {"auto_advance": False}, idempotency_key=f"{subscription_key}:hold"
        )

    async def _subscription_of_deal(self, customer_id: str, deal_id: str) -> wire.Subscription | None:
        listed = await self._get("/v1/subscriptions", customer=customer_id, status="all", limit=100)
        for subscription in checked(wire.SubscriptionList, listed)["data"]:
            if subscription["metadata"].get(wire.META_DEAL_ID) == deal_id:
                return subscription
        return None

    async def create_invoice(
        self, customer_id: str, subscription_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        """Complete the subscription's first invoice (the draft Stripe created with it) instead of creating one.

        Its lines must bill the canonical lines (else PermanentError 'invoice_mismatch'); we add the tax line,
        unless an earlier attempt did, and our metadata (ids, dates, saga). Stripe's line descriptions stay."""
        subscription = checked(
            wire.Subscription, await self._get(f"/v1/subscriptions/{subscription_id}", expand=["latest_invoice"])
        )
        draft = subscription["latest_invoice"]
        if not isinstance(draft, dict):
            raise PermanentError(SYSTEM, "invoice_missing", f"{subscription_id} has no first invoice to complete")
        if draft["status"] != wire.INVOICE_DRAFT:
            raise PermanentError(
                SYSTEM, "invoice_not_editable", f"{draft['id']} is {draft['status']}; only a draft can be completed"
            )
        return await self._complete_draft(draft, customer_id, invoice, idempotency_key)

    async def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        """Finalize the draft; one an earlier attempt finalized (its answer lost, the key since forgotten) is done."""
        try:
            answer = await self._post(
                f"/v1/invoices/{invoice_id}/finalize", {"auto_advance": False}, idempotency_key=idempotency_key
            )
        except PermanentError:
            # Stripe refuses to finalize a non-draft: judge the invoice as it is now.
            data = await self.get_invoice(invoice_id)
            if data["status"] not in (*wire.INVOICE_UNPAID, wire.INVOICE_PAID):
                raise
        else:
            data = checked(wire.Invoice, answer)
        return mapping.invoice_from_stripe(data, await self._product_codes(data))

    async def _product_codes(self, invoice: wire.Invoice) -> dict[str, str]:
        """Product code by product id, read from the product for lines whose price carries none."""
        missing = {
            item["price"]["product"]
            for item in invoice["lines"]["data"]
            if item["price"] is not None and mapping.product_code_of(item, {}) is None
        }
        codes: dict[str, str] = {}
        for product_id in sorted(missing):
            product = checked(wire.Product, await self._get(f"/v1/products/{product_id}"))
            code = product["metadata"].get(wire.META_PRODUCT_CODE)
            if code:
                codes[product_id] = code
        return codes

    async def collect_payment(self, invoice_id: str, *, idempotency_key: str) -> Payment:
        """Pay the invoice with the customer's default payment method.

        A card settles at once (SUCCEEDED); a bank debit answers PENDING and settles later (see
        `payment_for_invoice`). An invoice already paid, or whose payment is still processing, yields that payment."""
        try:
            paid = checked(
                wire.Invoice, await self._post(f"/v1/invoices/{invoice_id}/pay", {}, idempotency_key=idempotency_key)
            )
        except PermanentError as exc:
            if exc.code not in (wire.ERROR_ALREADY_PAID, wire.ERROR_PAYMENT_PROCESSING):
                raise
            paid = await self.get_invoice(invoice_id)
        return await self._payment_of(paid)

    async def payment_for_invoice(self, invoice_id: str) -> Payment:
        """The invoice's payment as Stripe reports it now: SUCCEEDED (with fee), PENDING or FAILED.

        What to call when a webhook says the payment changed: the event is a notification, the API the truth.
        An invoice with no payment attempt raises PermanentError(code='payment_not_attempted').
        A refunded payment stays SUCCEEDED with the amount received and the fee Stripe kept (Stripe returns no
        fee on a refund): the money did arrive, and the invoice stays paid. The refund is its own record (the id
        `refund` returned; `charge.refunded` events; the charge's `amount_refunded`), not part of this Payment."""
        return await self._payment_of(await self.get_invoice(invoice_id))

    async def _payment_of(self, invoice: wire.Invoice) -> Payment:
        intent = None
        if invoice["payment_intent"]:
            path = f"/v1/payment_intents/{invoice['payment_intent']}"
            intent = checked(wire.PaymentIntent, await self._get(path, expand=["charges.data.balance_transaction"]))
        return mapping.payment_from_stripe(invoice, intent)

    async def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Void an open or uncollectible invoice; a one-off draft is deleted, a subscription's draft (Stripe refuses
        to delete those) is finalized without collection, then voided. Already void or deleted counts as done."""
        try:
            current = await self.get_invoice(invoice_id)
        except PermanentError as exc:
            if exc.code == "resource_missing":
                return  # a draft deleted on an earlier attempt
            raise
        status = current["status"]
        if status == "draft" and not current["subscription"]:
            await self._call("DELETE", f"/v1/invoices/{invoice_id}", idempotency_key=f"{idempotency_key}:delete")
            return
        if status == "draft":
            finalized = checked(
                wire.Invoice,
                await self._post(
                    f"/v1/invoices/{invoice_id}/finalize",
                    {"auto_advance": False},
                    idempotency_key=f"{idempotency_key}:finalize",
                ),
            )
            status = finalized["status"]
        if status == wire.INVOICE_VOID:
            return
        if status not in wire.INVOICE_UNPAID:
            raise PermanentError(
                SYSTEM, "invoice_not_voidable", f"{invoice_id} is {status}; it can no longer be voided"
            )
        await self._post(f"/v1/invoices/{invoice_id}/void", {}, idempotency_key=idempotency_key)

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None:
        """Void its first invoice if still a draft (never to be issued), then cancel; repeatable."""
        subscription = checked(
            wire.Subscription, await self._get(f"/v1/subscriptions/{subscription_id}", expand=["latest_invoice"])
        )
        first = subscription["latest_invoice"]
        if isinstance(first, dict) and first["status"] == wire.INVOICE_DRAFT:
            await self.void_invoice(first["id"], idempotency_key=f"{idempotency_key}:void-draft")
        if subscription["status"] != "canceled":
            # DELETE ignores Idempotency-Key at Stripe; sent anyway so request logs tie it to the saga step.
            await self._call("DELETE", f"/v1/subscriptions/{subscription_id}", idempotency_key=idempotency_key)

    async def refund(self, payment_id: str, amount: Money | None, *, idempotency_key: str) -> str:
        """Refund a payment intent, in full when `amount` is None; returns the refund id.

        Exactly once even after Stripe forgot the key (24 h): the key goes into the refund's metadata (`c2c_key`)
        and the payment's refunds are read before creating one."""
        existing = await self._refund_by_key(payment_id, idempotency_key)
        if existing is not None:
            return existing["id"]
        params: dict[str, Any] = {
            "payment_intent": payment_id,
            "metadata": {wire.META_IDEMPOTENCY_KEY: idempotency_key},
        }
        if amount is not None:
            intent = checked(wire.PaymentIntent, await self._get(f"/v1/payment_intents/{payment_id}"))
            self._same_currency(amount, intent["currency"], payment_id)
            params["amount"] = amount.amount
        created = await self._post("/v1/refunds", params, idempotency_key=idempotency_key)
        return checked(wire.Created, created)["id"]

    async def _refund_by_key(self, payment_id: str, idempotency_key: str) -> wire.Refund | None:
        """The payment's refund created with this key (metadata `c2c_key`), reading every page."""
        query: dict[str, Any] = {"payment_intent": payment_id, "limit": 100}
        while True:
            page = checked(wire.RefundList, await self._get("/v1/refunds", **query))
            for refund in page["data"]:
                if refund["metadata"].get(wire.META_IDEMPOTENCY_KEY) == idempotency_key:
                    return refund
            if not page["has_more"] or not page["data"]:
                return None
            query["starting_after"] = page["data"][-1]["id"]

    async def create_credit_note(self, invoice_id: str, amount: Money, reason: str, *, idempotency_key: str) -> str:
        """Credit note for `amount`; `reason` goes to the memo, and to Stripe's reason when it is one of its.

        Exactly once, like `credit_invoice`: a note carrying this key in its metadata is returned, not doubled."""
        invoice = await self.get_invoice(invoice_id)
        self._same_currency(amount, invoice["currency"], invoice_id)
        existing = await self._credit_note_by_key(invoice_id, idempotency_key)
        if existing is not None:
            return existing["id"]
        return await self._issue_credit_note(invoice_id, amount.amount, reason, idempotency_key)

    # -- dunning and the undo after the pivot ----------------------------------------------------

    async def send_invoice(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Send the finalized invoice to the customer (Stripe emails it, `invoice.sent`): the saga's pivot.

        Already paid: nothing to ask for, done. Within Stripe's 24 h the key replays; a retry after that sends
        the email again (a reminder, harmless). A draft or void invoice raises PermanentError('invoice_not_open')."""
        invoice = await self.get_invoice(invoice_id)
        status = invoice["status"]
        if status == wire.INVOICE_PAID:
            return
        if status not in wire.INVOICE_UNPAID:
            raise PermanentError(SYSTEM, "invoice_not_open", f"{invoice_id} is {status}; it cannot be sent")
        await self._post(f"/v1/invoices/{invoice_id}/send", {}, idempotency_key=idempotency_key)

    async def mark_uncollectible(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Write an open invoice off as bad debt (uncollectible; Stripe still takes a late payment). Repeatable:
        already uncollectible is done. Paid raises BusinessRuleError('invoice_paid'); void or draft PermanentError."""
        if _written_off(await self.get_invoice(invoice_id)):
            return
        try:
            await self._post(f"/v1/invoices/{invoice_id}/mark_uncollectible", {}, idempotency_key=idempotency_key)
        except PermanentError:
            # Refused because it moved meanwhile (marked by an earlier attempt, paid, voided): judge it again.
            if _written_off(await self.get_invoice(invoice_id)):
                return
            raise

    async def credit_invoice(self, invoice_id: str, reason: str, *, idempotency_key: str) -> str | None:
        """The undo after the pivot: a credit note for all that is still due on an open or uncollectible invoice
        (which settles it: Stripe marks it paid with nothing charged); returns its id. None when nothing is due,
        or the invoice is a draft (the caller voids drafts) or void.

        Exactly once even after Stripe forgot the key (24 h): the key goes into the note's metadata (`c2c_key`)
        and the invoice's notes are read before creating. A paid invoice raises BusinessRuleError('invoice_paid'):
        refunds are finance's decision, never automatic; so does a payment still processing
        ('payment_processing'), which may yet pay it."""
        existing = await self._credit_note_by_key(invoice_id, idempotency_key)
        if existing is not None:
            return existing["id"]
        invoice = await self.get_invoice(invoice_id)
        if invoice["status"] == wire.INVOICE_PAID and invoice["amount_paid"] > 0:
            raise BusinessRuleError(SYSTEM, "invoice_paid", f"{invoice_id} is paid; refunding it is finance's decision")
        if invoice["status"] not in wire.INVOICE_UNPAID or invoice["amount_remaining"] == 0:
            return None
        if invoice["payment_intent"]:
            intent = checked(wire.PaymentIntent, await self._get(f"/v1/payment_intents/{invoice['payment_intent']}"))
            if intent["status"] == wire.INTENT_PROCESSING:
                raise BusinessRuleError(
                    SYSTEM, "payment_processing", f"a payment of {invoice_id} is still processing and may pay it"
                )
        return await self._issue_credit_note(invoice_id, invoice["amount_remaining"], reason, idempotency_key)

    async def _issue_credit_note(self, invoice_id: str, amount: int, reason: str, idempotency_key: str) -> str:
        params = {
            "invoice": invoice_id,
            "amount": amount,
            "reason": reason if reason in wire.CREDIT_NOTE_REASONS else None,
            "memo": reason,
            "metadata": {wire.META_IDEMPOTENCY_KEY: idempotency_key},
        }
        created = await self._post("/v1/credit_notes", params, idempotency_key=idempotency_key)
        return checked(wire.Created, created)["id"]

    async def _credit_note_by_key(self, invoice_id: str, idempotency_key: str) -> wire.CreditNote | None:
        """The invoice's credit note created with this key (metadata `c2c_key`), reading every page."""
        query: dict[str, Any] = {"invoice": invoice_id, "limit": 100}
        while True:
            page = checked(wire.CreditNoteList, await self._get("/v1/credit_notes", **query))
            for note in page["data"]:
                if note["metadata"].get(wire.META_IDEMPOTENCY_KEY) == idempotency_key:
                    return note
            if not page["has_more"] or not page["data"]:
                return None
            query["starting_after"] = page["data"][-1]["id"]

    # -- webhooks --------------------------------------------------------------------------------

    async def complete_notice(self, notice: PaymentNotice) -> PaymentNotice:
        """The notice with what its event did not carry read from the API: the invoice of an intent, the saga
        (invoice metadata `c2c_saga`) and the intent of an invoice. Fields stay None when Stripe has none (an
        intent that pays no invoice, an invoice no saga made); the invoice is the truth for the saga."""
        invoice_id, intent_id, saga_id = notice.invoice_id, notice.payment_intent_id, notice.saga_id
        if invoice_id is None and intent_id is not None:
            intent = checked(wire.PaymentIntent, await self._get(f"/v1/payment_intents/{intent_id}"))
            invoice_id = intent.get("invoice")
        if invoice_id is not None and (saga_id is None or intent_id is None):
            invoice = await self.get_invoice(invoice_id)
            saga_id = invoice["metadata"].get(wire.META_SAGA) or saga_id
            intent_id = intent_id or invoice["payment_intent"]
        return notice.model_copy(update={"invoice_id": invoice_id, "payment_intent_id": intent_id, "saga_id": saga_id})

    @staticmethod
    def _same_currency(amount: Money, stripe_currency: str, object_id: str) -> None:
        if amount.currency != stripe_currency.upper():
            raise PermanentError(
                SYSTEM, "currency_mismatch", f"{amount} does not match {object_id} in {stripe_currency.upper()}"
            )


def _written_off(invoice: wire.Invoice) -> bool:
    """True when already uncollectible, False while open; otherwise it can no longer be written off."""
    status, invoice_id = invoice["status"], invoice["id"]
    if status == wire.INVOICE_UNCOLLECTIBLE:
        return True
    if status == wire.INVOICE_OPEN:
        return False
    if status == wire.INVOICE_PAID:
        raise BusinessRuleError(SYSTEM, "invoice_paid", f"{invoice_id} is paid; there is no debt to write off")
    code = "invoice_void" if status == wire.INVOICE_VOID else "invoice_not_open"
    raise PermanentError(SYSTEM, code, f"{invoice_id} is {status}; only an open invoice can be written off")
