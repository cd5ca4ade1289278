"""The Stripe emulator's events and their delivery: what each payment outcome emits, signed webhooks with retries,
and deliveries that arrive twice, late, shuffled or signed with several secrets."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.stripe import InvalidSignature, verify_event
from sandbox.server import build_app
from tests.support.servers import Serve
from tests.support.stripe_wire import CARD_PAID, SECRET, EventSink, get, intent_of, open_invoice, post, state


@dataclass
class Hooked:
    sink: EventSink
    url: str  # the emulator
    hook_url: str  # where it delivers


@pytest.fixture
def hooked(own_server: Serve) -> Hooked:
    """An emulator of its own delivering to a sink; its bank debits settle on a short timer."""
    sink = EventSink()
    hook_url = f"{own_server(sink.app).url}/hooks"
    app = build_app("stripe", webhook_url=hook_url, webhook_secret=SECRET, async_settle_seconds=0.05)
    return Hooked(sink, own_server(app).url, hook_url)


async def configure(http: httpx.AsyncClient, emulator: str, **config: Any) -> dict[str, Any]:
    response = await http.post(f"{emulator}/_sandbox/webhook", json=config)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def draft_invoice(http: httpx.AsyncClient, url: str, amount: int = 1_000) -> dict[str, Any]:
    """A customer paying by card and a draft invoice of `amount` (no event emitted yet)."""
    card = {"invoice_settings[default_payment_method]": "pm_card_visa"}
    customer = (await post(http, url, "/v1/customers", {"name": "Acme", **card})).json()
    draft = (await post(http, url, "/v1/invoices", {"customer": customer["id"], "currency": "usd"})).json()
    item = {"customer": customer["id"], "invoice": draft["id"], "currency": "usd", "amount": str(amount)}
    assert (await post(http, url, "/v1/invoiceitems", item)).status_code == 200
    return draft


# -- what each outcome emits ---------------------------------------------------------------------------------------


async def test_a_card_payment_emits_the_charge_intent_and_invoice_events_with_objects_as_they_were(
    http: httpx.AsyncClient, hooked: Hooked
) -> None:
    sink, url = hooked.sink, hooked.url
    invoice = await open_invoice(http, url, 1_000, payment_method="pm_card_visa")

    paid = (await post(http, url, f"/v1/invoices/{invoice['id']}/pay")).json()

    delivered = await sink.wait_for(*CARD_PAID)
    events = {e["type"]: e for e in (verify_event(p, s, SECRET) for p, s in delivered)}
    assert sorted(events) == sorted(["invoice.finalized", *CARD_PAID])
    objects = {kind: event["data"]["object"] for kind, event in events.items()}
    assert (objects["invoice.finalized"]["status"], objects["invoice.finalized"]["amount_paid"]) == ("open", 0)
    assert (objects["invoice.paid"]["status"], objects["invoice.paid"]["amount_paid"]) == ("paid", 1_000)
    assert objects["invoice.payment_succeeded"]["id"] == invoice["id"]
    intent = objects["payment_intent.succeeded"]
    assert (intent["id"], intent["status"], intent["invoice"]) == (paid["payment_intent"], "succeeded", invoice["id"])
    charge = objects["charge.succeeded"]
    assert (charge["status"], charge["payment_intent"], charge["invoice"]) == ("succeeded", intent["id"], invoice["id"])
    listed = [e["type"] for e in reversed((await get(http, url, "/v1/events")).json()["data"])]
    assert listed == ["invoice.finalized", *CARD_PAID]  # emitted in this order; delivered in any


async def test_a_declined_card_emits_the_failed_charge_intent_and_invoice_events(
    http: httpx.AsyncClient, hooked: Hooked
) -> None:
    sink, url = hooked.sink, hooked.url
    invoice = await open_invoice(http, url, 1_000, payment_method="pm_card_chargeDeclined")

    declined = await post(http, url, f"/v1/invoices/{invoice['id']}/pay")

    failed = ["charge.failed", "payment_intent.payment_failed", "invoice.payment_failed"]
    delivered = await sink.wait_for(*failed)
    objects = {e["type"]: e["data"]["object"] for e in (verify_event(p, s, SECRET) for p, s in delivered)}
    assert declined.status_code == 402
    assert (objects["charge.failed"]["status"], objects["charge.failed"]["failure_code"]) == ("failed", "card_declined")
    intent = objects["payment_intent.payment_failed"]
    assert (intent["status"], intent["last_payment_error"]["decline_code"]) == (
        "requires_payment_method",
        "generic_decline",
    )
    failed_invoice = objects["invoice.payment_failed"]
    assert (failed_invoice["status"], failed_invoice["attempt_count"]) == ("open", 1)
    assert "invoice.paid" not in sink.types()


async def test_a_refund_emits_charge_refunded_with_the_refunded_charge(http: httpx.AsyncClient, hooked: Hooked) -> None:
    sink, url = hooked.sink, hooked.url
    invoice = await open_invoice(http, url, 1_000, payment_method="pm_card_visa")
    intent = (await post(http, url, f"/v1/invoices/{invoice['id']}/pay")).json()["payment_intent"]

    part = (await post(http, url, "/v1/refunds", {"payment_intent": intent, "amount": "300"})).json()
    rest = (await post(http, url, "/v1/refunds", {"payment_intent": intent})).json()

    await sink.wait_until(lambda: sink.types().count("charge.refunded") == 2, "two charge.refunded")
    refunded = [e["data"]["object"] for e in sink.events() if e["type"] == "charge.refunded"]
    by_amount = {charge["amount_refunded"]: charge for charge in refunded}
    assert sorted(by_amount) == [300, 1_000]
    assert (by_amount[300]["refunded"], by_amount[1_000]["refunded"]) == (False, True)
    assert [r["id"] for r in by_amount[1_000]["refunds"]["data"]] == [part["id"], rest["id"]]
    assert {c["payment_intent"] for c in refunded} == {intent}


@pytest.mark.parametrize(
    ("payment_method", "outcome", "intent_status", "invoice_status"),
    [
        ("pm_usBankAccount", CARD_PAID, "succeeded", "paid"),
        (
            "pm_usBankAccount_insufficientFunds",
            ["charge.failed", "payment_intent.payment_failed", "invoice.payment_failed"],
            "requires_payment_method",
            "open",
        ),
    ],
)
async def test_bank_debits_settle_on_their_timer_and_the_events_arrive_signed(
    http: httpx.AsyncClient,
    hooked: Hooked,
    payment_method: str,
    outcome: list[str],
    intent_status: str,
    invoice_status: str,
) -> None:
    sink, url = hooked.sink, hooked.url
    invoice = await open_invoice(http, url, 4_200, payment_method=payment_method)

    paid = (await post(http, url, f"/v1/invoices/{invoice['id']}/pay")).json()

    delivered = await sink.wait_for("payment_intent.processing", *outcome)
    events = {event["type"]: event for event in (verify_event(p, s, SECRET) for p, s in delivered)}
    intent, settled_invoice = events[outcome[1]]["data"]["object"], events[outcome[-1]]["data"]["object"]
    assert (intent["id"], intent["status"]) == (paid["payment_intent"], intent_status)
    assert (settled_invoice["id"], settled_invoice["status"]) == (invoice["id"], invoice_status)
    assert events[outcome[1]]["request"] == {"id": None, "idempotency_key": None}  # Stripe acted on its own
    assert (await intent_of(http, url, paid["payment_intent"]))["status"] == intent_status


# -- delivery ------------------------------------------------------------------------------------------------------


async def test_events_are_listed_and_posted_signed_with_retries(http: httpx.AsyncClient, own_server: Serve) -> None:
    sink = EventSink(fail_first=1)
    hooks = own_server(sink.app)
    url = own_server(build_app("stripe", webhook_url=f"{hooks.url}/hooks", webhook_secret="whsec_t")).url
    draft = await draft_invoice(http, url, 100)

    await post(http, url, f"/v1/invoices/{draft['id']}/finalize")

    [(payload, signature)] = await sink.wait_count(1)
    event = verify_event(payload, signature, "whsec_t")
    assert (event["type"], event["data"]["object"]["id"]) == ("invoice.finalized", draft["id"])
    listed = (await get(http, url, "/v1/events")).json()["data"]
    assert [e["id"] for e in listed] == [event["id"]]
    async with asyncio.timeout(5):  # the emulator logs the attempt once it has read the 200
        while len(deliveries := (await state(http, url))["webhook_deliveries"]) < 2:
            await asyncio.sleep(0.01)
    assert [(d["event"], d["type"], d["copy"], d["attempt"], d["status"]) for d in deliveries] == [
        (event["id"], "invoice.finalized", 0, 1, 500),
        (event["id"], "invoice.finalized", 0, 2, 200),
    ]
    assert (await get(http, url, f"/v1/events/{event['id']}")).json()["pending_webhooks"] == 0


async def test_webhook_target_and_secret_can_be_changed_at_run_time(http: httpx.AsyncClient, own_server: Serve) -> None:
    sink = EventSink()
    hooks = own_server(sink.app)
    url = own_server(build_app("stripe")).url  # delivering nowhere
    await open_invoice(http, url, 1_000)

    configured = await configure(http, url, url=f"{hooks.url}/hooks", secret="whsec_runtime")
    invoice = await open_invoice(http, url, 1_000)

    assert configured == {
        "url": f"{hooks.url}/hooks",
        "secrets": 1,
        "duplicates": 0,
        "delay_seconds": 0.0,
        "reorder": False,
        "reorder_window": 0.2,
        "seed": None,
        "pending": 0,
    }
    [(payload, signature)] = await sink.wait_count(1)
    assert verify_event(payload, signature, "whsec_runtime")["data"]["object"]["id"] == invoice["id"]
    stopped = await configure(http, url, url=None)
    await open_invoice(http, url, 1_000)
    assert (stopped["url"], (await state(http, url))["webhook"]["pending"]) == (None, 0)


async def test_duplicates_deliver_every_event_several_times_under_one_id(
    http: httpx.AsyncClient, hooked: Hooked
) -> None:
    sink, url = hooked.sink, hooked.url
    await configure(http, url, url=hooked.hook_url, duplicates=2)
    draft = await draft_invoice(http, url)

    await post(http, url, f"/v1/invoices/{draft['id']}/finalize")

    delivered = await sink.wait_count(3)
    assert len({verify_event(p, s, SECRET)["id"] for p, s in delivered}) == 1
    async with asyncio.timeout(5):
        while len(deliveries := (await state(http, url))["webhook_deliveries"]) < 3:
            await asyncio.sleep(0.01)
    assert sorted((d["copy"], d["attempt"], d["status"]) for d in deliveries) == [(0, 1, 200), (1, 1, 200), (2, 1, 200)]


async def test_delay_holds_each_delivery_until_it_is_due(http: httpx.AsyncClient, hooked: Hooked) -> None:
    sink, url = hooked.sink, hooked.url
    hook_url = hooked.hook_url
    await configure(http, url, url=hook_url, delay_seconds=1.0)
    draft = await draft_invoice(http, url)

    await post(http, url, f"/v1/invoices/{draft['id']}/pay")
    held = await state(http, url)

    assert (held["webhook"]["pending"], held["webhook_deliveries"], sink.received) == (5, [], [])
    await sink.wait_count(5)  # each one when due, in no set order (a loaded machine delivers the first last)
    assert sorted(sink.types()) == sorted(["invoice.finalized", *CARD_PAID])
    async with asyncio.timeout(5):
        while (await state(http, url))["webhook"]["pending"]:
            await asyncio.sleep(0.01)


async def test_reorder_shuffles_a_window_of_deliveries_the_same_way_for_the_same_seed(
    http: httpx.AsyncClient, hooked: Hooked
) -> None:
    sink, url = hooked.sink, hooked.url
    hook_url = hooked.hook_url

    async def delivered_order(seed: int) -> list[int]:
        """Emission positions in the order the sink received them, for one card payment of a draft."""
        await http.post(f"{url}/_sandbox/reset")
        sink.clear()
        # A window that holds all five events even on a loaded machine (they are emitted within one request).
        await configure(http, url, url=hook_url, reorder=True, reorder_window=1.0, seed=seed, duplicates=1)
        draft = await draft_invoice(http, url)
        await post(http, url, f"/v1/invoices/{draft['id']}/pay")
        received = await sink.wait_count(10)
        emitted = [e["id"] for e in (await state(http, url))["events"]]
        return [emitted.index(json.loads(payload)["id"]) for payload, _ in received]

    first = await delivered_order(seed=7)
    again = await delivered_order(seed=7)
    other = await delivered_order(seed=8)

    assert sorted(first) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # 5 events, each twice
    assert first != sorted(first)
    assert again == first
    assert other != first


async def test_several_secrets_sign_each_delivery_so_either_verifies_while_a_secret_is_rolled(
    http: httpx.AsyncClient, hooked: Hooked
) -> None:
    sink, url = hooked.sink, hooked.url
    hook_url = hooked.hook_url
    rolled = await configure(http, url, url=hook_url, secrets=["whsec_old", "whsec_new"])
    first = await draft_invoice(http, url)

    await post(http, url, f"/v1/invoices/{first['id']}/finalize")

    [(payload, signature)] = await sink.wait_count(1)
    assert rolled["secrets"] == 2
    assert signature is not None
    assert signature.count("v1=") == 2
    assert verify_event(payload, signature, "whsec_old") == verify_event(payload, signature, "whsec_new")
    with pytest.raises(InvalidSignature):
        verify_event(payload, signature, SECRET)
    # Re-pointing without a secret keeps the secrets; `secret` alone replaces them with one.
    assert (await configure(http, url, url=hook_url))["secrets"] == 2
    await configure(http, url, url=hook_url, secret="whsec_new")
    second = await draft_invoice(http, url)
    await post(http, url, f"/v1/invoices/{second['id']}/finalize")
    _, (payload, signature) = await sink.wait_count(2)
    assert signature is not None
    assert signature.count("v1=") == 1
    assert verify_event(payload, signature, "whsec_new")["data"]["object"]["id"] == second["id"]


async def test_reset_drops_deliveries_not_yet_made(http: httpx.AsyncClient, hooked: Hooked) -> None:
    sink, url = hooked.sink, hooked.url
    hook_url = hooked.hook_url
    await configure(http, url, url=hook_url, delay_seconds=0.5)
    draft = await draft_invoice(http, url)
    await post(http, url, f"/v1/invoices/{draft['id']}/finalize")

    await http.post(f"{url}/_sandbox/reset")

    assert (await state(http, url))["webhook"]["pending"] == 0
    later = await draft_invoice(http, url)
    await post(http, url, f"/v1/invoices/{later['id']}/finalize")
    [(payload, _)] = await sink.wait_count(1)
    assert json.loads(payload)["data"]["object"]["id"] == later["id"]
