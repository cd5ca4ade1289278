"""The Stripe emulator as Stripe's own Python SDK (stripe-python, a `dev` dependency) sees it: a `StripeClient`
pointed at the emulator (`base_addresses`) drives the list endpoints of every resource c2c uses and their
neighbours with `limit` / `starting_after` / `has_more` (the SDK's auto-paging), `expand[]`, customer search with
its `next_page` cursor, PaymentIntents (create, confirm, retrieve, cancel), refunds, invoice pay including
`paid_out_of_band`, credit notes' amount rules, card declines as `stripe.CardError`, the response headers the SDK
reads, and webhooks verified by `stripe.Webhook.construct_event`. Each test has an emulator of its own, so counts
are exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox.server import build_app
from tests.support.sdk import vendor_sdk
from tests.support.servers import Serve
from tests.support.stripe_wire import SECRET, EventSink

stripe = vendor_sdk("stripe")

API_VERSION = "2020-08-27"  # what c2c's connector pins; the emulator speaks it


@dataclass
class Emulator:
    url: str
    client: Any  # stripe.StripeClient

    def sandbox(self, path: str, **body: Any) -> Any:
        response = httpx.post(f"{self.url}/_sandbox/{path}", json=body or None)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/_sandbox/state").json()
        return result


def client_for(url: str, version: str | None = API_VERSION) -> Any:
    """The SDK pointed at `url`, no retries (a refusal shows at once); `version` None: the SDK's own pin."""
    options: dict[str, Any] = {"base_addresses": {"api": url}, "max_network_retries": 0}
    if version is not None:
        options["stripe_version"] = version
    return stripe.StripeClient("sk_test_sdk_contract", **options)


@pytest.fixture
def emulator(own_server: Serve) -> Emulator:
    url = own_server(build_app("stripe", async_settle_seconds=0.05)).url
    return Emulator(url, client_for(url))


def customer(sdk: Any, name: str = "Acme", card: str = "pm_card_visa", **extra: Any) -> Any:
    params = {"name": name, "payment_method": card, "invoice_settings": {"default_payment_method": card}}
    return sdk.v1.customers.create(params={**params, **extra})


def paid_invoice(sdk: Any, amount: int, customer_id: str | None = None) -> Any:
    """A one-off invoice of `amount`, paid by the customer's card."""
    customer_id = customer_id or customer(sdk).id
    invoice = sdk.v1.invoices.create(params={"customer": customer_id, "currency": "usd"})
    sdk.v1.invoice_items.create(
        params={"customer": customer_id, "invoice": invoice.id, "currency": "usd", "amount": amount}
    )
    return sdk.v1.invoices.pay(invoice.id)


def every(lister: Callable[..., Any], **params: Any) -> list[str]:
    """Ids of every member, read through the SDK's auto-paging two at a time."""
    return [item.id for item in lister(params={**params, "limit": 2}).auto_paging_iter()]


# -- lists, paging, expand, search ---------------------------------------------------------------------------------


