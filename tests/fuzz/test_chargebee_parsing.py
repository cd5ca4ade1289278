"""Fuzzing the Chargebee connector's readers and the emulator's form parser.

The connector's calls are recorded once against the emulator and replayed with one value of one answer removed or
replaced (tests/support/replay.py): the connector returns normally or raises its taxonomy naming the field, never
KeyError / TypeError from inside a mapping. Error bodies of any shape classify into the taxonomy. The emulator refuses
any form body it cannot read with Chargebee's 400 error, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from connectors.chargebee import ChargebeeBilling
from connectors.chargebee.errors import classify
from connectors.chargebee.wire import encode_form
from connectors.errors import ConnectorError
from sandbox.chargebee.app import API_KEY, create_app
from tests.support import chargebee as cb
from tests.support.fuzzing import fuzzing
from tests.support.replay import JUNK, Operation, Replay, keys, mutations, refusal, survives


@pytest.fixture(scope="module")
async def recorded(emulators: Any) -> dict[str, Operation]:
    """The first invoice's close and collection, and the payment read back, recorded on a subscription of its own."""
    url = emulators.url("chargebee")
    tag = uuid.uuid4().hex[:10]
    gid = f"gc_fz{tag}"
    contract = cb.de_contract(f"FZ-{tag}", gid)
    async with httpx.AsyncClient(timeout=10) as http:
        billing = cb.connector(http, url)
        customer_id = await billing.create_customer(gid, "Fuzz GmbH", idempotency_key=f"fz{tag}:c")
        prices = await cb.price_ids(billing, contract, f"fz{tag}:p")
        subscription = await billing.create_subscription(customer_id, contract, prices, idempotency_key=f"fz{tag}:s")
        draft = await billing.create_invoice(
            customer_id, subscription.id, cb.de_invoice(contract), idempotency_key=f"fz{tag}:i"
        )
        invoice_id = draft.external_refs["chargebee"]

    def connector(http: httpx.AsyncClient) -> ChargebeeBilling:
        return cb.connector(http, url)

    async def finalize_and_collect(http: httpx.AsyncClient) -> Any:
        finalized = await connector(http).finalize_invoice(invoice_id, idempotency_key=f"fz{tag}:f")
        await connector(http).collect_payment(invoice_id, idempotency_key=f"fz{tag}:pay")
        return finalized

    async def reconciliation_reads(http: httpx.AsyncClient) -> Any:
        since = datetime.now(UTC) - timedelta(hours=1)
        reads = connector(http)
        return (
            await reads.invoices_created_since(since),
            await reads.subscriptions_created_since(since),
            await reads.customers_of([gid]),
        )

    operations = [
        Operation("chargebee.finalize_and_collect", finalize_and_collect),
        Operation("chargebee.payment_for_invoice", lambda http: connector(http).payment_for_invoice(invoice_id)),
        Operation("chargebee.reconciliation_reads", reconciliation_reads),
    ]
    for operation in operations:
        await operation.record()
    return {operation.name: operation for operation in operations}


NAMES = ["chargebee.finalize_and_collect", "chargebee.payment_for_invoice", "chargebee.reconciliation_reads"]
NOT_AN_INTEGER = JUNK.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))


@given(data=st.data())
@fuzzing(150)
async def test_answers_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = recorded[data.draw(st.sampled_from(NAMES))]
    await survives(op, data.draw(mutations(op, root=True)))


@given(data=st.data())
@fuzzing(100)
async def test_amounts_that_are_not_integers_of_minor_units_are_refused(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Money never passes through a float: a fractional, textual or structured amount is a PermanentError."""
    op = recorded[data.draw(st.sampled_from(NAMES))]
    amounts = keys("amount", "unit_amount", "amount_paid", "quantity")
    mutation = data.draw(mutations(op, NOT_AN_INTEGER, keep=amounts, remove=False))
    transport = Replay(mutation.apply(op.tape))
    error = await refusal(op, transport)
    if error is not None:
        assert error.code == "bad_response" or transport.strayed, error


@given(status=st.integers(400, 599), body=st.one_of(st.binary(max_size=200), JUNK.map(lambda v: repr(v).encode())))
@fuzzing(300)
def test_any_error_answer_classifies_into_the_taxonomy(status: int, body: bytes) -> None:
    response = httpx.Response(status, content=body, request=httpx.Request("POST", "http://cb/api/v2/customers"))
    assert isinstance(classify(response), ConnectorError)


FORM_KEYS = st.text(alphabet="abc_[]019", min_size=1, max_size=12)
FORM_VALUES = st.text(max_size=20)


@pytest.fixture(scope="module")
def chargebee_app() -> Iterator[TestClient]:
    """One emulator for every case (building the app per case was most of this test's time)."""
    with TestClient(create_app()) as client:
        yield client


@given(pairs=st.lists(st.tuples(FORM_KEYS, FORM_VALUES), max_size=6))
@fuzzing(300)
def test_the_emulator_refuses_unreadable_forms_with_chargebees_error_never_a_crash(
    chargebee_app: TestClient, pairs: list[tuple[str, str]]
) -> None:
    client = chargebee_app
    for path in ("customers", "credit_notes", "customers/nobody/subscription_for_items"):
        response = client.post(f"/api/v2/{path}", data=dict(pairs), auth=(API_KEY, ""))
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            body = response.json()
            assert {"message", "api_error_code", "http_status_code"} <= set(body)


@given(
    value=st.recursive(
        st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.none()),
        lambda inner: st.dictionaries(st.text("abz_", min_size=1, max_size=4), inner, max_size=3),
        max_leaves=8,
    )
)
@fuzzing(200)
def test_the_connectors_form_encoding_is_read_back_by_the_emulator(value: Any) -> None:
    """What the connector encodes in bracket notation the emulator's parser reads back to the same values."""
    from sandbox.chargebee.wire import parse_form

    form = {"p": value}
    pairs = encode_form(form)
    encoded = "&".join(f"{httpx.QueryParams({k: v})}" for k, v in pairs).encode()
    parsed = parse_form(encoded)

    def expect(item: Any) -> Any:
        if isinstance(item, dict):
            kept = {k: expect(v) for k, v in item.items() if v is not None and expect(v) != {}}
            return kept
        return ("true" if item else "false") if isinstance(item, bool) else str(item)

    assert parsed.get("p", {}) == expect(value) or (value is None and parsed == {})
