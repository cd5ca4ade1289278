"""Customers and the product catalog 2.0 (item families, items of type plan / addon / charge, item prices)."""

from __future__ import annotations

from sandbox.chargebee import wire
from sandbox.chargebee.state import Record, Site, now, touch
from sandbox.chargebee.wire import ApiError

CURRENCIES = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2, "CAD": 2, "AUD": 2, "BHD": 3}
PERIOD_UNITS = ("day", "week", "month", "year")
ADDRESS_FIELDS = ("first_name", "last_name", "company", "line1", "line2", "city", "state_code", "zip", "country")


def _duplicate(kind: str, record_id: str) -> ApiError:
    return ApiError(
        400, "duplicate_entry", f"The value {record_id} is already present.", param="id", error_code="param_not_unique"
    )


def currency(form: Record, name: str = "currency_code", *, required: bool = True) -> str | None:
    value = wire.text(form, name, required=required, max_length=3)
    if value is not None and value not in CURRENCIES:
        raise wire.wrong_value(name, f"{name} : {value} is not a currency enabled on this site")
    return value


def _address(form: Record) -> Record | None:
    given = form.get("billing_address")
    if given is None:
        return None
    if not isinstance(given, dict):
        raise wire.wrong_value("billing_address", "billing_address : must be given as billing_address[attribute]")
    address = {name: wire.text(given, name) for name in ADDRESS_FIELDS if wire.text(given, name) is not None}
    country = address.get("country")
    if country is not None and (len(country) != 2 or not country.isupper()):
        raise wire.wrong_value("billing_address[country]", "billing_address[country] : must be an ISO 3166 code")
    return {**address, "validation_status": "not_validated", "object": "billing_address"}


def _payment_method(form: Record) -> Record | None:
    given = form.get("payment_method")
    if given is None:
        return None
    if not isinstance(given, dict):
        raise wire.wrong_value("payment_method", "payment_method : must be given as payment_method[attribute]")
    kind = wire.choice(given, "type", ("card", "direct_debit", "paypal_express_checkout"), default="card")
    reference = wire.text(given, "reference_id", required=True, max_length=200)
    return {
        "type": kind,
        "reference_id": reference,
        "gateway": "chargebee",
        "status": "valid",
        "object": "payment_method",
    }


def create_customer(site: Site, form: Record) -> Record:
    customer_id = wire.record_id(form) or site.new_id("cus")
    if customer_id in site.customers:
        raise _duplicate("customer", customer_id)
    created = now()
    customer: Record = {
        "id": customer_id,
        "object": "customer",
        "created_at": created,
        "deleted": False,
        "auto_collection": wire.choice(form, "auto_collection", ("on", "off"), default="on"),
        "net_term_days": wire.integer(form, "net_term_days", high=365) or 0,
        "allow_direct_debit": False,
        "taxability": wire.choice(form, "taxability", ("taxable", "exempt"), default="taxable"),
        "pii_cleared": "active",
        "channel": "web",
        "card_status": "no_card",
        "promotional_credits": 0,
        "refundable_credits": 0,
        "excess_payments": 0,
        "unbilled_charges": 0,
    }
    _apply_customer(customer, form)
    site.customers[customer_id] = touch(customer)
    site.emit("customer_created", {"customer": customer})
    return customer


def update_customer(site: Site, customer_id: str, form: Record) -> Record:
    customer = get(site.customers, "customer", customer_id)
    if "auto_collection" in form:
        customer["auto_collection"] = wire.choice(form, "auto_collection", ("on", "off"))
    if "net_term_days" in form:
        customer["net_term_days"] = wire.integer(form, "net_term_days", high=365) or 0
    _apply_customer(customer, form)
    touch(customer)
    site.emit("customer_changed", {"customer": customer})
    return customer