def test_every_list_c2c_reads_pages_with_limit_starting_after_and_has_more(emulator: Emulator) -> None:
    sdk = emulator.client
    made: dict[str, list[str]] = {name: [] for name in ("customers", "invoices", "payment_intents", "refunds")}
    for n in range(3):
        invoice = paid_invoice(sdk, 1_000 + n)
        made["customers"].append(invoice.customer)
        made["invoices"].append(invoice.id)
        made["payment_intents"].append(invoice.payment_intent)
        made["refunds"].append(sdk.v1.refunds.create(params={"payment_intent": invoice.payment_intent}).id)
    products = [sdk.v1.products.create(params={"name": f"P{n}"}).id for n in range(3)]
    prices = [
        sdk.v1.prices.create(
            params={"product": p, "currency": "usd", "unit_amount": 100, "recurring": {"interval": "month"}}
        ).id
        for p in products
    ]
    subscriptions = [
        sdk.v1.subscriptions.create(params={"customer": c, "items": [{"price": p}]}).id
        for c, p in zip(made["customers"], prices, strict=True)
    ]
    notes = [
        sdk.v1.credit_notes.create(params={"invoice": i, "amount": 100, "credit_amount": 100}).id
        for i in made["invoices"]
    ]

    newest_first = list(reversed(made["customers"]))
    first = sdk.v1.customers.list(params={"limit": 2})
    assert ([c.id for c in first.data], first.has_more) == (newest_first[:2], True)
    rest = sdk.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert ([c.id for c in rest.data], rest.has_more) == (newest_first[2:], False)
    back = sdk.v1.customers.list(params={"limit": 2, "ending_before": newest_first[2]})
    assert [c.id for c in back.data] == newest_first[:2]
    assert every(sdk.v1.customers.list) == newest_first
    assert every(sdk.v1.products.list) == list(reversed(products))
    assert every(sdk.v1.prices.list) == list(reversed(prices))
    assert every(sdk.v1.subscriptions.list) == list(reversed(subscriptions))
    # Each subscription's first invoice is charged too: six invoices, intents, charges and balance transactions.
    invoices, intents = every(sdk.v1.invoices.list), every(sdk.v1.payment_intents.list)
    assert (len(invoices), len(intents)) == (6, 6)
    assert set(made["invoices"]) <= set(invoices)
    assert [i for i in intents if i in made["payment_intents"]] == list(reversed(made["payment_intents"]))
    assert every(sdk.v1.refunds.list) == list(reversed(made["refunds"]))
    assert every(sdk.v1.credit_notes.list) == list(reversed(notes))
    assert len(every(sdk.v1.charges.list)) == 6
    assert len(every(sdk.v1.invoice_items.list)) == 3
    kinds = [t.type for t in sdk.v1.balance_transactions.list(params={"limit": 100}).data]
    assert sorted(kinds) == ["charge"] * 6 + ["refund"] * 3
    assert len(every(sdk.v1.events.list, type="invoice.paid")) == 6
    one = made["payment_intents"][0]
    assert every(sdk.v1.refunds.list, payment_intent=one) == [made["refunds"][0]]
    assert [c.payment_intent for c in sdk.v1.charges.list(params={"payment_intent": one}).data] == [one]


def test_a_list_refuses_what_stripe_refuses_stripes_way(emulator: Emulator) -> None:
    sdk = emulator.client
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        sdk.v1.customers.list(params={"limit": 101})
    with pytest.raises(stripe.InvalidRequestError) as unknown_cursor:
        sdk.v1.customers.list(params={"starting_after": "cus_missing"})
    with pytest.raises(stripe.InvalidRequestError) as unknown_param:
        sdk.v1.customers.list(params={"colour": "blue"})

    assert (too_many.value.http_status, too_many.value.param) == (400, "limit")
    assert (unknown_cursor.value.code, unknown_cursor.value.param) == ("resource_missing", "starting_after")
    assert (unknown_param.value.code, unknown_param.value.param) == ("parameter_unknown", "colour")


def test_expand_replaces_ids_by_their_objects_in_objects_and_lists(emulator: Emulator) -> None:
    sdk = emulator.client
    cus = customer(sdk)
    product = sdk.v1.products.create(params={"name": "Seat"})
    price = sdk.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 4_900, "recurring": {"interval": "month"}}
    )
    subscription = sdk.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})

    expanded = sdk.v1.subscriptions.retrieve(subscription.id, params={"expand": ["latest_invoice"]})
    intent_id = expanded.latest_invoice.payment_intent
    intent = sdk.v1.payment_intents.retrieve(intent_id, params={"expand": ["charges.data.balance_transaction"]})
    listed = sdk.v1.invoices.list(params={"customer": cus.id, "expand": ["data.subscription"]})

    assert isinstance(expanded.latest_invoice, stripe.Invoice)
    assert (expanded.latest_invoice.status, expanded.latest_invoice.amount_paid) == ("paid", 4_900)
    txn = intent.charges.data[0].balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.amount, txn.fee, txn.net) == (4_900, 172, 4_728)  # 2.9 % + 30
    assert [i.subscription.id for i in listed.data] == [subscription.id]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.subscriptions.retrieve(subscription.id, params={"expand": ["colour"]})
    assert refused.value.param == "expand"


