"""The Stripe emulator over real HTTP: wire format, idempotency semantics, invoices, fees and webhooks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from sandbox.stripe.errors import InvalidParams
from sandbox.stripe.forms import parse_pairs
from tests.support.stripe_wire import AUTH, CARD_PAID, get, intent_of, open_invoice, post, state


@pytest.fixture
async def url(emulators: Any, http: httpx.AsyncClient) -> str:
    base: str = emulators.url("stripe")
    (await http.post(f"{base}/_sandbox/reset")).raise_for_status()
    (await http.delete(f"{base}/_sandbox/faults")).raise_for_status()
    return base


def test_form_brackets_become_nested_objects_and_arrays() -> None:
    pairs = [
        ("metadata[golden_id]", "gc_1"),
        ("items[1][price]", "price_b"),
        ("items[0][price]", "price_a"),
        ("items[0][quantity]", "2"),
        ("expand[]", "a"),
        ("expand[]", "b"),
        ("name", "Acme"),
    ]

    assert parse_pairs(pairs) == {
        "metadata": {"golden_id": "gc_1"},
        "items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "expand": ["a", "b"],
        "name": "Acme",
    }
    for bad in ([("a[b", "1")], [("a", "1"), ("a[b]", "2")], [("a[][b]", "1")]):
        with pytest.raises(InvalidParams):
            parse_pairs(bad)


async def test_requests_without_a_test_secret_key_are_refused(http: httpx.AsyncClient, url: str) -> None:
    missing = await http.get(f"{url}/v1/customers/cus_x")
    live = await http.get(f"{url}/v1/customers/cus_x", headers={"Authorization": "Bearer sk_live_abcdefgh1234"})
    basic = await http.get(f"{url}/v1/customers/cus_x", auth=("sk_test_basic", ""))

    assert missing.status_code == live.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in missing.json()["error"]["message"]
    assert live.json()["error"]["message"] == "Invalid API Key provided: sk_live_********1234"
    assert basic.status_code == 404
    assert basic.json()["error"]["code"] == "resource_missing"


async def test_same_key_and_params_replay_the_stored_response(http: httpx.AsyncClient, url: str) -> None:
    data = {"name": "Acme", "metadata[golden_id]": "gc_1"}
    first = await post(http, url, "/v1/customers", data, key="k-replay")
    second = await post(http, url, "/v1/customers", data, key="k-replay")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["id"].startswith("cus_")
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Original-Request"] == first.headers["Request-Id"]
    snapshot = await state(http, url)
    assert len(snapshot["customers"]) == 1
    assert snapshot["idempotency_keys"] == 1


async def test_same_key_with_other_params_or_endpoint_is_an_idempotency_error(
    http: httpx.AsyncClient, url: str
) -> None:
    await post(http, url, "/v1/customers", {"name": "Acme"}, key="k-misuse")

    other_params = await post(http, url, "/v1/customers", {"name": "Other"}, key="k-misuse")
    other_endpoint = await post(http, url, "/v1/products", {"name": "Acme"}, key="k-misuse")

    for response in (other_params, other_endpoint):
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "idempotency_error"
    assert len((await state(http, url))["customers"]) == 1


async def test_requests_failing_validation_store_no_result_for_their_key(http: httpx.AsyncClient, url: str) -> None:
    invalid = await post(http, url, "/v1/products", {"description": "no name"}, key="k-valid")
    valid = await post(http, url, "/v1/products", {"name": "Seat"}, key="k-valid")

    assert invalid.status_code == 400
    assert invalid.json()["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_missing",
        "message": "Missing required param: name.",
        "param": "name",
    }
    assert valid.status_code == 200
    assert "Idempotent-Replayed" not in valid.headers


async def test_unknown_parameters_and_urls_get_stripe_errors(http: httpx.AsyncClient, url: str) -> None:
    unknown_param = await post(http, url, "/v1/customers", {"nmae": "typo"})
    price = {"product": "prod_x", "currency": "usd", "unit_amount": "1", "recurring[intervall]": "month"}
    unknown_nested = await post(http, url, "/v1/prices", price)
    unknown_url = await get(http, url, "/v1/nothing_here")

    assert unknown_param.status_code == 400
    assert unknown_param.json()["error"]["code"] == "parameter_unknown"
    assert unknown_param.json()["error"]["param"] == "nmae"
    assert unknown_nested.json()["error"]["param"] == "recurring[intervall]"
    assert unknown_url.status_code == 404
    assert unknown_url.json()["error"]["message"] == "Unrecognized request URL (GET: /v1/nothing_here)."


async def test_missing_objects_are_404_in_the_url_and_400_in_a_parameter(http: httpx.AsyncClient, url: str) -> None:
    in_url = await get(http, url, "/v1/invoices/in_nope")
    in_param = await post(http, url, "/v1/invoices", {"customer": "cus_nope"})

    assert in_url.status_code == 404
    assert in_url.json()["error"]["message"] == "No such invoice: 'in_nope'"
    assert in_param.status_code == 400
    assert in_param.json()["error"]["param"] == "customer"
    assert in_param.json()["error"]["code"] == "resource_missing"


async def test_customer_search_matches_metadata_email_and_name_equality_only(http: httpx.AsyncClient, url: str) -> None:
    wanted = (await post(http, url, "/v1/customers", {"metadata[golden_id]": "gc_a", "email": "a@b.c"})).json()
    await post(http, url, "/v1/customers", {"metadata[golden_id]": "gc_b", "email": "a@b.c"})

    found = await get(http, url, "/v1/customers/search", params={"query": "metadata['golden_id']:'gc_a'"})
    both = await get(
        http, url, "/v1/customers/search", params={"query": "email:'a@b.c' AND metadata['golden_id']:'gc_a'"}
    )
    unsupported = await get(http, url, "/v1/customers/search", params={"query": "created>1000"})

    assert found.json()["object"] == "search_result"
    assert [c["id"] for c in found.json()["data"]] == [wanted["id"]]
    assert [c["id"] for c in both.json()["data"]] == [wanted["id"]]
    assert unsupported.status_code == 400
    assert unsupported.json()["error"]["param"] == "query"


async def test_lookup_keys_are_unique_unless_transferred(http: httpx.AsyncClient, url: str) -> None:
    await post(http, url, "/v1/products", {"id": "prod_seat", "name": "Seat"})
    price = {
        "product": "prod_seat",
        "unit_amount": "4900",
        "currency": "usd",
        "recurring[interval]": "month",
        "lookup_key": "seat-monthly",
    }
    first = (await post(http, url, "/v1/prices", price)).json()
    clash = await post(http, url, "/v1/prices", {**price, "unit_amount": "5900"})
    moved = await post(http, url, "/v1/prices", {**price, "unit_amount": "5900", "transfer_lookup_key": "true"})
    listed = await get(http, url, "/v1/prices", params={"lookup_keys[]": "seat-monthly"})

    assert clash.status_code == 400
    assert clash.json()["error"]["code"] == "resource_already_exists"
    assert [p["id"] for p in listed.json()["data"]] == [moved.json()["id"]]
    assert (await get(http, url, f"/v1/prices/{first['id']}")).json()["lookup_key"] is None


async def recurring_price(
    http: httpx.AsyncClient, url: str, amount: int, currency: str = "usd", interval: str = "month", count: int = 1
) -> dict[str, Any]:
    """A recurring price of the product `prod_seat` ("Seat"), created once."""
    await post(http, url, "/v1/products", {"id": "prod_seat", "name": "Seat"})
    price = {
        "product": "prod_seat",
        "unit_amount": str(amount),
        "currency": currency,
        "recurring[interval]": interval,
        "recurring[interval_count]": str(count),
    }
    result: dict[str, Any] = (await post(http, url, "/v1/prices", price)).json()
    return result


async def subscribe(
    http: httpx.AsyncClient,
    url: str,
    price: dict[str, Any],
    extra: dict[str, str] | None = None,
    *,
    quantity: int = 3,
    payment_method: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A customer (with `payment_method` as its default) and a subscription to `price` with `extra` parameters,
    its first invoice expanded: (customer, subscription)."""
    extra = extra or {}
    card = {"invoice_settings[default_payment_method]": payment_method} if payment_method else {}
    customer = (await post(http, url, "/v1/customers", {"name": "Acme", **card})).json()
    items = {"customer": customer["id"], "items[0][price]": price["id"], "items[0][quantity]": str(quantity)}
    created = await post(http, url, "/v1/subscriptions", {**items, **extra, "expand[]": "latest_invoice"})
    assert created.status_code == 200, created.text
    return customer, created.json()