def _apply_customer(customer: Record, form: Record) -> None:
    for name, limit in (("first_name", 150), ("last_name", 150), ("email", 70), ("company", 250), ("vat_number", 20)):
        value = wire.text(form, name, max_length=limit)
        if value is not None:
            customer[name] = value
    if "preferred_currency_code" in form:
        customer["preferred_currency_code"] = currency(form, "preferred_currency_code")
    if "meta_data" in form:
        customer["meta_data"] = wire.json_object(form, "meta_data")
    customer.update(wire.custom_fields(form))
    address = _address(form)
    if address is not None:
        customer["billing_address"] = address
    method = _payment_method(form)
    if method is not None:
        customer["payment_method"] = method
        customer["card_status"] = "valid" if method["type"] == "card" else "no_card"
        customer["primary_payment_source_id"] = f"pm_{customer['id']}"


def get(records: dict[str, Record], kind: str, record_id: str) -> Record:
    record = records.get(record_id)
    if record is None or record.get("deleted"):
        raise wire.not_found(kind, record_id)
    return record


def create_item_family(site: Site, form: Record) -> Record:
    family_id = wire.record_id(form)
    if family_id is None:
        raise wire.missing("id")
    if family_id in site.item_families:
        raise _duplicate("item_family", family_id)
    family = {
        "id": family_id,
        "name": wire.text(form, "name", required=True, max_length=50),
        "status": "active",
        "object": "item_family",
    }
    site.item_families[family_id] = touch(family)
    return family


def create_item(site: Site, form: Record) -> Record:
    item_id = wire.record_id(form)
    if item_id is None:
        raise wire.missing("id")
    if item_id in site.items:
        raise _duplicate("item", item_id)
    family_id = wire.text(form, "item_family_id", required=True, max_length=50)
    assert family_id is not None
    get(site.item_families, "item_family", family_id)
    item = {
        "id": item_id,
        "name": wire.text(form, "name", required=True, max_length=100),
        "external_name": wire.text(form, "external_name", max_length=100),
        "type": wire.choice(form, "type", ("plan", "addon", "charge")) or _missing_type(),
        "item_family_id": family_id,
        "status": "active",
        "is_shippable": False,
        "is_giftable": False,
        "enabled_for_checkout": True,
        "enabled_in_portal": True,
        "item_applicability": "all",
        "metered": False,
        "metadata": wire.json_object(form, "metadata") or None,
        "object": "item",
    }
    item.update(wire.custom_fields(form))
    site.items[item_id] = touch({key: value for key, value in item.items() if value is not None})
    return site.items[item_id]


def _missing_type() -> str:
    raise wire.missing("type")


def create_item_price(site: Site, form: Record) -> Record:
    price_id = wire.record_id(form)
    if price_id is None:
        raise wire.missing("id")
    if price_id in site.item_prices:
        raise _duplicate("item_price", price_id)
    item_id = wire.text(form, "item_id", required=True, max_length=50)
    assert item_id is not None
    item = get(site.items, "item", item_id)
    model = wire.choice(form, "pricing_model", ("flat_fee", "per_unit"), default="flat_fee")
    price: Record = {
        "id": price_id,
        "name": wire.text(form, "name", required=True, max_length=100),
        "external_name": wire.text(form, "external_name", max_length=100),
        "item_id": item_id,
        "item_type": item["type"],
        "item_family_id": item["item_family_id"],
        "pricing_model": model,
        "price": wire.integer(form, "price", required=True, high=10**13),
        "currency_code": currency(form),
        "status": "active",
        "free_quantity": 0,
        "is_taxable": True,
        "created_at": now(),
        "metadata": wire.json_object(form, "metadata") or None,
        "object": "item_price",
    }
    if item["type"] != "charge":
        price["period"] = wire.integer(form, "period", required=True, low=1, high=120)
        price["period_unit"] = wire.choice(form, "period_unit", PERIOD_UNITS) or _missing_period_unit()
    price.update(wire.custom_fields(form))
    site.item_prices[price_id] = touch({key: value for key, value in price.items() if value is not None})
    return site.item_prices[price_id]


def _missing_period_unit() -> str:
    raise wire.missing("period_unit")