def test_customer_search_pages_with_next_page(emulator: Emulator) -> None:
    sdk = emulator.client
    ours = [customer(sdk, f"C{n}", metadata={"golden_id": "gc_wanted"}).id for n in range(3)]
    customer(sdk, "Other", metadata={"golden_id": "gc_other"})
    query = "metadata['golden_id']:'gc_wanted'"

    page = sdk.v1.customers.search(params={"query": query, "limit": 2})
    found = [c.id for c in sdk.v1.customers.search(params={"query": query, "limit": 1}).auto_paging_iter()]

    assert isinstance(page, stripe.SearchResultObject)
    assert (len(page.data), page.has_more, page.next_page is not None) == (2, True, True)
    assert found == list(reversed(ours))
    with pytest.raises(stripe.InvalidRequestError) as unsupported:
        sdk.v1.customers.search(params={"query": "created>0"})
    assert unsupported.value.param == "query"


# -- payments ------------------------------------------------------------------------------------------------------


def test_payment_intents_are_created_confirmed_retrieved_and_canceled(emulator: Emulator) -> None:
    sdk = emulator.client
    cus = customer(sdk)

    waiting = sdk.v1.payment_intents.create(params={"amount": 2_000, "currency": "usd", "customer": cus.id})
    confirmable = sdk.v1.payment_intents.create(
        params={"amount": 2_000, "currency": "usd", "customer": cus.id, "payment_method": "pm_card_visa"}
    )
    confirmed = sdk.v1.payment_intents.confirm(confirmable.id)
    at_once = sdk.v1.payment_intents.create(
        params={"amount": 500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    canceled = sdk.v1.payment_intents.cancel(waiting.id, params={"cancellation_reason": "abandoned"})

    assert (waiting.status, confirmable.status) == ("requires_payment_method", "requires_confirmation")
    assert (confirmed.status, confirmed.amount_received) == ("succeeded", 2_000)
    assert sdk.v1.payment_intents.retrieve(confirmed.id).charges.data[0].status == "succeeded"
    assert (at_once.status, at_once.customer) == ("succeeded", None)
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    with pytest.raises(stripe.InvalidRequestError) as again:
        sdk.v1.payment_intents.confirm(confirmed.id)
    assert again.value.code == "payment_intent_unexpected_state"


@pytest.mark.parametrize(
    ("card", "code", "decline_code", "param"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline", None),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds", None),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", None, "exp_month"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", None, "cvc"),
    ],
)
def test_a_declined_card_is_a_card_error_with_stripes_fields(
    emulator: Emulator, card: str, code: str, decline_code: str | None, param: str | None
) -> None:
    sdk = emulator.client
    intent = sdk.v1.payment_intents.create(params={"amount": 1_500, "currency": "usd", "payment_method": card})

    with pytest.raises(stripe.CardError) as declined:
        sdk.v1.payment_intents.confirm(intent.id)

    error = declined.value
    assert (error.http_status, error.code, error.param) == (402, code, param)
    assert error.error.type == "card_error"
    assert error.error.decline_code == decline_code
    assert error.error.payment_intent.id == intent.id
    assert error.request_id.startswith("req_")
    after = sdk.v1.payment_intents.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert (after.last_payment_error.code, after.last_payment_error.charge) == (code, error.error.charge)
    assert sdk.v1.charges.retrieve(error.error.charge).failure_code == code


def test_a_declined_invoice_payment_is_a_card_error_too(emulator: Emulator) -> None:
    sdk = emulator.client
    cus = customer(sdk, card="pm_card_chargeDeclinedInsufficientFunds")
    invoice = sdk.v1.invoices.create(params={"customer": cus.id, "currency": "usd"})
    sdk.v1.invoice_items.create(params={"customer": cus.id, "invoice": invoice.id, "currency": "usd", "amount": 900})

    with pytest.raises(stripe.CardError) as declined:
        sdk.v1.invoices.pay(invoice.id)

    assert (declined.value.code, declined.value.error.decline_code) == ("card_declined", "insufficient_funds")
    assert sdk.v1.invoices.retrieve(invoice.id).status == "open"


