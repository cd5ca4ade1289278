"""Fuzzing every Stripe and AvaTax answer c2c parses, beyond the invoice, payment and quote of
tests/fuzz/test_vendor_parsing.py: customer search and updates, price lookup, the deal's subscription, refunds and
their lookup, credit notes, the reconciler's list reads, renewals, subscription ends, payment notices, write-offs,
and AvaTax's document listing. Each call is recorded once against the emulators, then replayed with one field of one
answer removed, given another JSON type, or replaced by junk (tests/support/replay.py): the connector returns
normally or raises its taxonomy naming the field, never KeyError, TypeError or AttributeError."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical import Money, TaxRequest
from connectors.avatax import AvaTaxEngine
from connectors.errors import ConnectorError
from connectors.stripe import StripeBilling
from connectors.stripe.webhooks import PaymentNotice
from tests.support.avatax import ACCOUNT_ID, LICENSE_KEY, tax_request
from tests.support.fuzzing import fuzzing
from tests.support.replay import JUNK, Operation, mistyped, mutations, survives
from tests.support.stripe import API_KEY, make_contract, make_customer, make_invoice, price, subscribe


@pytest.fixture(scope="module")
async def recorded(emulators: Any) -> dict[str, Operation]:
    """One recorded call per parsing path, on records made for this module (a paid invoice with a refund and a
    credit note, a cancelled subscription, a tax document)."""
    stripe_url, avatax_url = emulators.url("stripe"), emulators.url("avatax")
    tag = uuid.uuid4().hex[:8]
    golden = f"gc_fzb{tag}"
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with httpx.AsyncClient(timeout=10) as http:
        billing = StripeBilling(http, stripe_url, API_KEY)
        customer_id, subscription = await subscribe(billing, f"fzb{tag}", make_customer(golden_id=golden))
        price_ids = {item.product_code: item.price_id for item in subscription.items}
        draft = await billing.create_invoice(
            customer_id, subscription.id, make_invoice(), idempotency_key=f"fzb{tag}:i"
        )
        invoice_id = draft.external_refs["stripe"]
        await billing.finalize_invoice(invoice_id, idempotency_key=f"fzb{tag}:f")
        payment = await billing.collect_payment(invoice_id, idempotency_key=f"fzb{tag}:p")
        intent_id = payment.external_refs["stripe"]
        await billing.refund(intent_id, Money(amount=1_00, currency="USD"), idempotency_key=f"fzb{tag}:r0")
        await billing.create_credit_note(
            invoice_id, Money(amount=50, currency="USD"), "goodwill", idempotency_key=f"fzb{tag}:n0"
        )
        _, ended = await subscribe(billing, f"fzc{tag}", make_customer(golden_id=f"gc_fzc{tag}"))
        await billing.cancel_subscription(ended.id, idempotency_key=f"fzc{tag}:cancel")
        tax = AvaTaxEngine(http, avatax_url, ACCOUNT_ID, LICENSE_KEY)
        await tax.quote(_tax_request(tag))

    def stripe(http: httpx.AsyncClient) -> StripeBilling:
        return StripeBilling(http, stripe_url, API_KEY)

    def avatax(http: httpx.AsyncClient) -> AvaTaxEngine:
        return AvaTaxEngine(http, avatax_url, ACCOUNT_ID, LICENSE_KEY)

    notice = PaymentNotice(event_id="evt_fuzz", type="payment_intent.succeeded", payment_intent_id=intent_id, created=0)
    key = f"fzb{tag}:replay"
    calls = {
        "create_customer": lambda h: stripe(h).create_customer(golden, "Fuzz", idempotency_key=f"{key}:c"),
        "upsert_customer": lambda h: stripe(h).upsert_customer(
            make_customer(golden_id=golden), idempotency_key=f"{key}:u"
        ),
        "ensure_price": lambda h: stripe(h).ensure_price(price(), "Platform seat", idempotency_key=f"{key}:p"),
        "create_subscription": lambda h: stripe(h).create_subscription(
            customer_id, make_contract(), price_ids, idempotency_key=f"{key}:s"
        ),
        "update_subscription": lambda h: stripe(h).update_subscription(
            subscription.id, make_contract().lines, price_ids, datetime.now(UTC), idempotency_key=f"{key}:a"
        ),
        "refund": lambda h: stripe(h).refund(intent_id, Money(amount=2_00, currency="USD"), idempotency_key=f"{key}:r"),
        "create_credit_note": lambda h: stripe(h).create_credit_note(
            invoice_id, Money(amount=25, currency="USD"), "goodwill", idempotency_key=f"{key}:n"
        ),
        "credit_invoice": lambda h: stripe(h).credit_invoice(invoice_id, "undo", idempotency_key=f"{key}:ci"),
        "send_invoice": lambda h: stripe(h).send_invoice(invoice_id, idempotency_key=f"{key}:send"),
        "mark_uncollectible": lambda h: stripe(h).mark_uncollectible(invoice_id, idempotency_key=f"{key}:mu"),
        "void_invoice": lambda h: stripe(h).void_invoice(invoice_id, idempotency_key=f"{key}:v"),
        "complete_notice": lambda h: stripe(h).complete_notice(notice),
        "invoices_created_since": lambda h: stripe(h).invoices_created_since(since),
        "subscriptions_created_since": lambda h: stripe(h).subscriptions_created_since(since),
        "credit_notes_created_since": lambda h: stripe(h).credit_notes_created_since(since),
        "customers_of": lambda h: stripe(h).customers_of([golden]),
        "subscriptions_by_id": lambda h: stripe(h).subscriptions_by_id([subscription.id, ended.id]),
        "renewal_invoices": lambda h: stripe(h).renewal_invoices(subscription.id),
        "subscription_end": lambda h: stripe(h).subscription_end(ended.id),
        "avatax.documents_since": lambda h: avatax(h).documents_since(["US01"], date(2026, 5, 1)),
    }
    operations = [Operation(name if "." in name else f"stripe.{name}", run) for name, run in calls.items()]
    for operation in operations:
        with contextlib.suppress(ConnectorError):  # refusals (a paid invoice is not voided) are replayed too
            await operation.record()
    return {operation.name: operation for operation in operations}


def _tax_request(tag: str) -> TaxRequest:
    request = tax_request("US01", make_customer().address, "USD", [100_00, 19_99], code=f"c2c-fuzz-{tag}")
    return request.model_copy(update={"date": date(2026, 5, 2)})


def billing_operations(recorded: dict[str, Operation]) -> st.SearchStrategy[Operation]:
    return st.sampled_from(sorted((op for name, op in recorded.items() if name.startswith("stripe.")), key=str))


@given(data=st.data())
@fuzzing(300)
async def test_billing_answers_with_a_field_missing_or_of_another_type_are_refused_naming_it(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = data.draw(billing_operations(recorded))
    await survives(op, data.draw(mistyped(op)))


@given(data=st.data())
@fuzzing(200)
async def test_billing_answers_with_junk_anywhere_are_connector_errors(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Junk of any type, also of the field's own (an empty status, a negative quantity, a date past year 9999), or
    a whole body that is not an object: the taxonomy or a ValueError, never a crash from inside a mapping."""
    op = data.draw(billing_operations(recorded))
    await survives(op, data.draw(mutations(op, JUNK, root=True)), named=False)


@given(data=st.data())
@fuzzing(100)
async def test_tax_document_listings_with_broken_fields_are_refused(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = recorded["avatax.documents_since"]
    await survives(op, data.draw(mutations(op, JUNK, root=True)), named=False)
    await survives(op, data.draw(mistyped(op)))
