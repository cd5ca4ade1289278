"""Canonical objects <-> Chargebee records: the ids c2c chooses, request parameters, and what answers mean.

c2c chooses the ids of what it creates where Chargebee lets the caller (customers, subscriptions, items, item
prices): the id is derived from our own key, so a create whose answer was lost is found by a GET of that id, and a
second create is refused as `duplicate_entry`, never doubled. Our ids (golden customer, deal, legal entity) go in
`meta_data` (free JSON; `cf_*` custom fields would have to be set up on the site first).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

from canonical import Address, BillingPeriod, Contract, Customer, Invoice, Money, Payment, Subscription
from canonical.contract import SubscriptionItem
from canonical.invoice import InvoiceAdjustment, InvoiceLine
from canonical.payment import PaymentStatus
from connectors.chargebee import wire
from connectors.chargebee.errors import SYSTEM

SAGA_REF = "c2c"  # canonical external_refs key of the saga's workflow id
ITEM_FAMILY = "c2c"
BASE_ITEM = "c2c-base"  # the zero-priced plan every subscription has: Chargebee wants exactly one plan per subscription
META_GOLDEN_ID = "c2c_golden_id"
META_DEAL_ID = "c2c_deal_id"
META_LEGAL_ENTITY = "c2c_legal_entity"
META_SAGA = "c2c_saga"  # the saga's workflow id, written on the subscription when its first invoice is completed
TAX_PREFIX = "Tax"
PLAN_LINE = "plan_item_price"  # the base plan's line: its period is the term the invoice bills
CREDIT_MARK = "c2c ref "  # customer_notes of a credit note c2c issued: `c2c ref {digest of the key}`

Record = dict[str, Any]


def customer_id(golden_id: str) -> str:
    return wire.safe_id("c2c", golden_id)


def subscription_id(deal_id: str) -> str:
    return wire.safe_id("c2c-sub", deal_id)


def base_price_id(currency: str, period: BillingPeriod) -> str:
    return f"{BASE_ITEM}-{period.value}-{currency.lower()}"


def item_price_id(lookup_key: str) -> str:
    return wire.safe_id("c2c", lookup_key)


def period_params(period: BillingPeriod) -> Record:
    return {"period": 1, "period_unit": period.value}


def credit_mark(idempotency_key: str) -> str:
    """What a credit note carries to be found again after Chargebee forgot the key (credit notes take no id)."""
    return CREDIT_MARK + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def customer_params(customer: Customer) -> Record:
    address = customer.address
    params: Record = {
        "company": customer.legal_name[:250],
        "email": customer.email,
        "vat_number": customer.tax_id,
        "billing_address": {
            "company": customer.legal_name[:250],
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "state_code": address.region,
            "zip": address.postal_code,
            "country": address.country,
        },
    }
    if customer.golden_id:
        params["meta_data"] = json.dumps({META_GOLDEN_ID: customer.golden_id})
    return params


def subscription_params(contract: Contract, price_ids: dict[str, str], subscription: str) -> Record:
    """One zero-priced base plan plus one addon per line at the deal's price; the first invoice held pending."""
    items: list[Record] = [{"item_price_id": base_price_id(contract.currency, contract.billing_period), "quantity": 1}]
    for line in contract.lines:
        if line.product_code not in price_ids:
            raise ValueError(f"no billing price for product {line.product_code}")
        items.append(
            {
                "item_price_id": price_ids[line.product_code],
                "quantity": line.quantity,
                "unit_price": line.unit_price.amount,
            }
        )
    return {
        "id": subscription,
        "subscription_items": items,
        "auto_collection": "off",  # c2c collects (collect_payment) when the saga gets there
        "create_pending_invoices": True,
        "first_invoice_pending": True,  # held like Stripe's draft until create_invoice adds the tax line
        "billing_cycles": max(1, contract.term_months // contract.billing_period.months),
        "meta_data": json.dumps(
            {
                META_DEAL_ID: contract.deal_id,
                META_GOLDEN_ID: contract.golden_customer_id,
                META_LEGAL_ENTITY: contract.legal_entity,
            }
        ),
    }


def moment(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, UTC)


def subscription_from(data: Record, contract: Contract, price_ids: dict[str, str]) -> Subscription:
    codes = {price_id: code for code, price_id in price_ids.items()}
    items = [
        SubscriptionItem(
            product_code=codes[item["item_price_id"]],
            quantity=wire.integer(item, "quantity"),
            price_id=wire.text(item, "item_price_id"),
        )
        for item in wire.records_in(data, "subscription_items")
        if item.get("item_price_id") in codes
    ]
    return Subscription(
        id=data["id"],
        status=wire.text(data, "status"),
        contract=contract,
        items=items,
        external_refs={SYSTEM: data["id"]},
        current_period_end=moment(data.get("current_term_end")),
        created_at=moment(data.get("created_at")),
    )


def is_tax_line(line: Record) -> bool:
    return line.get("entity_type") == "adhoc" and str(line.get("description", "")).startswith(TAX_PREFIX)


def tax_description(invoice: Invoice) -> str:
    return f"{TAX_PREFIX} ({invoice.tax_document_code})" if invoice.tax_document_code else TAX_PREFIX


def _addon_lines(data: Record) -> list[Record]:
    return [line for line in wire.records_in(data, "line_items") if line.get("entity_type") == "addon_item_price"]


def _term_of(data: Record) -> tuple[Any, Any] | None:
    """The (date_from, date_to) of the invoice's plan line: the term a first or renewal invoice bills."""
    plan = next((line for line in wire.records_in(data, "line_items") if line.get("entity_type") == PLAN_LINE), None)
    return None if plan is None else (plan.get("date_from"), plan.get("date_to"))


def product_lines(data: Record) -> list[Record]:
    """The invoice's lines for products over the term it bills: not the base plan, not the tax line, not a
    proration (an addon line over another period, see `proration_lines`)."""
    term = _term_of(data)
    return [line for line in _addon_lines(data) if (line.get("date_from"), line.get("date_to")) == term]


def proration_lines(data: Record) -> list[Record]:
    """Prorated charges of a change made in the term before (unbilled charges the renewal bills, or the invoice of
    a change invoiced at once): addon lines over a part period, not the invoice's term. An invoice without a plan
    line (prorations alone) has only these."""
    term = _term_of(data)
    return [line for line in _addon_lines(data) if (line.get("date_from"), line.get("date_to")) != term]


def adjustments_of(data: Record, codes: dict[str, str]) -> list[InvoiceAdjustment]:
    currency = wire.currency(data, "currency_code")
    adjustments = []
    for line in proration_lines(data):
        start, end = moment(line.get("date_from")), moment(line.get("date_to"))
        if start is None or end is None:
            raise ValueError(f"line_items {line.get('id')}: date_from or date_to of a proration is not a unix time")
        adjustments.append(
            InvoiceAdjustment(
                product_code=codes.get(str(line.get("entity_id")), "UNKNOWN"),
                description=str(line.get("description") or ""),
                quantity=wire.integer(line, "quantity"),
                amount=Money(amount=wire.integer(line, "amount"), currency=currency),
                period_start=start.date(),
                period_end=end.date(),
            )
        )
    return adjustments


def invoice_differences(data: Record, invoice: Invoice, codes: dict[str, str]) -> list[str]:
    """What the Chargebee invoice bills that the canonical one does not (and the reverse), line by line and
    proration by proration (product code and amount)."""
    billed = sorted(
        (codes.get(str(line.get("entity_id")), "?"), wire.integer(line, "quantity"), wire.integer(line, "amount"))
        for line in product_lines(data)
    )
    expected = sorted((line.product_code, line.quantity, line.amount.amount) for line in invoice.lines)
    if data.get("currency_code") != invoice.currency:
        return [f"currency {data.get('currency_code')} is not {invoice.currency}"]
    problems = [] if billed == expected else [f"bills {billed}, expected {expected}"]
    prorated = sorted(
        (codes.get(str(line.get("entity_id")), "?"), wire.integer(line, "amount")) for line in proration_lines(data)
    )
    wanted = sorted((a.product_code, a.amount.amount) for a in invoice.adjustments)
    if prorated != wanted:
        problems.append(f"prorates {prorated}, expected {wanted}")
    return problems


def invoice_from(data: Record, codes: dict[str, str], subscription: Record | None, saga: str | None) -> Invoice:
    """The canonical invoice of a Chargebee invoice; our ids come from its subscription's meta_data."""
    currency = wire.currency(data, "currency_code")
    lines: list[InvoiceLine] = []
    tax = Money.zero(currency)
    for line in wire.records_in(data, "line_items"):
        amount = Money(amount=wire.integer(line, "amount"), currency=currency)
        if is_tax_line(line):
            tax = tax + amount
    for line in product_lines(data):
        quantity = wire.integer(line, "quantity")
        start, end = moment(line.get("date_from")), moment(line.get("date_to"))
        lines.append(
            InvoiceLine(
                product_code=codes.get(str(line.get("entity_id")), "UNKNOWN"),
                description=str(line.get("description") or ""),
                quantity=quantity,
                unit_amount=Money(amount=wire.integer(line, "unit_amount"), currency=currency),
                amount=Money(amount=wire.integer(line, "amount"), currency=currency),
                period_start=start.date() if start else None,
                period_end=end.date() if end else None,
            )
        )
    adjustments = adjustments_of(data, codes)
    if not lines and not adjustments:
        raise ValueError(f"invoice {data['id']} bills no product")
    meta = wire.meta_data(subscription or {})
    tax_line = next((line for line in wire.records_in(data, "line_items") if is_tax_line(line)), None)
    document = str(tax_line["description"])[len(TAX_PREFIX) + 2 : -1] if tax_line else None
    refs = {SYSTEM: data["id"], **({SAGA_REF: saga} if saga else {})}
    issued = moment(data.get("date")) or datetime.now(UTC)
    due = moment(data.get("due_date")) or issued
    return Invoice(
        golden_customer_id=meta.get(META_GOLDEN_ID, ""),
        legal_entity=meta.get(META_LEGAL_ENTITY, ""),
        currency=currency,
        issue_date=issued.date(),
        due_date=due.date(),
        lines=lines,
        adjustments=adjustments,
        tax=tax,
        tax_document_code=document or None,
        number=data["id"],
        status=invoice_status(wire.text(data, "status")),
        external_refs=refs,
        finalized_at=moment(data.get("generated_at")),
    )


def invoice_status(status: str) -> str:
    """Chargebee's invoice status in the canonical words (draft, open, paid, void)."""
    return {"pending": "draft", "voided": "void", "paid": "paid"}.get(status, "open")


def payment_from(invoice: Record, transaction: Record | None) -> Payment:
    currency = wire.currency(invoice, "currency_code")
    if transaction is None:
        return Payment(
            invoice_id=invoice["id"],
            amount=Money(amount=wire.integer(invoice, "amount_paid"), currency=currency),
            status=PaymentStatus.SUCCEEDED,
        )
    status = {"success": PaymentStatus.SUCCEEDED, "in_progress": PaymentStatus.PENDING}.get(
        str(transaction.get("status")), PaymentStatus.FAILED
    )
    return Payment(
        invoice_id=invoice["id"],
        amount=Money(amount=wire.integer(transaction, "amount"), currency=currency),
        status=status,
        external_refs={SYSTEM: transaction["id"]},
        settled_at=moment(transaction.get("date")) if status is PaymentStatus.SUCCEEDED else None,
    )


def day(value: date) -> int:
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())


def address_of(row: Record) -> Address | None:
    """A Chargebee billing address as the canonical one; None when it lacks what an address needs."""
    try:
        return Address(
            line1=str(row.get("line1") or ""),
            line2=row.get("line2") if isinstance(row.get("line2"), str) else None,
            city=str(row.get("city") or ""),
            region=row.get("state_code") if isinstance(row.get("state_code"), str) else None,
            postal_code=str(row.get("zip") or ""),
            country=str(row.get("country") or ""),
        )
    except ValueError:
        return None