def test_refunds_are_created_listed_and_retrieved_and_never_exceed_the_charge(emulator: Emulator) -> None:
    sdk = emulator.client
    invoice = paid_invoice(sdk, 5_000)

    part = sdk.v1.refunds.create(params={"payment_intent": invoice.payment_intent, "amount": 2_000})
    rest = sdk.v1.refunds.create(params={"payment_intent": invoice.payment_intent, "metadata": {"why": "rest"}})

    assert (part.amount, rest.amount, rest.metadata.why) == (2_000, 3_000, "rest")
    assert sdk.v1.refunds.retrieve(part.id).payment_intent == invoice.payment_intent
    charge = sdk.v1.charges.list(params={"payment_intent": invoice.payment_intent}).data[0]
    assert (charge.amount_refunded, charge.refunded) == (5_000, True)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.refunds.create(params={"payment_intent": invoice.payment_intent, "amount": 1})
    assert refused.value.code == "charge_already_refunded"


def test_an_invoice_paid_out_of_band_is_paid_without_a_charge(emulator: Emulator) -> None:
    sdk = emulator.client
    cus = customer(sdk)
    invoice = sdk.v1.invoices.create(params={"customer": cus.id, "currency": "usd"})
    sdk.v1.invoice_items.create(params={"customer": cus.id, "invoice": invoice.id, "currency": "usd", "amount": 700})

    paid = sdk.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})

    assert (paid.status, paid.paid_out_of_band, paid.amount_paid, paid.amount_remaining) == ("paid", True, 700, 0)
    assert (paid.payment_intent, paid.charge) == (None, None)
    types = [e.type for e in sdk.v1.events.list(params={"limit": 100}).data]
    assert "invoice.paid" in types
    assert "invoice.payment_succeeded" not in types
    assert sdk.v1.charges.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as twice:
        sdk.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert twice.value.code == "invoice_already_paid"