SEND_INVOICE = {"collection_method": "send_invoice", "days_until_due": "30"}


async def test_subscription_is_active_for_one_period_and_cancels(http: httpx.AsyncClient, url: str) -> None:
    price = await recurring_price(http, url, 4_900, interval="year")
    customer, created = await subscribe(http, url, price, SEND_INVOICE)
    items = {"customer": customer["id"], "items[0][price]": price["id"], "items[1][price]": price["id"]}
    twice = await post(http, url, "/v1/subscriptions", items)
    cancelled = await http.delete(f"{url}/v1/subscriptions/{created['id']}", headers=AUTH)

    assert created["status"] == "active"
    assert created["items"]["data"][0]["quantity"] == 3
    assert 365 <= (created["current_period_end"] - created["current_period_start"]) // 86_400 <= 366
    assert twice.status_code == 400
    assert cancelled.json()["status"] == "canceled"


async def test_send_invoice_subscription_drafts_its_first_invoice_for_the_first_period(
    http: httpx.AsyncClient, url: str
) -> None:
    price = await recurring_price(http, url, 4_900)
    _, subscription = await subscribe(http, url, price, {**SEND_INVOICE, "metadata[deal_id]": "006A"})
    first = subscription["latest_invoice"]  # expanded

    assert (first["status"], first["billing_reason"], first["subscription"]) == (
        "draft",
        "subscription_create",
        subscription["id"],
    )
    assert (first["collection_method"], first["auto_advance"], first["number"]) == ("send_invoice", True, None)
    assert first["due_date"] == first["created"] + 30 * 86_400
    [line] = first["lines"]["data"]
    assert (line["type"], line["price"]["id"], line["quantity"], line["amount"]) == (
        "subscription",
        price["id"],
        3,
        14_700,
    )
    assert line["subscription_item"] == subscription["items"]["data"][0]["id"]
    assert line["period"] == {"start": subscription["current_period_start"], "end": subscription["current_period_end"]}
    assert line["description"] == "3 × Seat (at $49.00 / month)"
    assert line["metadata"] == {"deal_id": "006A"}  # a subscription line reflects the subscription's metadata
    assert (first["subtotal"], first["total"], first["amount_due"]) == (14_700, 14_700, 14_700)
    snapshot = await state(http, url)
    assert [i["id"] for i in snapshot["invoices"]] == [first["id"]]
    assert snapshot["subscriptions"][0]["latest_invoice"] == first["id"]
    assert snapshot["events"] == []  # nothing happened to collect: the emulator never finalizes on its own


