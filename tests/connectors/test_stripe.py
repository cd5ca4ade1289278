"""StripeBilling against the Stripe emulator over real HTTP: every method, idempotency, lost responses."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from canonical import (
    BillingPeriod,
    Invoice,
    InvoiceLine,
    Money,
    Price,
    Subscription,
)
from connectors.errors import BusinessRuleError, PermanentError, TransientError, UncertainOutcome
from connectors.roles import BillingSystem
from connectors.stripe import (
    StripeBilling,
    encode_form,
)
from tests.support.stripe import (
    API_KEY,
    arm,
    make_contract,
    make_customer,
    make_invoice,
    open_invoice,
    price,
    sandbox_state,
    subscribe,
)


def test_stripe_billing_satisfies_the_billing_role(billing: StripeBilling) -> None:
    role: BillingSystem = billing
    assert role.system == "stripe"


def test_forms_flatten_nested_dicts_and_lists_like_stripe_python() -> None:
    pairs = encode_form(
        {
            "metadata": {"golden_id": "gc_1"},
            "items": [{"price": "price_1", "quantity": 2}],
            "expand": ["a.b"],
            "auto_advance": False,
            "skip": None,
        }
    )
    assert pairs == [
        ("metadata[golden_id]", "gc_1"),
        ("items[0][price]", "price_1"),
        ("items[0][quantity]", "2"),
        ("expand[0]", "a.b"),
        ("auto_advance", "false"),
    ]
    with pytest.raises(TypeError, match="floats"):
        encode_form({"amount": 1.5})


async def test_upsert_customer_creates_once_per_key_with_golden_id_and_card(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    first = await billing.upsert_customer(make_customer(), idempotency_key="wf1:customer")
    again = await billing.upsert_customer(make_customer(), idempotency_key="wf1:customer")

    assert first == again
    assert first.startswith("cus_")
    [stored] = (await sandbox_state(http, stripe_url))["customers"]
    assert stored["metadata"] == {"golden_id": "gc_acme"}
    assert stored["invoice_settings"]["default_payment_method"] == "pm_card_visa"
    assert stored["address"]["state"] == "TX"


async def test_upsert_customer_updates_the_customer_named_in_external_refs(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id = await billing.upsert_customer(make_customer(), idempotency_key="wf2:customer")
    renamed = make_customer(legal_name="Acme Holdings", external_refs={"stripe": customer_id})

    assert await billing.upsert_customer(renamed, idempotency_key="wf2:customer:update") == customer_id

    [stored] = (await sandbox_state(http, stripe_url))["customers"]
    assert stored["name"] == "Acme Holdings"


async def test_search_customers_by_golden_id_finds_only_that_customer(billing: StripeBilling) -> None:
    wanted = await billing.upsert_customer(make_customer("gc_wanted"), idempotency_key="wf3:a")
    await billing.upsert_customer(make_customer("gc_other"), idempotency_key="wf3:b")

    found = await billing.search_customers_by_golden_id("gc_wanted")

    assert [c["id"] for c in found] == [wanted]
    with pytest.raises(PermanentError, match="invalid_golden_id"):
        await billing.search_customers_by_golden_id("x' OR '1")


async def test_ensure_price_creates_product_and_price_once_and_then_finds_it(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    monthly = await billing.ensure_price(price(), "Platform seat", idempotency_key="wf4:price")
    again = await billing.ensure_price(price(), "Platform seat", idempotency_key="wf5:price")
    yearly_price = Price(
        product_code="PLAT-SEAT", period=BillingPeriod.YEAR, unit_amount=Money(amount=490_00, currency="USD")
    )
    yearly = await billing.ensure_price(yearly_price, "Platform seat", idempotency_key="wf4:yearly")

    state = await sandbox_state(http, stripe_url)
    assert again == monthly != yearly
    assert [p["id"] for p in state["products"]] == ["prod_c2c_plat_seat"]
    by_id = {p["id"]: p for p in state["prices"]}
    assert by_id[monthly]["lookup_key"] == "plat-seat-month-usd-4900"
    assert (by_id[yearly]["recurring"]["interval"], by_id[yearly]["unit_amount"]) == ("year", 490_00)


async def test_ensure_price_that_loses_the_lookup_key_race_returns_the_winner(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    winner = await billing.ensure_price(price(), "Platform seat", idempotency_key="wf6:price")
    # Our lookup happened before the winner's create: it saw no price.
    empty = {"object": "list", "data": [], "has_more": False, "url": "/v1/prices"}
    await arm(http, stripe_url, method="GET", path_prefix="/v1/prices", kind="status", status=200, body=empty)

    assert await billing.ensure_price(price(), "Platform seat", idempotency_key="wf7:price") == winner
    assert len((await sandbox_state(http, stripe_url))["prices"]) == 1


async def test_create_subscription_maps_lines_to_items_and_replays_by_key(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id = await billing.upsert_customer(make_customer(), idempotency_key="wf8:customer")
    price_ids = {
        "PLAT-SEAT": await billing.ensure_price(price(), "Seat", idempotency_key="wf8:p1"),
        "ANALYTICS": await billing.ensure_price(price("ANALYTICS", 199_00), "An", idempotency_key="wf8:p2"),
    }

    subscription = await billing.create_subscription(customer_id, make_contract(), price_ids, idempotency_key="wf8:s")
    replayed = await billing.create_subscription(customer_id, make_contract(), price_ids, idempotency_key="wf8:s")

    assert isinstance(subscription, Subscription)
    assert subscription == replayed
    assert subscription.status == "active"
    assert subscription.external_refs == {"stripe": subscription.id}
    assert [(i.product_code, i.quantity, i.price_id) for i in subscription.items] == [
        ("PLAT-SEAT", 10, price_ids["PLAT-SEAT"]),
        ("ANALYTICS", 1, price_ids["ANALYTICS"]),
    ]
    state = await sandbox_state(http, stripe_url)
    [stored] = state["subscriptions"]
    assert stored["metadata"] == {"deal_id": "006DEAL1", "golden_id": "gc_acme", "legal_entity": "US01"}
    assert (stored["collection_method"], stored["days_until_due"]) == ("send_invoice", 1)
    assert stored["cancel_at"] > stored["created"]
    # Stripe drafted the first invoice; the connector holds it (no automatic finalization) for create_invoice.
    [first] = state["invoices"]
    assert stored["latest_invoice"] == first["id"]
    assert (first["status"], first["billing_reason"], first["subscription"]) == (
        "draft",
        "subscription_create",
        subscription.id,
    )
    assert first["auto_advance"] is False
    assert [(li["type"], li["price"]["id"], li["quantity"], li["amount"]) for li in first["lines"]["data"]] == [
        ("subscription", price_ids["PLAT-SEAT"], 10, 490_00),
        ("subscription", price_ids["ANALYTICS"], 1, 199_00),
    ]


async def test_a_deal_is_subscribed_once_even_after_its_idempotency_key_expired(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id, first = await subscribe(billing, "wf8x")
    # Stripe keeps keys for 24 hours: a saga retried days later sends the same step under a key Stripe forgot.
    await http.post(f"{stripe_url}/_sandbox/reset_idempotency")
    price_ids = {item.product_code: item.price_id for item in first.items}
    later = await billing.create_subscription(
        customer_id, make_contract(), price_ids, idempotency_key="wf8x:subscription"
    )

    assert later.id == first.id
    state = await sandbox_state(http, stripe_url)
    assert [s["id"] for s in state["subscriptions"] if s["customer"] == customer_id] == [first.id]
    assert len([i for i in state["invoices"] if i["customer"] == customer_id]) == 1


async def test_create_subscription_without_a_price_for_a_line_is_our_bug(billing: StripeBilling) -> None:
    with pytest.raises(PermanentError, match="price_not_mapped"):
        await billing.create_subscription("cus_x", make_contract(), {"PLAT-SEAT": "price_x"}, idempotency_key="k")


async def test_create_invoice_completes_the_subscriptions_first_invoice_with_one_tax_line(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id, subscription = await subscribe(billing, "wf9")
    wanted = make_invoice()

    draft = await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key="wf9:invoice")
    replayed = await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key="wf9:invoice")
    other_key = await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key="wf9:invoice:2")

    assert draft == replayed == other_key
    assert draft.status == "draft"
    assert draft.total == wanted.total
    assert draft.model_dump(exclude={"external_refs", "lines"}) == wanted.model_dump(exclude={"external_refs", "lines"})
    assert [(li.product_code, li.quantity, li.unit_amount, li.amount) for li in draft.lines] == [
        (li.product_code, li.quantity, li.unit_amount, li.amount) for li in wanted.lines
    ]
    # The lines are the subscription's, described by Stripe.
    assert [li.description for li in draft.lines] == [
        "10 × Platform seat (at $49.00 / month)",
        "1 × Analytics (at $199.00 / month)",
    ]
    state = await sandbox_state(http, stripe_url)
    [stored] = state["invoices"]  # no second invoice: the subscription's own was completed
    assert stored["id"] == draft.external_refs["stripe"] == state["subscriptions"][0]["latest_invoice"]
    assert [item["metadata"] for item in state["invoiceitems"]] == [
        {"c2c_line": "tax", "tax_document_code": "c2c-006DEAL1-1"}
    ]
    assert [line["type"] for line in stored["lines"]["data"]] == ["subscription", "subscription", "invoiceitem"]
    assert (stored["subtotal"], stored["total"], stored["amount_due"]) == (689_00 + 68_70,) * 3
    assert (stored["billing_reason"], stored["collection_method"], stored["auto_advance"]) == (
        "subscription_create",
        "send_invoice",
        False,
    )
    assert stored["metadata"] == {
        "golden_id": "gc_acme",
        "legal_entity": "US01",
        "issue_date": "2025-03-01",
        "due_date": "2025-03-31",
        "tax_document_code": "c2c-006DEAL1-1",
    }


@pytest.mark.parametrize("retry_key", ["wf40:invoice", "wf40:invoice:expired"])
async def test_create_invoice_retried_after_a_lost_tax_line_response_adds_no_second_tax_line(
    http: httpx.AsyncClient, stripe_url: str, retry_key: str
) -> None:
    customer_id, subscription = await subscribe(StripeBilling(http, stripe_url, API_KEY), "wf40")
    await arm(http, stripe_url, method="POST", path_prefix="/v1/invoiceitems", kind="delay_after", seconds=1.0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        hasty = StripeBilling(impatient, stripe_url, API_KEY)
        with pytest.raises(UncertainOutcome):
            await hasty.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key="wf40:invoice")
        # Same key, or (key expired) another one: the tax line already on the draft is not added again.
        invoice = await hasty.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key=retry_key)

    assert invoice.tax == Money(amount=68_70, currency="USD")
    state = await sandbox_state(http, stripe_url)
    assert len(state["invoiceitems"]) == 1
    [stored] = state["invoices"]
    assert stored["total"] == 757_70


async def test_create_invoice_retried_after_a_lost_metadata_response_returns_the_same_invoice(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id, subscription = await subscribe(billing, "wf41")
    await arm(http, stripe_url, method="POST", path_prefix="/v1/invoices/", kind="delay_after", seconds=1.0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        hasty = StripeBilling(impatient, stripe_url, API_KEY)
        with pytest.raises(UncertainOutcome):
            await hasty.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key="wf41:invoice")
        invoice = await hasty.create_invoice(
            customer_id, subscription.id, make_invoice(), idempotency_key="wf41:invoice"
        )

    state = await sandbox_state(http, stripe_url)
    [stored] = state["invoices"]
    assert invoice.external_refs["stripe"] == stored["id"]
    assert (len(state["invoiceitems"]), stored["total"]) == (1, 757_70)


def _lines(invoice: Invoice, *lines: tuple[str, int, int]) -> Invoice:
    """`invoice` with these (product code, quantity, unit amount) lines instead of its own."""
    currency = invoice.currency
    return invoice.model_copy(
        update={
            "lines": [
                InvoiceLine(
                    product_code=code,
                    description=code,
                    quantity=quantity,
                    unit_amount=Money(amount=unit, currency=currency),
                    amount=Money(amount=unit * quantity, currency=currency),
                )
                for code, quantity, unit in lines
            ]
        }
    )


@pytest.mark.parametrize(
    ("wanted", "difference"),
    [
        (
            _lines(make_invoice(), ("PLAT-SEAT", 12, 49_00), ("ANALYTICS", 1, 199_00)),
            "PLAT-SEAT quantity 10, expected 12",
        ),
        (
            _lines(make_invoice(), ("PLAT-SEAT", 10, 45_00), ("ANALYTICS", 1, 199_00)),
            "PLAT-SEAT amount USD 490.00, expected USD 450.00",
        ),
        (_lines(make_invoice(), ("PLAT-SEAT", 10, 49_00)), "ANALYTICS is billed but not invoiced"),
        (
            _lines(make_invoice(), ("PLAT-SEAT", 10, 49_00), ("ANALYTICS", 1, 199_00), ("SUPPORT-PREM", 1, 460_00)),
            "SUPPORT-PREM is not billed",
        ),
        (make_invoice("EUR"), "currency USD, expected EUR"),
    ],
    ids=["quantity", "amount", "extra-billed", "not-billed", "currency"],
)
async def test_create_invoice_refuses_a_first_invoice_that_bills_something_else(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str, wanted: Invoice, difference: str
) -> None:
    customer_id, subscription = await subscribe(billing, "wf42")

    with pytest.raises(PermanentError) as mismatch:
        await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key="wf42:invoice")

    assert mismatch.value.code == "invoice_mismatch"
    assert difference in mismatch.value.message
    state = await sandbox_state(http, stripe_url)
    assert state["invoiceitems"] == []  # nothing was added to the draft
    assert state["invoices"][0]["metadata"] == {}


async def test_create_invoice_refuses_a_first_invoice_that_swept_in_a_pending_item(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id = await billing.upsert_customer(make_customer(), idempotency_key="wf43:customer")
    pending = {"customer": customer_id, "currency": "usd", "amount": "1500", "description": "Setup fee"}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    (await http.post(f"{stripe_url}/v1/invoiceitems", data=pending, headers=headers)).raise_for_status()
    _, subscription = await subscribe(billing, "wf43", make_customer())  # same golden id: the same customer

    with pytest.raises(PermanentError) as mismatch:
        await billing.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key="wf43:invoice")

    assert mismatch.value.code == "invoice_mismatch"
    assert "(Setup fee: USD 15.00)" in mismatch.value.message


async def test_create_invoice_reads_the_product_code_from_the_product_when_the_price_has_none(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id = await billing.upsert_customer(make_customer(), idempotency_key="wf44:customer")
    await billing.ensure_price(price(), "Platform seat", idempotency_key="wf44:p1")  # creates prod_c2c_plat_seat
    bare = {"product": "prod_c2c_plat_seat", "currency": "usd", "unit_amount": "4900", "recurring[interval]": "month"}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    bare_price = (await http.post(f"{stripe_url}/v1/prices", data=bare, headers=headers)).json()["id"]
    contract = make_contract().model_copy(update={"lines": make_contract().lines[:1]})
    subscription = await billing.create_subscription(
        customer_id, contract, {"PLAT-SEAT": bare_price}, idempotency_key="wf44:s"
    )
    wanted = _lines(make_invoice(), ("PLAT-SEAT", 10, 49_00))

    draft = await billing.create_invoice(customer_id, subscription.id, wanted, idempotency_key="wf44:invoice")
    finalized = await billing.finalize_invoice(draft.external_refs["stripe"], idempotency_key="wf44:finalize")

    assert (
        [line.product_code for line in draft.lines] == [line.product_code for line in finalized.lines] == ["PLAT-SEAT"]
    )


async def test_create_invoice_on_a_finalized_first_invoice_is_refused(billing: StripeBilling) -> None:
    customer_id, invoice = await open_invoice(billing, "wf45")
    subscription_id = str((await billing.get_invoice(invoice.external_refs["stripe"]))["subscription"])

    with pytest.raises(PermanentError) as refused:
        await billing.create_invoice(customer_id, subscription_id, make_invoice(), idempotency_key="wf45:again")

    assert refused.value.code == "invoice_not_editable"


async def test_finalize_invoice_numbers_it_and_opens_it(billing: StripeBilling) -> None:
    _, finalized = await open_invoice(billing, "wf10")

    assert finalized.status == "open"
    assert finalized.number
    assert finalized.number.endswith("-0001")
    assert finalized.total == Money(amount=757_70, currency="USD")


async def test_collect_payment_returns_amount_and_fee_from_the_balance_transaction(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf11")
    invoice_id = invoice.external_refs["stripe"]

    payment = await billing.collect_payment(invoice_id, idempotency_key="wf11:collect")
    replayed = await billing.collect_payment(invoice_id, idempotency_key="wf11:collect")
    again_other_key = await billing.collect_payment(invoice_id, idempotency_key="wf11:collect:2")

    assert payment == replayed == again_other_key
    assert payment.status == "succeeded"
    assert payment.invoice_id == invoice_id
    assert payment.amount == Money(amount=757_70, currency="USD")
    # 2.9% of 75770 = 2197.33 -> 2197, + 30
    assert payment.fee == Money(amount=2227, currency="USD")
    assert payment.external_refs["stripe"].startswith("pi_")
    state = await sandbox_state(http, stripe_url)
    assert len(state["payment_intents"]) == 1
    [stored] = state["invoices"]  # the subscription's first invoice, paid: never a second one
    assert (stored["status"], stored["collection_method"]) == ("paid", "send_invoice")
    assert stored["payment_intent"] == payment.external_refs["stripe"]


@pytest.mark.parametrize(
    ("payment_method", "code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
async def test_declined_card_is_a_business_rule_error_with_the_decline_code(
    http: httpx.AsyncClient, stripe_url: str, payment_method: str, code: str
) -> None:
    billing = StripeBilling(http, stripe_url, API_KEY, default_payment_method=payment_method)
    _, invoice = await open_invoice(billing, "wf12")

    with pytest.raises(BusinessRuleError) as declined:
        await billing.collect_payment(invoice.external_refs["stripe"], idempotency_key="wf12:collect")
    with pytest.raises(BusinessRuleError) as replayed:
        await billing.collect_payment(invoice.external_refs["stripe"], idempotency_key="wf12:collect")

    assert declined.value.code == replayed.value.code == code
    assert declined.value.status == 402
    state = await sandbox_state(http, stripe_url)
    assert state["invoices"][0]["status"] == "open"
    assert state["invoices"][0]["attempt_count"] == 1
    assert [e["type"] for e in state["events"]][-1] == "invoice.payment_failed"


async def test_void_invoice_is_repeatable_as_a_compensation(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf13")
    invoice_id = invoice.external_refs["stripe"]

    await billing.void_invoice(invoice_id, idempotency_key="wf13:void")
    await billing.void_invoice(invoice_id, idempotency_key="wf13:void:again")

    assert (await billing.get_invoice(invoice_id))["status"] == "void"
    with pytest.raises(PermanentError) as paid_void:
        await billing.collect_payment(invoice_id, idempotency_key="wf13:collect")
    assert paid_void.value.code == "invoice_not_open"


async def test_voiding_a_subscriptions_draft_finalizes_then_voids_it_and_is_repeatable(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id, subscription = await subscribe(billing, "wf13d")
    draft = await billing.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key="wf13d:inv")
    draft_id = draft.external_refs["stripe"]
    headers = {"Authorization": f"Bearer {API_KEY}"}
    undeletable = await http.delete(f"{stripe_url}/v1/invoices/{draft_id}", headers=headers)

    await billing.void_invoice(draft_id, idempotency_key="wf13d:void")  # Stripe keeps subscription invoices
    await billing.void_invoice(draft_id, idempotency_key="wf13d:void")  # again: already void counts as done

    assert undeletable.status_code == 400
    voided = await billing.get_invoice(draft_id)
    assert (voided["status"], voided["auto_advance"]) == ("void", False)
    assert voided["number"]  # issued (numbered) only to be voided: the paper trail Stripe keeps
    assert not [e for e in (await sandbox_state(http, stripe_url))["events"] if e["type"] == "invoice.paid"]


async def test_voiding_a_one_off_draft_deletes_it_and_is_repeatable(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id = await billing.upsert_customer(make_customer(), idempotency_key="wf13o:customer")
    headers = {"Authorization": f"Bearer {API_KEY}"}
    draft = (await http.post(f"{stripe_url}/v1/invoices", data={"customer": customer_id}, headers=headers)).json()

    await billing.void_invoice(draft["id"], idempotency_key="wf13o:void")
    await billing.void_invoice(draft["id"], idempotency_key="wf13o:void")

    with pytest.raises(PermanentError) as gone:
        await billing.get_invoice(draft["id"])
    assert gone.value.code == "resource_missing"


async def test_void_of_a_paid_invoice_is_refused(billing: StripeBilling) -> None:
    _, invoice = await open_invoice(billing, "wf14")
    await billing.collect_payment(invoice.external_refs["stripe"], idempotency_key="wf14:collect")

    with pytest.raises(PermanentError) as refused:
        await billing.void_invoice(invoice.external_refs["stripe"], idempotency_key="wf14:void")
    assert refused.value.code == "invoice_not_voidable"


async def test_cancel_subscription_voids_its_draft_first_invoice_cancels_and_is_repeatable(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, subscription = await subscribe(billing, "wf15")

    await billing.cancel_subscription(subscription.id, idempotency_key="wf15:cancel")
    await billing.cancel_subscription(subscription.id, idempotency_key="wf15:cancel")

    state = await sandbox_state(http, stripe_url)
    [stored] = state["subscriptions"]
    assert stored["status"] == "canceled"
    assert stored["canceled_at"] is not None
    [first] = state["invoices"]
    assert (first["id"], first["status"]) == (stored["latest_invoice"], "void")  # never to be issued


async def test_cancel_subscription_leaves_a_paid_first_invoice_alone(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf15p")
    invoice_id = invoice.external_refs["stripe"]
    await billing.collect_payment(invoice_id, idempotency_key="wf15p:collect")
    subscription_id = str((await billing.get_invoice(invoice_id))["subscription"])

    await billing.cancel_subscription(subscription_id, idempotency_key="wf15p:cancel")

    state = await sandbox_state(http, stripe_url)
    assert [(i["id"], i["status"]) for i in state["invoices"]] == [(invoice_id, "paid")]
    assert state["subscriptions"][0]["status"] == "canceled"


async def test_refund_in_part_then_the_rest_and_never_more_than_the_charge(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf16")
    payment = await billing.collect_payment(invoice.external_refs["stripe"], idempotency_key="wf16:collect")
    intent = payment.external_refs["stripe"]

    part = await billing.refund(intent, Money(amount=100_00, currency="USD"), idempotency_key="wf16:refund:1")
    assert await billing.refund(intent, Money(amount=100_00, currency="USD"), idempotency_key="wf16:refund:1") == part
    rest = await billing.refund(intent, None, idempotency_key="wf16:refund:2")
    with pytest.raises(BusinessRuleError) as exhausted:  # the charge's state refuses: finance decides
        await billing.refund(intent, None, idempotency_key="wf16:refund:3")
    with pytest.raises(PermanentError, match="currency_mismatch"):
        await billing.refund(intent, Money(amount=1, currency="EUR"), idempotency_key="wf16:refund:4")

    assert exhausted.value.code == "charge_already_refunded"
    refunds = {r["id"]: r for r in (await sandbox_state(http, stripe_url))["refunds"]}
    assert part != rest
    assert len(refunds) == 2
    assert (refunds[part]["amount"], refunds[rest]["amount"]) == (100_00, 757_70 - 100_00)


async def test_create_credit_note_on_an_open_invoice_reduces_what_is_due(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf17")
    invoice_id = invoice.external_refs["stripe"]

    note = await billing.create_credit_note(
        invoice_id, Money(amount=57_70, currency="USD"), "order_change", idempotency_key="wf17:cn"
    )
    again = await billing.create_credit_note(
        invoice_id, Money(amount=57_70, currency="USD"), "order_change", idempotency_key="wf17:cn"
    )
    memo_only = await billing.create_credit_note(
        invoice_id, Money(amount=1_00, currency="USD"), "goodwill after outage", idempotency_key="wf17:cn2"
    )

    assert note == again
    assert note.startswith("cn_")
    state = await sandbox_state(http, stripe_url)
    notes = {n["id"]: n for n in state["credit_notes"]}
    assert len(notes) == 2
    assert (notes[memo_only]["reason"], notes[memo_only]["memo"]) == (None, "goodwill after outage")
    assert state["invoices"][0]["amount_remaining"] == 757_70 - 57_70 - 1_00


async def test_lost_response_is_uncertain_and_the_retry_with_the_same_key_creates_nothing_new(
    http: httpx.AsyncClient, stripe_url: str
) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        billing = StripeBilling(impatient, stripe_url, API_KEY)
        await arm(http, stripe_url, method="POST", path_prefix="/v1/customers", kind="delay_after", seconds=1.0)

        with pytest.raises(UncertainOutcome):
            await billing.upsert_customer(make_customer(), idempotency_key="wf18:customer")
        customer_id = await billing.upsert_customer(make_customer(), idempotency_key="wf18:customer")

    [stored] = (await sandbox_state(http, stripe_url))["customers"]
    assert stored["id"] == customer_id


async def test_lost_payment_response_retried_with_the_same_key_charges_once(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf19")
    invoice_id = invoice.external_refs["stripe"]
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        hasty = StripeBilling(impatient, stripe_url, API_KEY)
        await arm(
            http,
            stripe_url,
            method="POST",
            path_prefix=f"/v1/invoices/{invoice_id}/pay",
            kind="delay_after",
            seconds=1.0,
        )
        with pytest.raises(UncertainOutcome):
            await hasty.collect_payment(invoice_id, idempotency_key="wf19:collect")
        payment = await hasty.collect_payment(invoice_id, idempotency_key="wf19:collect")

    state = await sandbox_state(http, stripe_url)
    assert [pi["id"] for pi in state["payment_intents"]] == [payment.external_refs["stripe"]]
    assert len(state["charges"]) == 1


async def test_concurrent_request_with_a_key_in_flight_is_transient(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    await arm(http, stripe_url, method="POST", path_prefix="/v1/customers", kind="delay_before", seconds=0.5)
    first = asyncio.create_task(billing.upsert_customer(make_customer(), idempotency_key="wf20:customer"))
    await wait_until_in_flight(http, stripe_url, "wf20:customer")

    with pytest.raises(TransientError) as busy:
        await billing.upsert_customer(make_customer(), idempotency_key="wf20:customer")

    assert (busy.value.code, busy.value.status) == ("idempotency_error", 409)
    assert await first == await billing.upsert_customer(make_customer(), idempotency_key="wf20:customer")


async def wait_until_in_flight(http: httpx.AsyncClient, url: str, key: str) -> None:
    async def in_flight() -> bool:
        return key in (await sandbox_state(http, url))["idempotency_in_flight"]

    async with asyncio.timeout(5):
        while not await in_flight():
            await asyncio.sleep(0.01)


async def test_same_key_with_different_params_is_our_bug(billing: StripeBilling) -> None:
    known = await billing.upsert_customer(make_customer(), idempotency_key="wf21:create")
    await billing.upsert_customer(make_customer(external_refs={"stripe": known}), idempotency_key="wf21:customer")

    changed = make_customer(email="other@acme.test", external_refs={"stripe": known})
    with pytest.raises(PermanentError) as misuse:
        await billing.upsert_customer(changed, idempotency_key="wf21:customer")

    assert (misuse.value.code, misuse.value.status) == ("idempotency_error", 400)
