"""Canonical objects <-> Stripe parameters and objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from canonical import (
    Address,
    Contract,
    Customer,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    Money,
    Payment,
    PaymentStatus,
    Price,
    Subscription,
    SubscriptionItem,
)
from canonical.contract import term_end as contract_term_end
from canonical.records import BilledUsage, BillingCustomer, BillingInvoice, BillingSubscription, CustomerFields
from connectors.errors import PermanentError
from connectors.stripe import wire
from connectors.stripe.errors import SYSTEM

SAGA_REF = "c2c"  # canonical external_refs key of the saga's workflow id


def money(amount: Any, currency: str) -> Money:
    """Stripe amounts are integers in minor units; anything else is a broken response."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise PermanentError(SYSTEM, "bad_response", f"amount {amount!r} is not an integer of minor units")
    return Money(amount=amount, currency=currency.upper())


def customer_params(customer: Customer) -> dict[str, Any]:
    """Name, email, address and our ids as metadata (golden id; tax id until tax ids are typed per country)."""
    address = customer.address
    metadata = {wire.META_GOLDEN_ID: customer.golden_id, "tax_id": customer.tax_id}
    return {
        "name": customer.legal_name,
        "email": customer.email,
        "address": {
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "state": address.region,
            "postal_code": address.postal_code,
            "country": address.country,
        },
        "metadata": {k: v for k, v in metadata.items() if v is not None},
    }


def product_id(product_code: str) -> str:
    """Our own product id, so every price of a product code shares one Stripe product."""
    return "prod_c2c_" + product_code.lower().replace("-", "_")


def price_params(price: Price, meter_id: str | None = None) -> dict[str, Any]:
    """A licensed price, or with `meter_id` a metered one (per unit of the meter's usage, billed in arrears)."""
    recurring: dict[str, Any] = {"interval": price.period.value}
    if meter_id is not None:
        recurring.update(usage_type=wire.USAGE_METERED, meter=meter_id)
    return {
        "product": product_id(price.product_code),
        "unit_amount": price.unit_amount.amount,
        "currency": price.unit_amount.currency.lower(),
        "recurring": recurring,
        "lookup_key": price.lookup_key,
        "metadata": {wire.META_PRODUCT_CODE: price.product_code},
    }


def is_metered(price: wire.Price | None) -> bool:
    recurring = price.get("recurring") if price is not None else None
    return bool(recurring and recurring.get("usage_type") == wire.USAGE_METERED)


def term_end(contract: Contract) -> int:
    """Unix time of midnight UTC at the end of the contract term (month ends clamp)."""
    return int(contract_term_end(contract.start_date, contract.term_months).timestamp())


def subscription_items(contract: Contract, price_ids: dict[str, str]) -> list[dict[str, Any]]:
    """One item per price (Stripe refuses a price twice): quantities of repeated product codes add up."""
    quantities: dict[str, int] = {}
    for line in contract.lines:
        try:
            price_id = price_ids[line.product_code]
        except KeyError:
            raise PermanentError(SYSTEM, "price_not_mapped", f"no price id for {line.product_code}") from None
        quantities[price_id] = quantities.get(price_id, 0) + line.quantity
    items: list[dict[str, Any]] = [
        {"price": price_id, "quantity": quantity} for price_id, quantity in quantities.items()
    ]
    # A metered item takes no quantity (Stripe refuses one): the meter's usage is its quantity on each invoice.
    metered = {price_ids[line.product_code] for line in contract.usage_lines if line.product_code in price_ids}
    return items + [{"price": price_id} for price_id in sorted(metered)]


def subscription_from_stripe(data: wire.Subscription, contract: Contract, price_ids: dict[str, str]) -> Subscription:
    codes = {price_id: code for code, price_id in price_ids.items()}
    items = [
        SubscriptionItem(
            product_code=codes.get(item["price"]["id"], item["price"]["id"]),
            quantity=item["quantity"],
            price_id=item["price"]["id"],
        )
        for item in data["items"]["data"]
        if "quantity" in item  # metered items (usage lines) bill the meter, not a quantity
    ]
    period_end = data.get("current_period_end")
    return Subscription(
        id=data["id"],
        status=data["status"],
        contract=contract,
        items=items,
        external_refs={SYSTEM: data["id"]},
        current_period_end=datetime.fromtimestamp(period_end, UTC) if period_end is not None else None,
        created_at=_moment(data.get("created")),
    )


