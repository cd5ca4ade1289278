"""The saga's billing undos are idempotent and safe when their step never happened (property-based).

Each example: the step is done or not, then the undo is called 1-3 times, each call possibly preceded by Stripe
forgetting its idempotency keys (24 h) or with its answer lost (the write happens, the client times out), and
finally once more as Temporal would retry until it succeeds. The emulator must then hold exactly one void, one
credit note for what was due, one cancelled subscription, or nothing new when the step never happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import PermanentError, TransientError, UncertainOutcome
from connectors.stripe import StripeBilling
from tests.support.stripe import API_KEY, make_invoice, open_invoice, sandbox_state, subscribe

T = TypeVar("T")
Interference = Literal["none", "forget_keys", "lost_answer"]

CALLS = st.lists(st.sampled_from(["none", "forget_keys", "lost_answer"]), min_size=1, max_size=3)
UNDO_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
LOST_AFTER = 0.3  # the emulator answers this long after the write; the impatient client gave up at 0.1 s
TOTAL = 757_70  # make_invoice(): what is due on the invoice


@dataclass
class Estate:
    url: str
    http: httpx.AsyncClient
    billing: StripeBilling  # patient: the final, successful retry
    impatient: StripeBilling  # loses the answers a `delay_after` fault holds back

    async def state(self) -> dict[str, Any]:
        return await sandbox_state(self.http, self.url)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in (await self.state())["events"] if e["type"] == kind]


@asynccontextmanager
async def fresh_stripe(emulators: Any) -> AsyncIterator[Estate]:
    """The session's Stripe emulator, reset and without faults, and the connector twice over."""
    url: str = emulators.url("stripe")
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http,
        httpx.AsyncClient(timeout=httpx.Timeout(0.1)) as hasty,
    ):
        (await http.post(f"{url}/_sandbox/reset")).raise_for_status()
        (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()
        yield Estate(url, http, StripeBilling(http, url, API_KEY), StripeBilling(hasty, url, API_KEY))
        (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()


async def undo_repeatedly(
    estate: Estate,
    calls: list[Interference],
    undo: Callable[[StripeBilling], Awaitable[T]],
    lost: dict[str, str],
) -> list[T]:
    """Call `undo` once per interference, then once more undisturbed; the results of the calls that answered.

    A call with its answer lost may raise UncertainOutcome (or TransientError when a read was the one held
    back); any call may meet a key still in flight (409, TransientError). The last call must succeed."""
    results: list[T] = []
    for interference in calls:
        if interference == "forget_keys":
            (await estate.http.post(f"{estate.url}/_sandbox/reset_idempotency")).raise_for_status()
        client = estate.billing
        if interference == "lost_answer":
            rule = {"kind": "delay_after", "seconds": LOST_AFTER, **lost}
            (await estate.http.post(f"{estate.url}/_sandbox/faults", json=rule)).raise_for_status()
            client = estate.impatient
        try:
            results.append(await undo(client))
        except (UncertainOutcome, TransientError):
            pass  # as Temporal would, try again
        (await estate.http.delete(f"{estate.url}/_sandbox/faults")).raise_for_status()
    await until_nothing_in_flight(estate)
    results.append(await undo(estate.billing))
    return results


async def in_flight(estate: Estate) -> bool:
    return bool((await estate.state())["idempotency_in_flight"])


async def until_nothing_in_flight(estate: Estate) -> None:
    """Wait for answers held back by a fault (their keys are in flight: a retry now would get a 409)."""
    async with asyncio.timeout(5):
        while await in_flight(estate):
            await asyncio.sleep(0.02)


async def draft_invoice(billing: StripeBilling, key: str) -> str:
    """The subscription's first invoice completed by the saga but never finalized."""
    customer_id, subscription = await subscribe(billing, key)
    draft = await billing.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key=f"{key}:inv")
    return draft.external_refs["stripe"]


@given(finalized=st.booleans(), calls=CALLS)
@UNDO_SETTINGS
async def test_void_invoice_voids_exactly_once_whatever_happens_between_the_calls(
    emulators: Any, finalized: bool, calls: list[Interference]
) -> None:
    async with fresh_stripe(emulators) as estate:
        if finalized:
            _, invoice = await open_invoice(estate.billing, "wf80")
            invoice_id = invoice.external_refs["stripe"]
        else:
            invoice_id = await draft_invoice(estate.billing, "wf80")

        async def void(billing: StripeBilling) -> None:
            await billing.void_invoice(invoice_id, idempotency_key="wf80:void-invoice")

        await undo_repeatedly(estate, calls, void, {"method": "POST", "path_prefix": f"/v1/invoices/{invoice_id}/"})

        state = await estate.state()
        assert [(i["id"], i["status"]) for i in state["invoices"]] == [(invoice_id, "void")]
        assert len(await estate.events("invoice.voided")) == 1
        assert (state["payment_intents"], state["credit_notes"]) == ([], [])


@given(sent=st.booleans(), calls=CALLS)
@UNDO_SETTINGS
async def test_credit_invoice_credits_what_was_due_exactly_once_and_nothing_for_an_unissued_invoice(
    emulators: Any, sent: bool, calls: list[Interference]
) -> None:
    async with fresh_stripe(emulators) as estate:
        if sent:
            _, invoice = await open_invoice(estate.billing, "wf81")
            invoice_id = invoice.external_refs["stripe"]
            await estate.billing.send_invoice(invoice_id, idempotency_key="wf81:send")
        else:
            invoice_id = await draft_invoice(estate.billing, "wf81")

        async def credit(billing: StripeBilling) -> str | None:
            return await billing.credit_invoice(invoice_id, "order_change", idempotency_key="wf81:credit-note")

        notes = await undo_repeatedly(estate, calls, credit, {"method": "POST", "path_prefix": "/v1/credit_notes"})

        state = await estate.state()
        [stored] = state["invoices"]
        if not sent:
            assert (set(notes), state["credit_notes"], stored["status"]) == ({None}, [], "draft")
            return
        [note] = state["credit_notes"]
        assert set(notes) == {note["id"]}
        assert (note["amount"], note["metadata"]) == (TOTAL, {"c2c_key": "wf81:credit-note"})
        assert (stored["status"], stored["amount_paid"], stored["amount_remaining"]) == ("paid", 0, 0)


@given(subscribed=st.booleans(), calls=CALLS)
@UNDO_SETTINGS
async def test_cancel_subscription_cancels_exactly_once_and_creates_nothing_without_a_subscription(
    emulators: Any, subscribed: bool, calls: list[Interference]
) -> None:
    async with fresh_stripe(emulators) as estate:
        subscription_id = "sub_never_created"
        if subscribed:
            _, subscription = await subscribe(estate.billing, "wf82")
            subscription_id = subscription.id

        async def cancel(billing: StripeBilling) -> str:
            """'cancelled', or the code of the permanent refusal (an id Stripe never gave)."""
            try:
                await billing.cancel_subscription(subscription_id, idempotency_key="wf82:cancel-subscription")
            except PermanentError as refused:
                return refused.code
            return "cancelled"

        lost = {"method": "DELETE", "path_prefix": f"/v1/subscriptions/{subscription_id}"}
        outcomes = await undo_repeatedly(estate, calls, cancel, lost)

        state = await estate.state()
        if not subscribed:
            assert set(outcomes) == {"resource_missing"}
            assert (state["subscriptions"], state["invoices"], state["events"]) == ([], [], [])
            return
        assert set(outcomes) == {"cancelled"}
        [stored] = state["subscriptions"]
        assert (stored["id"], stored["status"]) == (subscription_id, "canceled")
        assert [(i["id"], i["status"]) for i in state["invoices"]] == [(stored["latest_invoice"], "void")]
        assert len(await estate.events("invoice.voided")) == 1