async def test_first_invoice_takes_items_then_finalizes_and_is_paid_with_the_default_card(
    http: httpx.AsyncClient, url: str
) -> None:
    price = await recurring_price(http, url, 4_900)
    customer, subscription = await subscribe(http, url, price, SEND_INVOICE)
    first = subscription["latest_invoice"]
    item = {"customer": customer["id"], "invoice": first["id"], "currency": "usd", "amount": "1000"}

    added = await post(http, url, "/v1/invoiceitems", item)
    deleted = await http.delete(f"{url}/v1/invoices/{first['id']}", headers=AUTH)
    finalized = (await post(http, url, f"/v1/invoices/{first['id']}/finalize")).json()
    paid = (await post(http, url, f"/v1/invoices/{first['id']}/pay")).json()

    assert added.status_code == 200
    assert deleted.status_code == 400
    assert deleted.json()["error"]["message"] == "You can't delete invoices created by subscriptions."
    assert (finalized["status"], finalized["total"]) == ("open", 15_700)
    assert [line["type"] for line in finalized["lines"]["data"]] == ["subscription", "invoiceitem"]
    assert (paid["status"], paid["amount_paid"]) == ("paid", 15_700)
    snapshot = await state(http, url)
    assert len(snapshot["invoices"]) == 1
    assert snapshot["payment_intents"][0]["payment_method"] == "pm_card_visa"


async def test_first_invoice_sweeps_in_the_customers_pending_items(http: httpx.AsyncClient, url: str) -> None:
    price = await recurring_price(http, url, 4_900)
    customer = (await post(http, url, "/v1/customers", {"name": "Acme"})).json()
    pending = {"customer": customer["id"], "currency": "usd", "amount": "2500", "description": "Setup"}
    item = (await post(http, url, "/v1/invoiceitems", pending)).json()
    items = {"customer": customer["id"], "items[0][price]": price["id"], "expand[]": "latest_invoice", **SEND_INVOICE}

    subscription = (await post(http, url, "/v1/subscriptions", items)).json()

    first = subscription["latest_invoice"]
    assert [(line["type"], line["amount"]) for line in first["lines"]["data"]] == [
        ("subscription", 4_900),
        ("invoiceitem", 2_500),
    ]
    assert (await state(http, url))["invoiceitems"][0]["invoice"] == first["id"] != item["invoice"]


@pytest.mark.parametrize(
    ("amount", "currency", "interval", "count", "description"),
    [
        (720_000, "jpy", "year", 1, "2 × Seat (at ¥720,000 / year)"),
        (1_050, "eur", "month", 3, "2 × Seat (at €10.50 / every 3 months)"),
        (1_000, "sek", "week", 1, "2 × Seat (at 10.00 SEK / week)"),
    ],
)
async def test_subscription_lines_describe_the_price_as_stripe_does(
    http: httpx.AsyncClient, url: str, amount: int, currency: str, interval: str, count: int, description: str
) -> None:
    price = await recurring_price(http, url, amount, currency, interval, count)
    _, subscription = await subscribe(http, url, price, SEND_INVOICE, quantity=2)

    assert subscription["latest_invoice"]["lines"]["data"][0]["description"] == description