def invoice_metadata(invoice: Invoice) -> dict[str, str]:
    metadata = {
        wire.META_GOLDEN_ID: invoice.golden_customer_id,
        wire.META_LEGAL_ENTITY: invoice.legal_entity,
        wire.META_ISSUE_DATE: invoice.issue_date.isoformat(),
        wire.META_DUE_DATE: invoice.due_date.isoformat(),
        wire.META_TAX_DOCUMENT: invoice.tax_document_code,
        wire.META_SAGA: invoice.external_refs.get(SAGA_REF),
    }
    return {k: v for k, v in metadata.items() if v is not None}


def tax_item_params(customer_id: str, invoice_id: str, invoice: Invoice) -> dict[str, Any]:
    """The tax computed by our tax engine as one line; the document code ties it to the tax record."""
    code = invoice.tax_document_code
    return {
        "customer": customer_id,
        "invoice": invoice_id,
        "currency": invoice.currency.lower(),
        "description": f"Tax ({code})" if code else "Tax",
        "amount": invoice.tax.amount,
        "metadata": {wire.META_LINE_KIND: wire.LINE_KIND_TAX, wire.META_TAX_DOCUMENT: code},
    }


def _date(value: str | None, fallback: int | None) -> date:
    if value:
        return date.fromisoformat(value)
    if fallback is None:
        raise PermanentError(SYSTEM, "bad_response", "invoice has no date to map")
    return datetime.fromtimestamp(fallback, UTC).date()


def is_tax_line(item: wire.LineItem) -> bool:
    return item["metadata"].get(wire.META_LINE_KIND) == wire.LINE_KIND_TAX


def product_code_of(item: wire.LineItem, product_codes: Mapping[str, str]) -> str | None:
    """The product code of a line: its own metadata, its price's, else its product's (`product_codes` by id)."""
    code = item["metadata"].get(wire.META_PRODUCT_CODE)
    price = item["price"]
    if code is None and price is not None:
        code = price["metadata"].get(wire.META_PRODUCT_CODE) or product_codes.get(price["product"])
    return code


def is_proration(item: wire.LineItem) -> bool:
    """A proration Stripe made for a subscription update (signed; billed on the next invoice)."""
    return bool(item.get("proration"))


def adjustment_of(item: wire.LineItem, product_codes: Mapping[str, str], currency: str) -> InvoiceAdjustment:
    """A proration line as a canonical adjustment: its signed amount, the quantity and part period it is for."""
    period = item.get("period")
    if period is None:
        raise PermanentError(SYSTEM, "bad_response", f"proration line {item['id']} has no period")
    return InvoiceAdjustment(
        product_code=product_code_of(item, product_codes) or "UNKNOWN",
        description=item["description"] or "",
        quantity=item["quantity"] or 0,
        amount=money(item["amount"], currency),
        period_start=datetime.fromtimestamp(period["start"], UTC).date(),
        period_end=datetime.fromtimestamp(period["end"], UTC).date(),
        usage=is_metered(item["price"]),
    )


def is_usage(item: wire.LineItem) -> bool:
    """A metered line billing usage of the period consumed (its `period`); one of no usage bills nothing."""
    return is_metered(item["price"]) and not mapping_skipped(item)


def mapping_skipped(item: wire.LineItem) -> bool:
    """A metered line with no usage (the first invoice's, or a period without any): c2c leaves it out."""
    return is_metered(item["price"]) and not item["quantity"] and item["amount"] == 0


