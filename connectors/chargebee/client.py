"""`ChargebeeBilling`: the BillingSystem role over Chargebee's API v2 (product catalog 2.0), for the first invoice.

Exactly once, call by call (Chargebee keeps an idempotency key only for a short window, so every create is also
found again without it):

| call | idempotency-key header | found again by |
|---|---|---|
| POST /customers | yes | GET /customers/{id}: the id is `c2c-{golden id}`; a second create is `duplicate_entry` |
| POST /customers/{id} (update) | yes | absolute values: a repeat changes nothing |
| POST /item_families, /items, /item_prices | yes | GET by the id c2c chose (product code, price lookup key) |
| POST /customers/{id}/subscription_for_items | yes | GET /subscriptions/{id}: the id is `c2c-sub-{deal}` |
| POST /invoices/{id}/add_charge (tax line) | yes | the invoice's lines: a `Tax (...)` line is not added twice |
| POST /invoices/{id}/close | yes | the invoice's status: no longer `pending` |
| POST /invoices/{id}/collect_payment | yes | the invoice's status: `paid` |
| POST /subscriptions/{id} (meta_data: the saga id) | yes | the subscription's meta_data |
| POST /invoices/{id}/void | yes | the invoice's status: `voided` |
| POST /invoices/{id}/write_off | yes | the invoice's `write_off_amount` |
| POST /credit_notes | yes | the invoice's credit notes: `customer_notes` carry `c2c ref {digest of our key}` |
| POST /invoices/{id}/refund (a paid invoice's credit) | yes | the same mark on the refund's credit note (refunds.py) |
| POST /subscriptions/{id}/cancel_for_items | yes | the subscription's status |
| POST /subscriptions/{id}/update_for_items (items) | yes | the items: absolute, sent only when they differ |
| POST /subscriptions/{id}/update_for_items (billing_cycles) | yes | remaining_billing_cycles: sent only if it differs |
| POST /subscriptions/{id}/cancel_for_items (end_of_term) | yes | non_renewing at the term end: sent only if not |
| POST /unbilled_charges/invoice_unbilled_charges | yes | a pending invoice of prorations alone (c2c completes each) |
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import httpx

from canonical import Contract, CreditNote, Customer, Invoice, Money, Payment, Price, Subscription
from connectors.chargebee import mapping, wire
from connectors.chargebee.amendments import ChargebeeAmendments
from connectors.chargebee.errors import SYSTEM, checked, classify, path_id
from connectors.chargebee.lifecycle import ChargebeeLifecycle
from connectors.chargebee.reads import ChargebeeReads
from connectors.chargebee.refunds import ChargebeeRefunds
from connectors.chargebee.renewals import ChargebeeRenewals
from connectors.errors import BusinessRuleError, PermanentError
from connectors.kit import json_body, send

API_PATH = "/api/v2"
Record = dict[str, Any]


class ChargebeeBilling(ChargebeeReads, ChargebeeRenewals, ChargebeeAmendments, ChargebeeRefunds, ChargebeeLifecycle):
    """Billing on one Chargebee site; `base_url` is `https://{site}.chargebee.com` in production (the sandbox's
    emulator locally). The caller owns `http` and its timeouts; keys come from the caller, never random."""

    system = SYSTEM

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str, *, payment_method: str | None = "tok_visa"
    ) -> None:
        self._http = http
        self._api = base_url.rstrip("/") + API_PATH
        self._auth = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
        # A gateway token for new customers' card (test sites); None: customers get no payment method from c2c.
        self._payment_method = payment_method

    # -- plumbing --------------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, params: Record | None = None, key: str | None = None, missing_ok: bool = False
    ) -> Any:
        """One call; None for a 404 when `missing_ok` (a lookup that finds nothing)."""
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        content = None
        query: list[tuple[str, str | int | float | bool | None]] | None = None
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = urlencode(wire.encode_form(params or {}))
            if key is not None:
                headers[wire.IDEMPOTENCY_HEADER] = wire.idempotency_key(key)
        elif params:
            query = list(wire.encode_form(params))

        def classifier(response: httpx.Response) -> Any:
            return None if missing_ok and response.status_code == 404 else classify(response)

        request = self._http.build_request(method, self._api + path, params=query, content=content, headers=headers)
        response = await send(self._http, SYSTEM, request, classifier)
        if response.status_code == 404:
            return None
        return json_body(SYSTEM, response)

    async def _get(self, path: str, name: str, *, missing_ok: bool = False) -> Record | None:
        body = await self._request("GET", path, missing_ok=missing_ok)
        return None if body is None else checked(wire.record, body, name)

    async def _one(self, path: str, name: str) -> Record:
        found = await self._get(path, name)
        assert found is not None
        return found

    async def _post(self, path: str, params: Record, key: str, name: str) -> Record:
        return checked(wire.record, await self._request("POST", path, params=params, key=key), name)

    async def _create(self, collection: str, name: str, params: Record, key: str) -> Record:
        """Create the record with the id c2c chose; one that already exists (an earlier attempt whose answer was
        lost, after Chargebee forgot its key; a concurrent saga) is read instead."""
        try:
            return await self._post(f"/{collection}", params, key, name)
        except PermanentError as error:
            if error.code != "duplicate_entry":
                raise
        return await self._one(f"/{collection}/{path_id(params['id'])}", name)

    async def _list(self, collection: str, name: str, **filters: Any) -> list[Record]:
        """Every record of a filtered list, page by page (`limit` 100, `next_offset`)."""
        rows: list[Record] = []
        params: Record = {"limit": 100, **filters}
        while True:
            body = await self._request("GET", f"/{collection}", params=params)
            batch, offset = checked(wire.page, body, name)
            rows.extend(batch)
            if offset is None:
                return rows
            params["offset"] = offset

    # -- customers and the catalog ---------------------------------------------------------------------

    async def create_customer(self, golden_id: str, legal_name: str, *, idempotency_key: str) -> str:
        """The golden customer's one billing customer, `c2c-{golden id}`: read, else created."""
        customer = mapping.customer_id(golden_id)
        if await self._get(f"/customers/{path_id(customer)}", "customer", missing_ok=True) is not None:
            return customer
        params: Record = {"id": customer, "company": legal_name[:250], "auto_collection": "off"}
        params["meta_data"] = json.dumps({mapping.META_GOLDEN_ID: golden_id})
        return (await self._create("customers", "customer", self._with_card(params), idempotency_key))["id"]

    async def upsert_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        known = customer.external_refs.get(SYSTEM)
        if not known and not customer.golden_id:
            raise PermanentError(SYSTEM, "missing_golden_id", "customer has neither a Chargebee id nor a golden id")
        target = known or mapping.customer_id(customer.golden_id or "")
        params = mapping.customer_params(customer)
        if await self._get(f"/customers/{path_id(target)}", "customer", missing_ok=True) is not None:
            updated = await self._post(f"/customers/{path_id(target)}", params, f"{idempotency_key}:update", "customer")
            return str(updated["id"])
        if known:
            raise PermanentError(SYSTEM, "customer_not_found", f"no Chargebee customer {known}", status=404)
        params = {"id": target, "auto_collection": "off", **params}
        return (await self._create("customers", "customer", self._with_card(params), idempotency_key))["id"]

    def _with_card(self, params: Record) -> Record:
        if self._payment_method:
            params["payment_method"] = {"type": "card", "reference_id": self._payment_method}
        return params

    async def ensure_price(self, price: Price, product_name: str, *, idempotency_key: str) -> str:
        """The item price `c2c-{lookup key}` (an addon of the product's item), and the base plan of its currency
        and period; each read first, created when missing."""
        price_id = mapping.item_price_id(price.lookup_key)
        if await self._get(f"/item_prices/{path_id(price_id)}", "item_price", missing_ok=True) is None:
            await self._ensure_item(price.product_code, product_name, "addon", idempotency_key)
            params = {
                "id": price_id,
                "item_id": price.product_code,
                "name": price_id,
                "external_name": product_name[:100],
                "pricing_model": "per_unit",
                "price": price.unit_amount.amount,
                "currency_code": price.unit_amount.currency,
                **mapping.period_params(price.period),
            }
            await self._create("item_prices", "item_price", params, idempotency_key)
        await self._ensure_base(price.unit_amount.currency, price.period, idempotency_key)
        return price_id

    async def _ensure_item(self, item_id: str, name: str, kind: str, key: str) -> None:
        if await self._get(f"/items/{path_id(item_id)}", "item", missing_ok=True) is not None:
            return
        if await self._get(f"/item_families/{mapping.ITEM_FAMILY}", "item_family", missing_ok=True) is None:
            family = {"id": mapping.ITEM_FAMILY, "name": "c2c"}
            await self._create("item_families", "item_family", family, f"{key}:family")
        params = {"id": item_id, "name": name[:100], "type": kind, "item_family_id": mapping.ITEM_FAMILY}
        await self._create("items", "item", params, f"{key}:item:{item_id}")

    async def _ensure_base(self, currency: str, period: Any, key: str) -> None:
        price_id = mapping.base_price_id(currency, period)
        if await self._get(f"/item_prices/{path_id(price_id)}", "item_price", missing_ok=True) is not None:
            return
        await self._ensure_item(mapping.BASE_ITEM, "Subscription", "plan", key)
        params = {
            "id": price_id,
            "item_id": mapping.BASE_ITEM,
            "name": price_id,
            "pricing_model": "flat_fee",
            "price": 0,
            "currency_code": currency,
            **mapping.period_params(period),
        }
        await self._create("item_prices", "item_price", params, f"{key}:base")

    # -- subscription and its first invoice ------------------------------------------------------------

    async def create_subscription(
        self, customer_id: str, contract: Contract, price_ids: dict[str, str], *, idempotency_key: str
    ) -> Subscription:
        """The deal's subscription `c2c-sub-{deal}`: read, else created with its first invoice held pending."""
        subscription = mapping.subscription_id(contract.deal_id)
        found = await self._get(f"/subscriptions/{path_id(subscription)}", "subscription", missing_ok=True)
        if found is None:
            try:
                params = mapping.subscription_params(contract, price_ids, subscription)
            except ValueError as exc:
                raise PermanentError(SYSTEM, "price_missing", str(exc)) from exc
            await self._ensure_base(contract.currency, contract.billing_period, idempotency_key)
            path = f"/customers/{path_id(customer_id)}/subscription_for_items"
            try:
                found = await self._post(path, params, idempotency_key, "subscription")
            except PermanentError as error:
                if error.code != "duplicate_entry":
                    raise
                found = await self._one(f"/subscriptions/{path_id(subscription)}", "subscription")
        if found.get("customer_id") != customer_id:
            raise PermanentError(
                SYSTEM, "subscription_mismatch", f"{subscription} belongs to {found.get('customer_id')}"
            )
        return checked(mapping.subscription_from, found, contract, price_ids)

    async def _first_invoice(self, subscription_id: str) -> Record:
        rows = await self._list("invoices", "invoice", subscription_id={"is": subscription_id})
        first = [row for row in rows if row.get("first_invoice")] or rows[-1:]
        if not first:
            raise PermanentError(SYSTEM, "invoice_missing", f"{subscription_id} has no first invoice")
        return first[0]

    async def create_invoice(
        self, customer_id: str, subscription_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        """Complete the subscription's pending first invoice: check it bills the canonical lines, add the tax line
        (`Tax ({document})`) unless an earlier attempt did; PermanentError 'invoice_mismatch' / 'total_mismatch'."""
        pending = await self._first_invoice(subscription_id)
        pending, codes = await self._complete_pending(pending, customer_id, invoice, idempotency_key)
        saga = invoice.external_refs.get(mapping.SAGA_REF)
        if saga:
            await self._record_saga(subscription_id, saga, f"{idempotency_key}:saga")
        return await self._completed(pending, invoice, codes, saga)

    async def _complete_pending(
        self, pending: Record, customer_id: str, invoice: Invoice, key: str
    ) -> tuple[Record, dict[str, str]]:
        """Check the pending invoice bills `invoice`'s lines and prorations, add its tax line unless an earlier
        attempt did (the invoice's lines say); the invoice as it is then, and its product codes."""
        if pending.get("customer_id") != customer_id:
            raise PermanentError(SYSTEM, "invoice_mismatch", f"{pending['id']} is billed to another customer")
        if pending.get("status") != "pending":
            raise PermanentError(
                SYSTEM, "invoice_not_editable", f"{pending['id']} is {pending.get('status')}; only pending is"
            )
        codes = await self._product_codes(pending)
        problems = checked(mapping.invoice_differences, pending, invoice, codes)
        if problems:
            raise PermanentError(SYSTEM, "invoice_mismatch", f"{pending['id']}: {'; '.join(problems)}")
        lines = list(checked(wire.records_in, pending, "line_items"))
        if invoice.tax.amount and not any(mapping.is_tax_line(line) for line in lines):
            params = {"amount": invoice.tax.amount, "description": mapping.tax_description(invoice)}
            pending = await self._post(
                f"/invoices/{path_id(pending['id'])}/add_charge", params, f"{key}:tax", "invoice"
            )
        return pending, codes

    async def _completed(self, data: Record, invoice: Invoice, codes: dict[str, str], saga: str | None) -> Invoice:
        """The canonical invoice of `data` with `invoice`'s ids; PermanentError 'total_mismatch' unless its total."""
        result = await self._canonical(data, saga=saga, codes=codes)
        result = result.model_copy(
            update={"golden_customer_id": invoice.golden_customer_id, "legal_entity": invoice.legal_entity}
        )
        if result.total != invoice.total:
            raise PermanentError(SYSTEM, "total_mismatch", f"{data['id']} totals {result.total}, not {invoice.total}")
        return result

    async def _record_saga(self, subscription_id: str, saga: str, key: str) -> None:
        """The saga's id in the subscription's meta_data (a Chargebee invoice has none): what reconciliation and
        webhooks read to find the saga. Written once; a repeat finds it there."""
        current = await self._one(f"/subscriptions/{path_id(subscription_id)}", "subscription")
        meta = wire.meta_data(current)
        if meta.get(mapping.META_SAGA) != saga:
            params = {"meta_data": json.dumps({**meta, mapping.META_SAGA: saga})}
            await self._post(f"/subscriptions/{path_id(subscription_id)}", params, key, "subscription")

    async def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        """Close the pending invoice (Chargebee's finalize); one an earlier attempt closed counts as done."""
        current = await self._invoice(invoice_id)
        if current["status"] == "pending":
            current = await self._post(f"/invoices/{path_id(invoice_id)}/close", {}, idempotency_key, "invoice")
        elif current["status"] == "voided":
            raise PermanentError(SYSTEM, "invoice_void", f"{invoice_id} is voided; it cannot be finalized")
        return await self._canonical(current, saga=None)

    async def send_invoice(self, invoice_id: str, *, idempotency_key: str) -> None:
        """The pivot. Chargebee has no send call: the site emails an invoice when it is closed (its notification
        settings), so this only checks the invoice was issued. Pending or voided: PermanentError('invoice_not_open')."""
        status = (await self._invoice(invoice_id))["status"]
        if status not in (*wire.UNPAID, "paid"):
            raise PermanentError(SYSTEM, "invoice_not_open", f"{invoice_id} is {status}; it cannot be sent")

    async def collect_payment(self, invoice_id: str, *, idempotency_key: str) -> Payment:
        """Charge the customer's payment method; a paid invoice (an earlier attempt's lost answer) is its payment.
        A decline is BusinessRuleError('card_declined' or the gateway's reason)."""
        current = await self._invoice(invoice_id)
        if current["status"] != "paid":
            if current["status"] not in wire.UNPAID:
                raise PermanentError(SYSTEM, "invoice_not_open", f"{invoice_id} is {current['status']}")
            path = f"/invoices/{path_id(invoice_id)}/collect_payment"
            body = await self._request("POST", path, params={}, key=idempotency_key)
            transaction = checked(wire.record, body, "transaction")
            if transaction.get("status") != "success":
                raise BusinessRuleError(SYSTEM, "card_declined", f"{transaction['id']} is {transaction.get('status')}")
            return checked(mapping.payment_from, checked(wire.record, body, "invoice"), transaction)
        return await self.payment_for_invoice(invoice_id)

    async def payment_for_invoice(self, invoice_id: str) -> Payment:
        current = await self._invoice(invoice_id)
        linked = list(checked(wire.records_in, current, "linked_payments"))
        if not linked:
            if current["status"] == "paid":  # credit notes covered it: nothing was charged
                return checked(mapping.payment_from, current, None)
            raise PermanentError(SYSTEM, "payment_not_attempted", f"{invoice_id} has no payment yet")
        transaction = await self._one(f"/transactions/{path_id(str(linked[-1].get('txn_id')))}", "transaction")
        return checked(mapping.payment_from, current, transaction)

    async def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Void an unpaid invoice (pending ones too); already voided is done; one with a payment cannot be."""
        current = await self._invoice(invoice_id)
        if current["status"] == "voided":
            return
        if current.get("amount_paid"):
            raise PermanentError(SYSTEM, "invoice_not_voidable", f"{invoice_id} has payments; credit it instead")
        await self._post(f"/invoices/{path_id(invoice_id)}/void", {}, idempotency_key, "invoice")

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None:
        """Void its first invoice while still pending (never to be issued), then cancel now; repeatable."""
        found = await self._get(f"/subscriptions/{path_id(subscription_id)}", "subscription", missing_ok=True)
        if found is None:
            return
        first = await self._first_invoice(subscription_id)
        if first.get("status") == "pending":
            await self.void_invoice(first["id"], idempotency_key=f"{idempotency_key}:void-first")
        if found.get("status") != "cancelled":
            path = f"/subscriptions/{path_id(subscription_id)}/cancel_for_items"
            await self._post(path, {"end_of_term": False}, idempotency_key, "subscription")

    async def mark_uncollectible(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Write the unpaid invoice off (`POST /invoices/{id}/write_off`: Chargebee credits what is due with a
        `write_off` credit note and closes the invoice as paid, so unlike Stripe's uncollectible it takes no late
        payment). Repeatable: written off is done; paid BusinessRuleError('invoice_paid'); else PermanentError."""
        current = await self._invoice(invoice_id)
        if current.get("write_off_amount"):
            return
        if current["status"] == "paid":
            raise BusinessRuleError(SYSTEM, "invoice_paid", f"{invoice_id} is paid; there is no debt to write off")
        if current["status"] not in wire.UNPAID:
            code = "invoice_void" if current["status"] == "voided" else "invoice_not_open"
            raise PermanentError(SYSTEM, code, f"{invoice_id} is {current['status']}; only unpaid is written off")
        await self._post(f"/invoices/{path_id(invoice_id)}/write_off", {}, idempotency_key, "invoice")

    # -- credit notes ----------------------------------------------------------------------------------

    async def credit_invoice(self, invoice_id: str, reason: str, *, idempotency_key: str) -> str | None:
        """The undo after the pivot: an adjustment credit note for all still due; None when nothing is due or the
        invoice is pending or voided. A paid invoice: BusinessRuleError('invoice_paid')."""
        existing = await self._credit_note_by_key(invoice_id, idempotency_key)
        if existing is not None:
            return existing
        current = await self._invoice(invoice_id)
        if current["status"] == "paid" and current.get("amount_paid"):
            raise BusinessRuleError(SYSTEM, "invoice_paid", f"{invoice_id} is paid; refunding it is finance's decision")
        if current["status"] not in wire.UNPAID or not current.get("amount_due"):
            return None
        return await self._issue(current, int(current["amount_due"]), reason, idempotency_key)

    async def create_credit_note(self, invoice_id: str, amount: Money, reason: str, *, idempotency_key: str) -> str:
        existing = await self._credit_note_by_key(invoice_id, idempotency_key)
        if existing is not None:
            return existing
        current = await self._invoice(invoice_id)
        if current.get("currency_code") != amount.currency:
            raise PermanentError(SYSTEM, "currency_mismatch", f"{amount} does not match {invoice_id}")
        return await self._issue(current, amount.amount, reason, idempotency_key)

    async def issue_credit_note(self, credit: CreditNote, *, idempotency_key: str) -> CreditNote:
        total = sum(line.amount.amount for line in credit.lines) + credit.tax.amount
        note = await self.create_credit_note(
            credit.invoice_id,
            Money(amount=total, currency=credit.currency),
            credit.reason,
            idempotency_key=idempotency_key,
        )
        return credit.model_copy(update={"external_refs": {**credit.external_refs, SYSTEM: note}})

    async def _issue(self, invoice: Record, amount: int, reason: str, key: str) -> str:
        """An adjustment note on what is due; on a paid invoice the money goes back to the card (Chargebee's invoice
        refund: a refundable note, refunded at once, refunds.py); marked with our key."""
        paid = invoice["status"] == "paid"
        if paid:
            return await self._refund_invoice(invoice, amount, reason, key)
        room = int(invoice.get("amount_due") or 0)
        if not 0 < amount <= room:
            raise BusinessRuleError(
                SYSTEM, "credit_exceeds_invoice", f"{amount} is more than the {room} left on {invoice['id']}"
            )
        params = {
            "reference_invoice_id": invoice["id"],
            "total": amount,
            "type": "adjustment",
            "reason_code": reason if reason in wire.CREDIT_REASONS else "other",
            "customer_notes": mapping.credit_mark(key),
        }
        return str((await self._post("/credit_notes", params, key, "credit_note"))["id"])

    async def _credit_note_by_key(self, invoice_id: str, key: str) -> str | None:
        mark = mapping.credit_mark(key)
        for note in await self._list("credit_notes", "credit_note", reference_invoice_id={"is": invoice_id}):
            if note.get("customer_notes") == mark:
                return str(note["id"])
        return None

    # -- reads -----------------------------------------------------------------------------------------

    async def deal_of_invoice(self, invoice_id: str) -> str | None:
        """The deal whose subscription the invoice bills (its meta_data), None for an invoice c2c did not make.
        What a webhook needs to find the saga: Chargebee invoices carry no metadata of their own."""
        current = await self._invoice(invoice_id)
        if not isinstance(current.get("subscription_id"), str):
            return None
        path = f"/subscriptions/{path_id(current['subscription_id'])}"
        subscription = await self._get(path, "subscription", missing_ok=True)
        return wire.meta_data(subscription or {}).get(mapping.META_DEAL_ID)

    async def _invoice(self, invoice_id: str) -> Record:
        found = await self._get(f"/invoices/{path_id(invoice_id)}", "invoice", missing_ok=True)
        if found is None:
            raise PermanentError(SYSTEM, "resource_missing", f"no Chargebee invoice {invoice_id!r}", status=404)
        if found.get("status") not in wire.INVOICE_STATUSES:
            raise PermanentError(SYSTEM, "bad_response", f"{invoice_id} has status {found.get('status')!r}"[:200])
        return found

    async def _product_codes(self, invoice: Record) -> dict[str, str]:
        """Product code (the item's id) by item price id, for the invoice's product lines."""
        codes: dict[str, str] = {}
        lines = checked(mapping.product_lines, invoice) + checked(mapping.proration_lines, invoice)
        for price_id in sorted({str(line.get("entity_id")) for line in lines}):
            price = await self._one(f"/item_prices/{path_id(price_id)}", "item_price")
            codes[price_id] = checked(wire.text, price, "item_id")
        return codes

    async def _canonical(self, invoice: Record, saga: str | None, codes: dict[str, str] | None = None) -> Invoice:
        """The canonical invoice; `codes` (product code by item price id) when the caller already read them."""
        subscription = None
        if isinstance(invoice.get("subscription_id"), str):
            path = f"/subscriptions/{path_id(invoice['subscription_id'])}"
            subscription = await self._get(path, "subscription", missing_ok=True)
        codes = codes if codes is not None else await self._product_codes(invoice)
        return checked(mapping.invoice_from, invoice, codes, subscription, saga)