async def test_charge_automatically_subscription_pays_its_first_invoice_at_once(
    http: httpx.AsyncClient, url: str
) -> None:
    price = await recurring_price(http, url, 4_900)
    _, subscription = await subscribe(http, url, price)

    first = subscription["latest_invoice"]
    assert subscription["status"] == "active"
    assert (first["status"], first["billing_reason"], first["amount_paid"], first["due_date"]) == (
        "paid",
        "subscription_create",
        14_700,
        None,
    )
    assert [e["type"] for e in (await state(http, url))["events"]] == ["invoice.finalized", *CARD_PAID]


async def test_charge_automatically_subscription_with_a_declined_card_is_incomplete_until_paid(
    http: httpx.AsyncClient, url: str
) -> None:
    price = await recurring_price(http, url, 4_900)
    customer, subscription = await subscribe(http, url, price, payment_method="pm_card_chargeDeclined")
    first = subscription["latest_invoice"]

    await post(
        http, url, f"/v1/customers/{customer['id']}", {"invoice_settings[default_payment_method]": "pm_card_visa"}
    )
    paid = await post(http, url, f"/v1/invoices/{first['id']}/pay")

    assert subscription["status"] == "incomplete"  # allow_incomplete: created, 200, not a 402
    assert (first["status"], first["attempt_count"]) == ("open", 1)
    assert paid.json()["status"] == "paid"
    assert (await get(http, url, f"/v1/subscriptions/{subscription['id']}")).json()["status"] == "active"


async def test_updating_an_invoice_merges_metadata_and_freezes_other_fields_once_finalized(
    http: httpx.AsyncClient, url: str
) -> None:
    price = await recurring_price(http, url, 4_900)
    _, subscription = await subscribe(http, url, price, SEND_INVOICE)
    path = f"/v1/invoices/{subscription['latest_invoice']['id']}"

    held = (await post(http, url, path, {"auto_advance": "false", "metadata[a]": "1", "metadata[b]": "2"})).json()
    merged = (await post(http, url, path, {"metadata[b]": "", "metadata[c]": "3", "footer": "Thanks"})).json()
    await post(http, url, f"{path}/finalize")
    frozen = await post(http, url, path, {"footer": "Too late"})
    after = await post(http, url, path, {"metadata": ""})

    assert held["auto_advance"] is False
    assert (merged["metadata"], merged["footer"]) == ({"a": "1", "c": "3"}, "Thanks")
    assert frozen.status_code == 400
    assert frozen.json()["error"]["code"] == "invoice_not_editable"
    assert (after.status_code, after.json()["metadata"]) == (200, {})


async def test_cancelling_stops_automatic_collection_of_the_customers_open_invoices(
    http: httpx.AsyncClient, url: str
) -> None:
    price = await recurring_price(http, url, 4_900)
    _, subscription = await subscribe(http, url, price, SEND_INVOICE)
    first = subscription["latest_invoice"]
    await post(http, url, f"/v1/invoices/{first['id']}/finalize")

    await http.delete(f"{url}/v1/subscriptions/{subscription['id']}", headers=AUTH)

    invoice = (await get(http, url, f"/v1/invoices/{first['id']}")).json()
    assert (invoice["status"], invoice["auto_advance"]) == ("open", False)


@pytest.mark.parametrize(
    ("amount", "currency", "fee"),
    [
        (10_000, "usd", 320),  # 290 + 30
        (500, "usd", 44),  # 14.5 rounds half-even to 14, + 30
        (12_345, "jpy", 444),  # 3.6% = 444.42
        (125, "jpy", 4),  # 4.5 rounds half-even to 4
    ],
)
async def test_paying_an_invoice_books_stripe_fees_on_the_balance_transaction(
    http: httpx.AsyncClient, url: str, amount: int, currency: str, fee: int
) -> None:
    invoice = await open_invoice(http, url, amount, currency)

    paid = (await post(http, url, f"/v1/invoices/{invoice['id']}/pay", key=f"pay-{amount}")).json()
    intent = await get(
        http,
        url,
        f"/v1/payment_intents/{paid['payment_intent']}",
        params={"expand[]": "charges.data.balance_transaction"},
    )

    assert (paid["status"], paid["paid"], paid["amount_paid"], paid["amount_remaining"]) == ("paid", True, amount, 0)
    [charge] = intent.json()["charges"]["data"]
    assert charge["id"] == paid["charge"]
    assert charge["paid"] is True
    txn = charge["balance_transaction"]
    assert (txn["amount"], txn["fee"], txn["net"], txn["currency"]) == (amount, fee, amount - fee, currency)


async def test_newer_api_versions_see_latest_charge_instead_of_the_charges_list(
    http: httpx.AsyncClient, url: str
) -> None:
    invoice = await open_invoice(http, url, 1_000)
    paid = (await post(http, url, f"/v1/invoices/{invoice['id']}/pay")).json()

    intent = await get(
        http,
        url,
        f"/v1/payment_intents/{paid['payment_intent']}",
        params={"expand[]": "latest_charge.balance_transaction"},
        headers={"Stripe-Version": "2022-11-15"},
    )

    assert "charges" not in intent.json()
    assert intent.json()["latest_charge"]["balance_transaction"]["fee"] == 59