def test_credit_notes_take_stripes_amount_rules(emulator: Emulator) -> None:
    sdk = emulator.client
    paid = paid_invoice(sdk, 10_000)

    split = sdk.v1.credit_notes.create(
        params={
            "invoice": paid.id,
            "amount": 3_000,
            "refund_amount": 1_000,
            "credit_amount": 1_500,
            "out_of_band_amount": 500,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as short:
        sdk.v1.credit_notes.create(params={"invoice": paid.id, "amount": 1_000, "refund_amount": 400})
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        sdk.v1.credit_notes.create(params={"invoice": paid.id, "amount": 7_001, "credit_amount": 7_001})

    assert (split.type, split.total, split.out_of_band_amount) == ("post_payment", 3_000, 500)
    assert sdk.v1.refunds.retrieve(split.refund).amount == 1_000
    assert sdk.v1.customers.retrieve(paid.customer).balance == -1_500
    assert (short.value.http_status, short.value.param) == (400, "refund_amount")
    assert too_much.value.code == "amount_too_large"
    assert [n.id for n in sdk.v1.credit_notes.list(params={"invoice": paid.id}).data] == [split.id]


# -- what the SDK reads besides the body ---------------------------------------------------------------------------


def test_responses_carry_the_headers_the_sdk_reads(emulator: Emulator) -> None:
    sdk = emulator.client
    created = sdk.v1.customers.create(params={"name": "Keyed"}, options={"idempotency_key": "sdk-key-1"})
    replayed = sdk.v1.customers.create(params={"name": "Keyed"}, options={"idempotency_key": "sdk-key-1"})
    latest = client_for(emulator.url, version=None).v1.payment_intents.create(
        params={"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )

    first, again = created.last_response, replayed.last_response
    assert first.request_id.startswith("req_")
    assert (first.idempotency_key, again.idempotency_key) == ("sdk-key-1", "sdk-key-1")
    assert (replayed.id, again.headers["Idempotent-Replayed"]) == (created.id, "true")
    assert again.headers["Original-Request"] == first.request_id
    assert first.headers["Stripe-Version"] == API_VERSION
    # The SDK's own pinned version gets that version's shape: `latest_charge` instead of `charges`.
    assert latest.last_response.headers["Stripe-Version"] == stripe.api_version
    assert latest.latest_charge.startswith("ch_")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.customers.create(params={"colour": "blue"}, options={"idempotency_key": "sdk-key-2"})
    assert refused.value.headers["Idempotency-Key"] == "sdk-key-2"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_live_nope", base_addresses={"api": emulator.url}).v1.customers.list()


@pytest.fixture
def sink() -> EventSink:
    return EventSink()


def wait_for(sink: EventSink, done: Callable[[], bool]) -> None:
    with sink.changed:
        assert sink.changed.wait_for(done, timeout=5), f"got {sink.types()}"


def test_webhooks_verify_with_the_sdks_signature_check(emulator: Emulator, sink: EventSink, own_server: Serve) -> None:
    hook_url = f"{own_server(sink.app).url}/hooks"
    emulator.sandbox("webhook", url=hook_url, secrets=["whsec_old", SECRET])
    paid_invoice(emulator.client, 2_500)
    wait_for(sink, lambda: len(sink.received) >= 5)

    with sink.changed:
        received = list(sink.received)
    events = [stripe.Webhook.construct_event(payload, header, SECRET) for payload, header in received]
    old = [stripe.Webhook.construct_event(payload, header, "whsec_old") for payload, header in received]

    assert {"invoice.paid", "payment_intent.succeeded", "charge.succeeded"} <= {e.type for e in events}
    assert [e.id for e in old] == [e.id for e in events]
    paid = next(e for e in events if e.type == "invoice.paid")
    assert isinstance(paid.data.object, stripe.Invoice)
    assert paid.data.object.amount_paid == 2_500
    payload, header = received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload + b" ", header, SECRET)  # one byte more than was signed
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_wrong")
    assert json.loads(payload)["id"] == events[0].id


def test_a_chargeback_withdraws_the_amount_blocks_refunds_and_sends_its_event(
    emulator: Emulator, sink: EventSink, own_server: Serve
) -> None:
    sdk = emulator.client
    emulator.sandbox("webhook", url=f"{own_server(sink.app).url}/hooks", secret=SECRET)
    invoice = paid_invoice(sdk, 4_000)
    inquiry_on = paid_invoice(sdk, 1_000)
    opened = emulator.sandbox("disputes", charge=invoice.charge, amount=3_000, reason="product_not_received")
    inquiry = emulator.sandbox("disputes", charge=inquiry_on.charge, status="warning_needs_response")

    dispute = sdk.v1.disputes.retrieve(opened["id"])
    assert isinstance(dispute, stripe.Dispute)
    assert (dispute.amount, dispute.currency, dispute.reason, dispute.status) == (
        3_000,
        "usd",
        "product_not_received",
        "needs_response",
    )
    assert (dispute.charge, dispute.payment_intent, dispute.is_charge_refundable) == (
        invoice.charge,
        invoice.payment_intent,
        False,
    )
    [withdrawn] = dispute.balance_transactions
    assert (withdrawn.amount, withdrawn.type, withdrawn.reporting_category) == (-3_000, "adjustment", "dispute")
    assert sdk.v1.charges.retrieve(invoice.charge).disputed is True
    assert every(sdk.v1.disputes.list, charge=invoice.charge) == [opened["id"]]
    assert sdk.v1.disputes.retrieve(inquiry["id"]).balance_transactions == []  # an inquiry withdraws nothing

    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.refunds.create(params={"charge": invoice.charge, "amount": 100})
    assert refused.value.code == "charge_disputed"
    assert sdk.v1.refunds.create(params={"charge": inquiry_on.charge, "amount": 100}).amount == 100
    again = httpx.post(f"{emulator.url}/_sandbox/disputes", json={"charge": invoice.charge})
    assert (again.status_code, again.json()["error"]["code"]) == (400, "charge_disputed")
    unknown = httpx.post(f"{emulator.url}/_sandbox/disputes", json={"charge": "ch_nope"})
    assert (unknown.status_code, unknown.json()["error"]["param"]) == (400, "charge")

    wait_for(sink, lambda: sink.types().count("charge.dispute.created") == 2)
    with sink.changed:
        received = list(sink.received)
    events = [stripe.Webhook.construct_event(payload, header, SECRET) for payload, header in received]
    disputes = [e.data.object for e in events if e.type == "charge.dispute.created"]
    assert all(isinstance(d, stripe.Dispute) for d in disputes)
    assert sorted(d.id for d in disputes) == sorted([opened["id"], inquiry["id"]])