def invoice_differences(data: wire.Invoice, invoice: Invoice, product_codes: Mapping[str, str]) -> list[str]:
    """How a subscription's invoice departs from the canonical one: per product code, the quantity and amount
    billed (canonical lines of one code add up, as their subscription item does); lines that are neither a
    subscription line nor our tax line; a tax line already there with another amount. Empty when it matches."""
    currency = data["currency"].upper()
    if currency != invoice.currency:
        return [f"currency {currency}, expected {invoice.currency}"]
    if data["lines"]["has_more"]:
        return ["more lines than one page"]
    wanted: dict[str, tuple[int, int]] = {}
    for line in invoice.lines:
        quantity, amount = wanted.get(line.product_code, (0, 0))
        wanted[line.product_code] = (quantity + line.quantity, amount + line.amount.amount)
    billed: dict[str, tuple[int, int]] = {}
    taxes: list[int] = []
    problems: list[str] = []
    prorations: list[tuple[str, int]] = []
    for item in data["lines"]["data"]:
        code = product_code_of(item, product_codes)
        if mapping_skipped(item):
            continue
        if is_tax_line(item):
            taxes.append(item["amount"])
        elif (is_proration(item) or is_usage(item)) and code is not None:
            prorations.append((code, item["amount"]))
        elif item["type"] != wire.LINE_TYPE_SUBSCRIPTION or code is None:
            label = item["description"] or item["type"]
            problems.append(f"unexpected line {item['id']} ({label}: {money(item['amount'], currency)})")
        else:
            quantity, amount = billed.get(code, (0, 0))
            billed[code] = (quantity + (item["quantity"] or 0), amount + item["amount"])
    for code in sorted(wanted.keys() | billed.keys()):
        if code not in billed:
            problems.append(f"{code} is not billed")
        elif code not in wanted:
            problems.append(f"{code} is billed but not invoiced")
        else:
            (got_quantity, got_amount), (want_quantity, want_amount) = billed[code], wanted[code]
            if got_quantity != want_quantity:
                problems.append(f"{code} quantity {got_quantity}, expected {want_quantity}")
            if got_amount != want_amount:
                problems.append(f"{code} amount {money(got_amount, currency)}, expected {money(want_amount, currency)}")
    adjustments = sorted((a.product_code, a.amount.amount) for a in invoice.adjustments)
    if sorted(prorations) != adjustments:
        got = ", ".join(f"{code} {money(amount, currency)}" for code, amount in sorted(prorations)) or "none"
        want = ", ".join(f"{code} {money(amount, currency)}" for code, amount in adjustments) or "none"
        problems.append(f"prorations {got}, expected {want}")
    if taxes and taxes != [invoice.tax.amount]:
        found = ", ".join(str(money(t, currency)) for t in taxes)
        problems.append(f"tax line(s) {found} already on it, expected {invoice.tax}")
    return problems


def invoice_from_stripe(data: wire.Invoice, product_codes: Mapping[str, str] | None = None) -> Invoice:
    """Canonical invoice from a Stripe invoice c2c completed (its metadata carries our ids and dates).

    Product lines keep Stripe's description; `product_codes` (product id -> code) covers prices without one."""
    if data["lines"]["has_more"]:
        raise PermanentError(SYSTEM, "too_many_lines", f"{data['id']} has more lines than one page")
    currency = data["currency"].upper()
    metadata = data["metadata"]
    lines: list[InvoiceLine] = []
    adjustments: list[InvoiceAdjustment] = []
    tax = Money.zero(currency)
    for item in data["lines"]["data"]:
        amount = money(item["amount"], currency)
        if is_tax_line(item):
            tax = tax + amount
            continue
        if mapping_skipped(item):
            continue
        if is_proration(item) or is_usage(item):
            adjustments.append(adjustment_of(item, product_codes or {}, currency))
            continue
        quantity = item["quantity"] or 1
        price = item["price"]
        unit = price["unit_amount"] if price and price["unit_amount"] is not None else amount.amount // quantity
        period = item.get("period")  # the service period: revenue is recognized over it (canonical/revenue.py)
        lines.append(
            InvoiceLine(
                product_code=product_code_of(item, product_codes or {}) or "UNKNOWN",
                description=item["description"] or "",
                quantity=quantity,
                unit_amount=money(unit, currency),
                amount=amount,
                period_start=datetime.fromtimestamp(period["start"], UTC).date() if period else None,
                period_end=datetime.fromtimestamp(period["end"], UTC).date() if period else None,
            )
        )
    if not lines and not adjustments:
        raise PermanentError(SYSTEM, "bad_response", f"{data['id']} has neither product nor proration lines")
    refs = {SYSTEM: data["id"]}
    if metadata.get(wire.META_SAGA):
        refs[SAGA_REF] = metadata[wire.META_SAGA]
    return Invoice(
        golden_customer_id=metadata.get(wire.META_GOLDEN_ID, ""),
        legal_entity=metadata.get(wire.META_LEGAL_ENTITY, ""),
        currency=currency,
        issue_date=_date(metadata.get(wire.META_ISSUE_DATE), data["created"]),
        due_date=_date(metadata.get(wire.META_DUE_DATE), data["due_date"] or data["created"]),
        lines=lines,
        adjustments=adjustments,
        tax=tax,
        tax_document_code=metadata.get(wire.META_TAX_DOCUMENT),
        number=data["number"],
        status=data["status"],
        external_refs=refs,
        finalized_at=_moment(transitions["finalized_at"] if (transitions := data.get("status_transitions")) else None),
    )


