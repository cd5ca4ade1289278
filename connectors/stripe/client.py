"""`StripeBilling`: the BillingSystem role over Stripe's API v1, every POST keyed for idempotency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlencode

import httpx

from canonical import Contract, Customer, Invoice, Money, Payment, Price, Subscription
from connectors.errors import PermanentError
from connectors.kit import json_body, send
from connectors.stripe import mapping, wire
from connectors.stripe.errors import SYSTEM, classify
from connectors.stripe.forms import encode_form


class StripeBilling:
    """Billing on Stripe. The caller owns `http` (and its timeouts); keys come from the caller, never random."""

    system = SYSTEM

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str, default_payment_method: str = "pm_card_visa"
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._default_payment_method = default_payment_method

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
        created = await self._post("/v1/customers", params, idempotency_key=idempotency_key)
        return str(created["id"])

    async def upsert_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        """Update the customer we already know (external_refs['stripe']), else create it with a card."""
        params = mapping.customer_params(customer)
        existing = customer.external_refs.get(SYSTEM)
        if existing:
            updated = await self._post(f"/v1/customers/{existing}", params, idempotency_key=idempotency_key)
            return str(updated["id"])
        params["payment_method"] = self._default_payment_method
        params["invoice_settings"] = {"default_payment_method": self._default_payment_method}
        created = await self._post("/v1/customers", params, idempotency_key=idempotency_key)
        return str(created["id"])

    async def ensure_price(self, price: Price, product_name: str, *, idempotency_key: str) -> str:
        """Find the price by lookup key; else create it (and the product code's shared product)."""
        found = await self._price_by_lookup_key(price.lookup_key)
        if found:
            return found
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
            created = await self._post("/v1/prices", mapping.price_params(price), idempotency_key=idempotency_key)
        except PermanentError as exc:
            # Lost a race for the lookup key: the winner's price is the one we want.
            found = await self._price_by_lookup_key(price.lookup_key) if exc.code == "resource_already_exists" else None
            if found is None:
                raise
            return found
        return str(created["id"])

    async def _price_by_lookup_key(self, lookup_key: str) -> str | None:
        listed = await self._get("/v1/prices", lookup_keys=[lookup_key])
        return str(listed["data"][0]["id"]) if listed["data"] else None

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
            # Stripe forgets idempotency keys after 24 hours; a saga retried later must not subscribe twice.
            return mapping.subscription_from_stripe(existing, contract, price_ids)
        data = cast(wire.Subscription, await self._post("/v1/subscriptions", params, idempotency_key=idempotency_key))
        first = data["latest_invoice"]
        if isinstance(first, str):
            await self._post(
                f"/v1/invoices/{first}", {"auto_advance": False}, idempotency_key=f"{idempotency_key}:hold"
            )
        return mapping.subscription_from_stripe(data, contract, price_ids)

    async def _subscription_of_deal(self, customer_id: str, deal_id: str) -> wire.Subscription | None:
        listed = await self._get("/v1/subscriptions", customer=customer_id, status="all", limit=100)
        for subscription in listed["data"]:
            if subscription["metadata"].get(wire.META_DEAL_ID) == deal_id:
                return cast(wire.Subscription, subscription)
        return None

    async def create_invoice(
        self, customer_id: str, subscription_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        """Complete the subscription's first invoice (the draft Stripe created with it) instead of creating one.

        Its lines must bill the canonical lines (else PermanentError 'invoice_mismatch'); we add the tax line,
        unless an earlier attempt did, and our metadata (ids, dates, saga). Stripe's line descriptions stay."""
        subscription = cast(
            wire.Subscription, await self._get(f"/v1/subscriptions/{subscription_id}", expand=["latest_invoice"])
        )
        draft = subscription["latest_invoice"]
        if not isinstance(draft, dict):
            raise PermanentError(SYSTEM, "invoice_missing", f"{subscription_id} has no first invoice to complete")
        invoice_id = draft["id"]
        if draft["customer"] != customer_id:
            raise PermanentError(
                SYSTEM, "invoice_mismatch", f"{invoice_id} is billed to {draft['customer']}, not {customer_id}"
            )
        if draft["status"] != wire.INVOICE_DRAFT:
            raise PermanentError(
                SYSTEM, "invoice_not_editable", f"{invoice_id} is {draft['status']}; only a draft can be completed"
            )
        codes = await self._product_codes(draft)
        problems = mapping.invoice_differences(draft, invoice, codes)
        if problems:
            raise PermanentError(
                SYSTEM, "invoice_mismatch", f"{invoice_id} does not bill the invoice: {'; '.join(problems)}"
            )
        if invoice.tax.amount and not any(mapping.is_tax_line(item) for item in draft["lines"]["data"]):
            await self._post(
                "/v1/invoiceitems",
                mapping.tax_item_params(customer_id, invoice_id, invoice),
                idempotency_key=f"{idempotency_key}:tax",
            )
        updated = await self._post(
            f"/v1/invoices/{invoice_id}",
            {"metadata": mapping.invoice_metadata(invoice), "auto_advance": False},
            idempotency_key=f"{idempotency_key}:metadata",
        )
        result = mapping.invoice_from_stripe(cast(wire.Invoice, updated), codes)
        if result.total != invoice.total:
            raise PermanentError(
                SYSTEM, "total_mismatch", f"{invoice_id} totals {result.total}, expected {invoice.total}"
            )
        return result

    async def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        data = cast(
            wire.Invoice,
            await self._post(
                f"/v1/invoices/{invoice_id}/finalize", {"auto_advance": False}, idempotency_key=idempotency_key
            ),
        )
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
            product = cast(wire.Product, await self._get(f"/v1/products/{product_id}"))
            code = product["metadata"].get(wire.META_PRODUCT_CODE)
            if code:
                codes[product_id] = code
        return codes

    async def collect_payment(self, invoice_id: str, *, idempotency_key: str) -> Payment:
        """Pay the invoice with the customer's default payment method.

        A card settles at once (SUCCEEDED); a bank debit answers PENDING and settles later (see
        `payment_for_invoice`). An invoice already paid, or whose payment is still processing, yields that payment."""
        try:
            paid = await self._post(f"/v1/invoices/{invoice_id}/pay", {}, idempotency_key=idempotency_key)
        except PermanentError as exc:
            if exc.code not in (wire.ERROR_ALREADY_PAID, wire.ERROR_PAYMENT_PROCESSING):
                raise
            paid = await self.get_invoice(invoice_id)
        return await self._payment_of(cast(wire.Invoice, paid))

    async def payment_for_invoice(self, invoice_id: str) -> Payment:
        """The invoice's payment as Stripe reports it now: SUCCEEDED (with fee), PENDING or FAILED.

        What to call when a webhook says the payment changed: the event is a notification, the API the truth.
        An invoice with no payment attempt raises PermanentError(code='payment_not_attempted')."""
        return await self._payment_of(cast(wire.Invoice, await self.get_invoice(invoice_id)))

    async def _payment_of(self, invoice: wire.Invoice) -> Payment:
        intent = None
        if invoice["payment_intent"]:
            intent = await self._get(
                f"/v1/payment_intents/{invoice['payment_intent']}", expand=["charges.data.balance_transaction"]
            )
        return mapping.payment_from_stripe(invoice, cast(wire.PaymentIntent | None, intent))

    async def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Void an open invoice; a one-off draft is deleted, a subscription's draft (Stripe refuses to delete
        those) is finalized without collection, then voided. Already void or deleted counts as done."""
        try:
            current = cast(wire.Invoice, await self.get_invoice(invoice_id))
        except PermanentError as exc:
            if exc.code == "resource_missing":
                return  # a draft deleted on an earlier attempt
            raise
        status = current["status"]
        if status == "draft" and not current["subscription"]:
            await self._call("DELETE", f"/v1/invoices/{invoice_id}", idempotency_key=f"{idempotency_key}:delete")
            return
        if status == "draft":
            finalized = await self._post(
                f"/v1/invoices/{invoice_id}/finalize",
                {"auto_advance": False},
                idempotency_key=f"{idempotency_key}:finalize",
            )
            status = finalized["status"]
        if status == "void":
            return
        if status != "open":
            raise PermanentError(
                SYSTEM, "invoice_not_voidable", f"{invoice_id} is {status}; it can no longer be voided"
            )
        await self._post(f"/v1/invoices/{invoice_id}/void", {}, idempotency_key=idempotency_key)

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None:
        """Void its first invoice if still a draft (never to be issued), then cancel; repeatable."""
        subscription = cast(
            wire.Subscription, await self._get(f"/v1/subscriptions/{subscription_id}", expand=["latest_invoice"])
        )
        first = subscription["latest_invoice"]
        if isinstance(first, dict) and first["status"] == wire.INVOICE_DRAFT:
            await self.void_invoice(first["id"], idempotency_key=f"{idempotency_key}:void-draft")
        if subscription["status"] != "canceled":
            # DELETE ignores Idempotency-Key at Stripe; sent anyway so request logs tie it to the saga step.
            await self._call("DELETE", f"/v1/subscriptions/{subscription_id}", idempotency_key=idempotency_key)

    async def refund(self, payment_id: str, amount: Money | None, *, idempotency_key: str) -> str:
        """Refund a payment intent, in full when `amount` is None; returns the refund id."""
        params: dict[str, Any] = {"payment_intent": payment_id}
        if amount is not None:
            intent = await self._get(f"/v1/payment_intents/{payment_id}")
            self._same_currency(amount, intent["currency"], payment_id)
            params["amount"] = amount.amount
        created = await self._post("/v1/refunds", params, idempotency_key=idempotency_key)
        return str(created["id"])

    async def create_credit_note(self, invoice_id: str, amount: Money, reason: str, *, idempotency_key: str) -> str:
        """Credit note for `amount`; `reason` goes to the memo, and to Stripe's reason when it is one of its."""
        invoice = await self.get_invoice(invoice_id)
        self._same_currency(amount, invoice["currency"], invoice_id)
        params = {
            "invoice": invoice_id,
            "amount": amount.amount,
            "reason": reason if reason in wire.CREDIT_NOTE_REASONS else None,
            "memo": reason,
        }
        created = await self._post("/v1/credit_notes", params, idempotency_key=idempotency_key)
        return str(created["id"])

    # -- lookups ---------------------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> Any:
        """The raw Stripe invoice (dict)."""
        return await self._get(f"/v1/invoices/{invoice_id}")

    async def search_customers_by_golden_id(self, golden_id: str) -> list[dict[str, Any]]:
        """Customers whose metadata golden_id matches (Stripe's search is eventually consistent)."""
        if "'" in golden_id or "\\" in golden_id:
            raise PermanentError(SYSTEM, "invalid_golden_id", f"cannot search for {golden_id!r}")
        found = await self._get("/v1/customers/search", query=f"metadata['{wire.META_GOLDEN_ID}']:'{golden_id}'")
        return list(found["data"])

    @staticmethod
    def _same_currency(amount: Money, stripe_currency: str, object_id: str) -> None:
        if amount.currency != stripe_currency.upper():
            raise PermanentError(
                SYSTEM, "currency_mismatch", f"{amount} does not match {object_id} in {stripe_currency.upper()}"
            )
