"""Customers, products and prices: the records subscriptions and invoices refer to."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.forms import Params
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.meters import check_metered_price
from sandbox.stripe.state import Call, list_object, now

ADDRESS_FIELDS = frozenset({"line1", "line2", "city", "state", "postal_code", "country"})
CUSTOMER_UPDATE = frozenset(
    {"name", "email", "description", "phone", "metadata", "address", "invoice_settings", "preferred_locales"}
)
CUSTOMER_CREATE = CUSTOMER_UPDATE | {"payment_method", "test_clock"}
CUSTOMER_SEARCH = frozenset({"query", "limit", "page"})
CUSTOMER_LIST = PAGING | {"email", "test_clock"}
PRODUCT_LIST = PAGING | {"active", "ids"}
PRODUCT_CREATE = frozenset({"id", "name", "description", "active", "metadata", "tax_code", "unit_label"})
PRICE_CREATE = frozenset(
    {
        "product",
        "unit_amount",
        "currency",
        "recurring",
        "lookup_key",
        "transfer_lookup_key",
        "nickname",
        "metadata",
        "active",
    }
)
PRICE_LIST = PAGING | {"lookup_keys", "product", "active", "currency"}

_SEARCH = re.compile(r"""^\s*metadata\[(['"])(?P<key>[^'"]+)\1\]\s*:\s*(['"])(?P<value>[^'"]*)\3\s*$""")
_SEARCH_FIELD = re.compile(r"""^\s*(?P<field>email|name)\s*:\s*(['"])(?P<value>[^'"]*)\2\s*$""")


def merge_metadata(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """Stripe merges metadata key by key; an empty value deletes the key."""
    merged = {**current, **update}
    return {k: v for k, v in merged.items() if v != ""}


def _address(params: Params) -> dict[str, Any] | None:
    sub = params.obj("address", ADDRESS_FIELDS)
    if sub is None:
        return None
    return {name: sub.text(name) for name in sorted(ADDRESS_FIELDS)}


def _apply_customer_fields(customer: dict[str, Any], params: Params) -> None:
    for name in ("name", "email", "description", "phone"):
        if name in params.values:
            customer[name] = params.text(name)
    if "address" in params.values:
        customer["address"] = _address(params)
    if params.has("preferred_locales"):
        customer["preferred_locales"] = params.strings("preferred_locales")
    customer["metadata"] = merge_metadata(customer["metadata"], params.metadata())
    settings = params.obj("invoice_settings", frozenset({"default_payment_method", "footer"}))
    if settings is not None:
        if "default_payment_method" in settings.values:
            customer["invoice_settings"]["default_payment_method"] = settings.text("default_payment_method")
        if "footer" in settings.values:
            customer["invoice_settings"]["footer"] = settings.text("footer")


def create_customer(call: Call) -> dict[str, Any]:
    """With `test_clock`, the customer (and all it later owns) lives on that clock's time, as at Stripe."""
    state, params = call.state, call.params
    clock_id = params.text("test_clock")
    if clock_id is not None:
        state.get("test_clocks", clock_id, param="test_clock")
    customer: dict[str, Any] = {
        "id": state.new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": clock_id,
        # Payment methods attached with `payment_method`; test tokens (pm_card_visa, ...) are kept as ids.
        "_payment_methods": [],
    }
    _apply_customer_fields(customer, params)
    attached = params.text("payment_method")
    if attached:
        customer["_payment_methods"].append(attached)
    return state.add("customers", customer)


def update_customer(call: Call, customer_id: str) -> dict[str, Any]:
    customer = call.state.get("customers", customer_id)
    _apply_customer_fields(customer, call.params)
    return customer


def get_customer(call: Call, customer_id: str) -> dict[str, Any]:
    return call.state.get("customers", customer_id)


def search_customers(call: Call) -> dict[str, Any]:
    """Stripe's search language as far as c2c and its tests need it: clauses `metadata['key']:'value'`,
    `email:'…'` and `name:'…'` (exact match) joined by AND; newest first, `limit` (1-100, default 10) per page and
    `page` (the previous page's `next_page`) for the rest."""
    params = call.params
    query = params.req("query")
    clauses = [_clause(part) for part in re.split(r"\s+AND\s+", query.strip())]
    limit = params.integer("limit", minimum=1) or 10
    if limit > 100:
        raise InvalidParams("Invalid integer: limit must be at most 100", param="limit")
    cursor = params.text("page")
    start = _page_start(cursor)
    found = [
        c
        for c in reversed(call.state.objects["customers"].values())
        if all(_field(c, name) == value for name, value in clauses)
    ]
    result = list_object(found[start : start + limit], "/v1/customers/search")
    more = start + limit < len(found)
    result.update(object="search_result", has_more=more, next_page=f"page_{start + limit}" if more else None)
    result["total_count"] = len(found)
    return result


def _clause(text: str) -> tuple[str, str]:
    """One `field:'value'` clause as (field, value); `metadata['key']` as `metadata.key`."""
    match = _SEARCH.match(text) or _SEARCH_FIELD.match(text)
    if match is None:
        raise InvalidParams(
            f"Invalid query: {text!r}. This emulator understands metadata['key']:'value', email:'…' and "
            "name:'…' joined by AND.",
            param="query",
        )
    return (f"metadata.{match['key']}" if "key" in match.groupdict() else match["field"]), match["value"]


def _field(customer: dict[str, Any], name: str) -> Any:
    if name.startswith("metadata."):
        return customer["metadata"].get(name.removeprefix("metadata."))
    return customer[name]


def _page_start(cursor: str | None) -> int:
    if cursor is None:
        return 0
    number = cursor.removeprefix("page_")
    if not cursor.startswith("page_") or not number.isdecimal():
        raise InvalidParams(f"Invalid page: {cursor!r}; pass the next_page of the previous result.", param="page")
    return int(number)


def list_customers(call: Call) -> dict[str, Any]:
    """`GET /v1/customers`: newest first, filtered by `email` (exact) and `test_clock`, paged like every list."""
    email, clock = call.params.text("email"), call.params.text("test_clock")
    found = [
        c
        for c in call.state.objects["customers"].values()
        if email in (None, c["email"]) and clock in (None, c["test_clock"])
    ]
    return page(call, "customers", found, "/v1/customers")


def list_products(call: Call) -> dict[str, Any]:
    """`GET /v1/products`: newest first, filtered by `active` and `ids[]`, paged like every list."""
    active, ids = call.params.flag("active"), set(call.params.strings("ids"))
    found = [
        p
        for p in call.state.objects["products"].values()
        if active in (None, p["active"]) and (not ids or p["id"] in ids)
    ]
    return page(call, "products", found, "/v1/products")


def create_product(call: Call) -> dict[str, Any]:
    state, params = call.state, call.params
    product_id = params.text("id") or state.new_id("prod", 14)
    if product_id in state.objects["products"]:
        raise invalid("Product already exists.", code="resource_already_exists", param="id")
    created = now()
    product: dict[str, Any] = {
        "id": product_id,
        "object": "product",
        "active": params.flag("active") is not False,
        "created": created,
        "description": params.text("description"),
        "images": [],
        "livemode": False,
        "metadata": merge_metadata({}, params.metadata()),
        "name": params.req("name"),
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": params.text("tax_code"),
        "unit_label": params.text("unit_label"),
        "updated": created,
        "url": None,
    }
    return state.add("products", product)


def get_product(call: Call, product_id: str) -> dict[str, Any]:
    return call.state.get("products", product_id)


def create_price(call: Call) -> dict[str, Any]:
    state, params = call.state, call.params
    currency = require_currency(params.req("currency"), "currency")
    unit_amount = params.integer("unit_amount", required=True, minimum=0)
    product_id = params.req("product")
    recurring = params.obj("recurring", frozenset({"interval", "interval_count", "usage_type", "meter"}))
    interval = recurring.req("interval", choices=("day", "week", "month", "year")) if recurring else None
    interval_count = (recurring.integer("interval_count", minimum=1) if recurring else None) or 1
    usage_type = (recurring.text("usage_type", choices=("licensed", "metered")) if recurring else None) or "licensed"
    meter = recurring.text("meter") if recurring else None
    lookup_key = params.text("lookup_key")
    transfer = params.flag("transfer_lookup_key") is True
    state.get("products", product_id, param="product")
    if interval:
        check_metered_price(state, {"usage_type": usage_type, "meter": meter})
    if lookup_key is not None:
        holder = next((p for p in state.objects["prices"].values() if p["lookup_key"] == lookup_key), None)
        if holder is not None:
            if not transfer:
                raise invalid(
                    f"A price (`{holder['id']}`) already uses that lookup key.",
                    code="resource_already_exists",
                    param="lookup_key",
                )
            holder["lookup_key"] = None
    price = {
        "id": state.new_id("price"),
        "object": "price",
        "active": params.flag("active") is not False,
        "billing_scheme": "per_unit",
        "created": now(),
        "currency": currency,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": merge_metadata({}, params.metadata()),
        "nickname": params.text("nickname"),
        "product": product_id,
        "recurring": (
            {
                "aggregate_usage": None,
                "interval": interval,
                "interval_count": interval_count,
                # `meter` came with Billing Meters (after 2020-08-27): only a metered price shows it
                **({"meter": meter} if usage_type == "metered" else {}),
                "usage_type": usage_type,
            }
            if interval
            else None
        ),
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if interval else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    return state.add("prices", price)


def get_price(call: Call, price_id: str) -> dict[str, Any]:
    return call.state.get("prices", price_id)


def list_prices(call: Call) -> dict[str, Any]:
    """`GET /v1/prices`: newest first, filtered by `lookup_keys[]`, `product`, `currency` and `active`, paged like
    every list."""
    params = call.params
    keys = params.strings("lookup_keys")
    product = params.text("product")
    currency = params.text("currency")
    active = params.flag("active")
    found = [
        p
        for p in call.state.objects["prices"].values()
        if (not keys or p["lookup_key"] in keys)
        and (product is None or p["product"] == product)
        and (currency is None or p["currency"] == currency.lower())
        and (active is None or p["active"] is active)
    ]
    return page(call, "prices", found, "/v1/prices")


def payment_method_of(customer: dict[str, Any]) -> str:
    """The card an invoice payment uses: the default, else the first attached, else `pm_card_visa`."""
    default = customer["invoice_settings"]["default_payment_method"]
    return default or next(iter(customer["_payment_methods"]), None) or "pm_card_visa"


def require_currency(value: str, param: str) -> str:
    if not re.fullmatch(r"[a-zA-Z]{3}", value):
        raise InvalidParams(f"Invalid currency: {value}", param=param, code="parameter_invalid_string")
    return value.lower()