@pytest.mark.parametrize(
    ("payment_method", "decline_code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
async def test_declines_are_402_card_errors_stored_for_the_key(
    http: httpx.AsyncClient, url: str, payment_method: str, decline_code: str
) -> None:
    invoice = await open_invoice(http, url, 2_000, payment_method=payment_method)

    first = await post(http, url, f"/v1/invoices/{invoice['id']}/pay", key="pay-declined")
    replay = await post(http, url, f"/v1/invoices/{invoice['id']}/pay", key="pay-declined")

    assert first.status_code == replay.status_code == 402
    error = first.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", decline_code)
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    snapshot = await state(http, url)
    assert len(snapshot["payment_intents"]) == 1
    assert snapshot["payment_intents"][0]["status"] == "requires_payment_method"
    assert snapshot["invoices"][0]["status"] == "open"
    assert snapshot["invoices"][0]["attempt_count"] == 1


async def test_invoice_status_machine_refuses_impossible_moves(http: httpx.AsyncClient, url: str) -> None:
    paid = await open_invoice(http, url, 1_000)
    await post(http, url, f"/v1/invoices/{paid['id']}/pay")
    voided = await open_invoice(http, url, 1_000)
    await post(http, url, f"/v1/invoices/{voided['id']}/void")

    refusals = {
        "pay paid": await post(http, url, f"/v1/invoices/{paid['id']}/pay"),
        "void paid": await post(http, url, f"/v1/invoices/{paid['id']}/void"),
        "pay void": await post(http, url, f"/v1/invoices/{voided['id']}/pay"),
        "refinalize": await post(http, url, f"/v1/invoices/{voided['id']}/finalize"),
        "item on open": await post(
            http,
            url,
            "/v1/invoiceitems",
            {"customer": paid["customer"], "invoice": paid["id"], "currency": "usd", "amount": "5"},
        ),
    }

    codes = {name: (r.status_code, r.json()["error"].get("code")) for name, r in refusals.items()}
    assert codes == {
        "pay paid": (400, "invoice_already_paid"),
        "void paid": (400, "invoice_not_open"),
        "pay void": (400, "invoice_not_open"),
        "refinalize": (400, "invoice_not_editable"),
        "item on open": (400, "invoice_not_editable"),
    }


async def test_paying_a_draft_finalizes_it_first(http: httpx.AsyncClient, url: str) -> None:
    customer = (await post(http, url, "/v1/customers", {"name": "Acme"})).json()
    draft = (await post(http, url, "/v1/invoices", {"customer": customer["id"]})).json()
    await post(
        http,
        url,
        "/v1/invoiceitems",
        {"customer": customer["id"], "invoice": draft["id"], "currency": "usd", "unit_amount": "250", "quantity": "4"},
    )

    paid = (await post(http, url, f"/v1/invoices/{draft['id']}/pay")).json()

    assert (paid["status"], paid["total"], paid["number"]) == ("paid", 1_000, f"{customer['invoice_prefix']}-0001")
    assert [e["type"] for e in (await state(http, url))["events"]] == ["invoice.finalized", *CARD_PAID]


async def test_credit_notes_reduce_what_is_due_or_credit_the_balance(http: httpx.AsyncClient, url: str) -> None:
    open_one = await open_invoice(http, url, 1_000)
    paid_one = await open_invoice(http, url, 2_000)
    await post(http, url, f"/v1/invoices/{paid_one['id']}/pay")

    pre = (
        await post(
            http, url, "/v1/credit_notes", {"invoice": open_one["id"], "amount": "300", "reason": "order_change"}
        )
    ).json()
    post_payment = (await post(http, url, "/v1/credit_notes", {"invoice": paid_one["id"], "amount": "500"})).json()
    too_much = await post(http, url, "/v1/credit_notes", {"invoice": open_one["id"], "amount": "701"})
    rest = (await post(http, url, "/v1/credit_notes", {"invoice": open_one["id"], "amount": "700"})).json()

    assert (pre["type"], post_payment["type"]) == ("pre_payment", "post_payment")
    assert rest["number"].endswith("-CN-02")
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    snapshot = await state(http, url)
    invoices = {i["id"]: i for i in snapshot["invoices"]}
    credited = invoices[open_one["id"]]
    assert (credited["status"], credited["amount_due"], credited["pre_payment_credit_notes_amount"]) == (
        "paid",
        0,
        1_000,
    )
    assert invoices[paid_one["id"]]["post_payment_credit_notes_amount"] == 500
    balances = {c["id"]: c["balance"] for c in snapshot["customers"]}
    assert balances[paid_one["customer"]] == -500


async def test_sending_an_invoice_emits_invoice_sent_once_per_key_and_refuses_drafts_and_void_ones(
    http: httpx.AsyncClient, url: str
) -> None:
    invoice = await open_invoice(http, url, 1_000)
    customer = (await post(http, url, "/v1/customers", {"name": "Draft Co"})).json()
    draft = (await post(http, url, "/v1/invoices", {"customer": customer["id"]})).json()
    voided = await open_invoice(http, url, 500)
    await post(http, url, f"/v1/invoices/{voided['id']}/void")
    path = f"/v1/invoices/{invoice['id']}/send"

    sent = await post(http, url, path, key="send-1")
    replayed = await post(http, url, path, key="send-1")
    reminder = await post(http, url, path, key="send-2")
    await post(http, url, f"/v1/invoices/{invoice['id']}/pay")
    paid_sent = await post(http, url, path, key="send-3")  # Stripe sends paid invoices too (no payment mention)
    refused = {
        "draft": await post(http, url, f"/v1/invoices/{draft['id']}/send"),
        "void": await post(http, url, f"/v1/invoices/{voided['id']}/send"),
    }

    assert (sent.status_code, sent.json()["status"]) == (200, "open")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert (reminder.status_code, paid_sent.json()["status"]) == (200, "paid")
    assert {k: (r.status_code, r.json()["error"]["code"]) for k, r in refused.items()} == {
        "draft": (400, "invoice_not_open"),
        "void": (400, "invoice_not_open"),
    }
    events = (await state(http, url))["events"]
    sent_events = [e for e in events if e["type"] == "invoice.sent"]
    assert [e["request"]["idempotency_key"] for e in sent_events] == ["send-1", "send-2", "send-3"]
    assert [e["data"]["object"]["status"] for e in sent_events] == ["open", "open", "paid"]


async def test_an_uncollectible_invoice_can_still_be_paid_or_voided_but_not_marked_twice(
    http: httpx.AsyncClient, url: str
) -> None:
    to_pay, to_void, paid = [await open_invoice(http, url, amount) for amount in (1_000, 2_000, 3_000)]
    await post(http, url, f"/v1/invoices/{paid['id']}/pay")

    marked = await post(http, url, f"/v1/invoices/{to_pay['id']}/mark_uncollectible", key="bad-debt")
    replayed = await post(http, url, f"/v1/invoices/{to_pay['id']}/mark_uncollectible", key="bad-debt")
    twice = await post(http, url, f"/v1/invoices/{to_pay['id']}/mark_uncollectible")
    of_paid = await post(http, url, f"/v1/invoices/{paid['id']}/mark_uncollectible")
    late_payment = await post(http, url, f"/v1/invoices/{to_pay['id']}/pay")
    await post(http, url, f"/v1/invoices/{to_void['id']}/mark_uncollectible")
    written_off = await post(http, url, f"/v1/invoices/{to_void['id']}/void")

    bad_debt = marked.json()
    assert (bad_debt["status"], bad_debt["auto_advance"], bad_debt["amount_remaining"]) == (
        "uncollectible",
        False,
        1_000,
    )
    assert bad_debt["status_transitions"]["marked_uncollectible_at"] is not None
    assert replayed.json() == bad_debt
    for refusal in (twice, of_paid):
        assert (refusal.status_code, refusal.json()["error"]["code"]) == (400, "invoice_not_open")
    assert (late_payment.json()["status"], late_payment.json()["amount_paid"]) == ("paid", 1_000)
    assert written_off.json()["status"] == "void"
    types = [e["type"] for e in (await state(http, url))["events"]]
    assert types.count("invoice.marked_uncollectible") == 2
    assert types[-2:] == ["invoice.marked_uncollectible", "invoice.voided"]


async def test_crediting_an_uncollectible_invoice_reduces_what_is_due_and_crediting_the_rest_settles_it(
    http: httpx.AsyncClient, url: str
) -> None:
    invoice = await open_invoice(http, url, 1_000)
    await post(http, url, f"/v1/invoices/{invoice['id']}/mark_uncollectible")

    part = (await post(http, url, "/v1/credit_notes", {"invoice": invoice["id"], "amount": "400"})).json()
    after_part = (await get(http, url, f"/v1/invoices/{invoice['id']}")).json()
    rest = (await post(http, url, "/v1/credit_notes", {"invoice": invoice["id"], "amount": "600"})).json()
    settled = (await get(http, url, f"/v1/invoices/{invoice['id']}")).json()

    assert (part["type"], rest["type"]) == ("pre_payment", "pre_payment")
    assert (after_part["status"], after_part["amount_remaining"]) == ("uncollectible", 600)
    assert (settled["status"], settled["amount_due"], settled["amount_paid"], settled["paid"]) == ("paid", 0, 0, True)
    types = [e["type"] for e in (await state(http, url))["events"]]
    assert types[-1] == "invoice.paid"  # settled by credit: no payment, so no invoice.payment_succeeded
    assert "invoice.payment_succeeded" not in types


async def test_credit_notes_cannot_be_issued_for_drafts_or_void_invoices(http: httpx.AsyncClient, url: str) -> None:
    customer = (await post(http, url, "/v1/customers", {"name": "Draft Co"})).json()
    draft = (await post(http, url, "/v1/invoices", {"customer": customer["id"]})).json()
    voided = await open_invoice(http, url, 500)
    await post(http, url, f"/v1/invoices/{voided['id']}/void")

    for invoice in (draft, voided):
        refused = await post(http, url, "/v1/credit_notes", {"invoice": invoice["id"], "amount": "100"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invoice_not_open")


async def test_credit_notes_are_listed_newest_first_by_invoice_or_customer_in_pages(
    http: httpx.AsyncClient, url: str
) -> None:
    first, second = await open_invoice(http, url, 1_000), await open_invoice(http, url, 1_000)
    notes = []
    for invoice in (first, first, second):
        note = await post(http, url, "/v1/credit_notes", {"invoice": invoice["id"], "amount": "100"})
        notes.append(note.json()["id"])

    async def listed(**params: str) -> dict[str, Any]:
        result: dict[str, Any] = (await get(http, url, "/v1/credit_notes", params=params)).json()
        return result

    by_invoice = await listed(invoice=first["id"])
    by_customer = await listed(customer=second["customer"])
    page = await listed(limit="2")
    next_page = await listed(limit="2", starting_after=page["data"][-1]["id"])
    back = await listed(limit="2", ending_before=next_page["data"][0]["id"])
    one = (await get(http, url, f"/v1/credit_notes/{notes[0]}")).json()
    too_many = await get(http, url, "/v1/credit_notes", params={"limit": "101"})
    unknown = await get(http, url, "/v1/credit_notes", params={"starting_after": "cn_missing"})

    assert (by_invoice["object"], by_invoice["url"], by_invoice["has_more"]) == ("list", "/v1/credit_notes", False)
    assert [n["id"] for n in by_invoice["data"]] == [notes[1], notes[0]]
    assert [n["id"] for n in by_customer["data"]] == [notes[2]]
    assert ([n["id"] for n in page["data"]], page["has_more"]) == ([notes[2], notes[1]], True)
    assert ([n["id"] for n in next_page["data"]], next_page["has_more"]) == ([notes[0]], False)
    assert [n["id"] for n in back["data"]] == [notes[2], notes[1]]
    assert (one["id"], one["object"], one["invoice"]) == (notes[0], "credit_note", first["id"])
    assert (too_many.status_code, unknown.status_code) == (400, 400)
    assert unknown.json()["error"]["code"] == "resource_missing"


async def test_refunds_are_pending_then_succeed_and_never_exceed_the_charge(http: httpx.AsyncClient, url: str) -> None:
    invoice = await open_invoice(http, url, 1_000)
    intent = (await post(http, url, f"/v1/invoices/{invoice['id']}/pay")).json()["payment_intent"]

    refund = (await post(http, url, "/v1/refunds", {"payment_intent": intent, "amount": "400"})).json()
    too_much = await post(http, url, "/v1/refunds", {"payment_intent": intent, "amount": "601"})

    assert refund["status"] == "pending"
    assert refund["id"].startswith("re_")
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    async with asyncio.timeout(5):
        while (await get(http, url, f"/v1/refunds/{refund['id']}")).json()["status"] != "succeeded":
            await asyncio.sleep(0.01)
    charge = (await state(http, url))["charges"][0]
    assert (charge["amount_refunded"], charge["refunded"], charge["refunds"]["data"][0]["id"]) == (
        400,
        False,
        refund["id"],
    )


async def test_reset_forgets_everything(http: httpx.AsyncClient, url: str) -> None:
    await post(http, url, "/v1/customers", {"name": "Acme"}, key="k-reset")

    await http.post(f"{url}/_sandbox/reset")

    snapshot = await state(http, url)
    assert snapshot["customers"] == []
    assert snapshot["idempotency_keys"] == 0
    assert snapshot["events"] == []


@pytest.fixture
async def slow(slow_stripe_url: str, http: httpx.AsyncClient) -> str:
    (await http.post(f"{slow_stripe_url}/_sandbox/reset")).raise_for_status()
    return slow_stripe_url


async def test_bank_debit_answers_open_with_a_processing_intent_then_settles_paid_with_fee(
    http: httpx.AsyncClient, slow: str
) -> None:
    invoice = await open_invoice(http, slow, 10_000, payment_method="pm_usBankAccount_success")
    path = f"/v1/invoices/{invoice['id']}/pay"

    paying = await post(http, slow, path, key="pay-ach")
    processing = await intent_of(http, slow, paying.json()["payment_intent"])
    pay_again = await post(http, slow, path, key="pay-ach-2")
    void = await post(http, slow, f"/v1/invoices/{invoice['id']}/void")
    settled = (await http.post(f"{slow}/_sandbox/settle")).json()
    succeeded = await intent_of(http, slow, processing["id"])
    paid = (await get(http, slow, f"/v1/invoices/{invoice['id']}")).json()
    replay = await post(http, slow, path, key="pay-ach")

    assert paying.status_code == 200
    assert (paying.json()["status"], paying.json()["amount_paid"], paying.json()["charge"]) == ("open", 0, None)
    assert (processing["status"], processing["amount"], processing["amount_received"]) == ("processing", 10_000, 0)
    assert processing["payment_method_types"] == ["us_bank_account"]
    assert processing["charges"]["data"] == []
    for refused in (pay_again, void):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert settled == {"settled": [processing["id"]]}
    assert (succeeded["status"], succeeded["amount_received"]) == ("succeeded", 10_000)
    [charge] = succeeded["charges"]["data"]
    txn = charge["balance_transaction"]
    assert (charge["status"], txn["amount"], txn["fee"], txn["net"]) == ("succeeded", 10_000, 320, 9_680)
    assert (paid["status"], paid["paid"], paid["amount_paid"], paid["charge"]) == ("paid", True, 10_000, charge["id"])
    # The key's stored outcome is the answer the pay request got: the processing one.
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == paying.json()
    events = [e["type"] for e in reversed((await get(http, slow, "/v1/events")).json()["data"])]
    assert events == ["invoice.finalized", "payment_intent.processing", *CARD_PAID]
    assert len((await state(http, slow))["payment_intents"]) == 1


async def test_failed_bank_debit_needs_a_new_payment_method_and_leaves_the_invoice_open(
    http: httpx.AsyncClient, slow: str
) -> None:
    invoice = await open_invoice(http, slow, 2_500, payment_method="pm_usBankAccount_insufficientFunds")
    intent_id = (await post(http, slow, f"/v1/invoices/{invoice['id']}/pay")).json()["payment_intent"]

    await http.post(f"{slow}/_sandbox/settle")

    failed = await intent_of(http, slow, intent_id)
    assert (failed["status"], failed["amount"], failed["amount_received"]) == ("requires_payment_method", 2_500, 0)
    error = failed["last_payment_error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "invalid_request_error",
        "payment_intent_payment_attempt_failed",
        "insufficient_funds",
    )
    [charge] = failed["charges"]["data"]
    assert (charge["status"], charge["paid"], charge["failure_code"]) == ("failed", False, "insufficient_funds")
    assert error["charge"] == charge["id"]
    snapshot = await state(http, slow)
    [stored] = snapshot["invoices"]
    assert (stored["status"], stored["amount_paid"], stored["attempt_count"]) == ("open", 0, 1)
    assert [e["type"] for e in snapshot["events"]][-2:] == ["payment_intent.payment_failed", "invoice.payment_failed"]
    # Once failed, the invoice can be paid again (a new attempt) or voided.
    retry = await post(http, slow, f"/v1/invoices/{invoice['id']}/pay")
    assert retry.status_code == 200
    assert retry.json()["payment_intent"] != intent_id


async def test_a_processing_test_account_never_settles_and_reset_forgets_pending_debits(
    http: httpx.AsyncClient, slow: str
) -> None:
    stuck = await open_invoice(http, slow, 1_000, payment_method="pm_usBankAccount_processing")
    stuck_intent = (await post(http, slow, f"/v1/invoices/{stuck['id']}/pay")).json()["payment_intent"]
    settles = await open_invoice(http, slow, 1_000, payment_method="pm_usBankAccount")
    settles_intent = (await post(http, slow, f"/v1/invoices/{settles['id']}/pay")).json()["payment_intent"]

    assert (await http.post(f"{slow}/_sandbox/settle")).json() == {"settled": [settles_intent]}
    assert (await intent_of(http, slow, stuck_intent))["status"] == "processing"

    forgotten = await open_invoice(http, slow, 1_000, payment_method="pm_usBankAccount")
    await post(http, slow, f"/v1/invoices/{forgotten['id']}/pay")
    await http.post(f"{slow}/_sandbox/reset")
    assert (await http.post(f"{slow}/_sandbox/settle")).json() == {"settled": []}


async def test_charge_automatically_subscription_paid_by_bank_debit_is_incomplete_until_it_settles(
    http: httpx.AsyncClient, slow: str
) -> None:
    price = await recurring_price(http, slow, 4_900)
    _, subscription = await subscribe(http, slow, price, payment_method="pm_usBankAccount")

    (await http.post(f"{slow}/_sandbox/settle")).raise_for_status()

    assert (subscription["status"], subscription["latest_invoice"]["status"]) == ("incomplete", "open")
    settled = await get(http, slow, f"/v1/subscriptions/{subscription['id']}", params={"expand[]": "latest_invoice"})
    assert (settled.json()["status"], settled.json()["latest_invoice"]["status"]) == ("active", "paid")