def payment_from_stripe(invoice: wire.Invoice, intent: wire.PaymentIntent | None) -> Payment:
    """The invoice's payment as its intent says now: SUCCEEDED (fee from the charge's balance transaction),
    FAILED (a new payment method is needed) or PENDING (e.g. a bank debit still processing)."""
    currency = invoice["currency"]
    if intent is None:
        if invoice["status"] != "paid":
            raise PermanentError(SYSTEM, "payment_not_attempted", f"{invoice['id']} has no payment yet")
        # nothing was charged: credit notes covered the invoice
        return Payment(
            invoice_id=invoice["id"], amount=money(invoice["amount_paid"], currency), status=PaymentStatus.SUCCEEDED
        )
    refs = {SYSTEM: intent["id"]}
    if intent["status"] != wire.INTENT_SUCCEEDED:
        failed = intent["status"] in wire.INTENT_FAILED
        return Payment(
            invoice_id=invoice["id"],
            amount=money(intent["amount"], intent["currency"]),
            status=PaymentStatus.FAILED if failed else PaymentStatus.PENDING,
            external_refs=refs,
        )
    fee = None
    charges = intent["charges"]["data"]
    txn = charges[-1]["balance_transaction"] if charges else None
    if isinstance(txn, dict):
        fee = money(txn["fee"], txn["currency"])
    return Payment(
        invoice_id=invoice["id"],
        amount=money(intent["amount_received"], intent["currency"]),
        fee=fee,
        status=PaymentStatus.SUCCEEDED,
        external_refs=refs,
        # when the money moved, as Stripe says: the succeeding charge's time (the intent's if it has none)
        settled_at=_moment(charges[-1].get("created") if charges else intent.get("created")),
    )


def _moment(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def billing_invoice(data: wire.Invoice) -> BillingInvoice:
    """A listed invoice for reconciliation: totals, the tax line c2c added, who paid it and when."""
    transitions = data.get("status_transitions")
    return BillingInvoice(
        invoice_id=data["id"],
        number=data["number"],
        subscription_id=data["subscription"] or None,
        customer_id=data["customer"],
        saga_id=data["metadata"].get(wire.META_SAGA),
        status=data["status"],
        currency=data["currency"].upper(),
        total=data["total"],
        tax=sum(line["amount"] for line in data["lines"]["data"] if is_tax_line(line)),
        amount_paid=data["amount_paid"],
        payment_id=data["payment_intent"] or None,
        tax_document_code=data["metadata"].get(wire.META_TAX_DOCUMENT),
        created=datetime.fromtimestamp(data["created"], UTC),
        finalized_at=_moment(transitions["finalized_at"]) if transitions else None,
        paid_at=_moment(transitions["paid_at"]) if transitions else None,
        usage=[
            BilledUsage(
                product_code=product_code_of(line, {}),
                quantity=line["quantity"] or 0,
                unit_amount=_unit_amount(line["price"]),
                period_start=datetime.fromtimestamp(period["start"], UTC),
                period_end=datetime.fromtimestamp(period["end"], UTC),
            )
            for line in data["lines"]["data"]
            if is_metered(line["price"]) and (period := line.get("period")) is not None
        ],
    )


def _unit_amount(price: wire.Price | None) -> int:
    return (price["unit_amount"] or 0) if price is not None else 0


def billing_subscription(data: wire.Subscription) -> BillingSubscription:
    return BillingSubscription(
        subscription_id=data["id"],
        deal_id=data["metadata"].get(wire.META_DEAL_ID),
        customer_id=data["customer"],
        status=data["status"],
        created=datetime.fromtimestamp(data["created"], UTC),
    )


def billing_customer(data: wire.Customer) -> BillingCustomer:
    """Name, address and tax id (metadata, see customer_params); an incomplete address compares as missing."""
    raw = data.get("address")
    address: Address | None = None
    if raw is not None:
        try:
            address = Address(
                line1=raw["line1"] or "",
                line2=raw["line2"] or None,
                city=raw["city"] or "",
                region=raw["state"] or None,
                postal_code=raw["postal_code"] or "",
                country=raw["country"] or "",
            )
        except ValueError:
            address = None
    metadata = data["metadata"]
    return BillingCustomer(
        customer_id=data["id"],
        golden_id=metadata.get(wire.META_GOLDEN_ID),
        fields=CustomerFields(name=data["name"], address=address, tax_id=metadata.get("tax_id")),
    )
