"""Chargebee writes with their answer lost, retried: exactly one record, whether Chargebee still holds the
idempotency key (the retry replays it) or forgot it (`/_sandbox/reset_idempotency`: the id c2c chose, the invoice's
state or the credit note's mark finds what the lost attempt wrote)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from connectors.chargebee import ChargebeeBilling
from connectors.errors import UncertainOutcome
from tests.support import chargebee as cb
from tests.support.chargebee import fresh_site  # noqa: F401 - the fixture `url`

IMPATIENT = httpx.Timeout(0.3)
LOST_AFTER = 1.0

# write -> (path_prefix, path_suffix) of the POST whose answer is lost
WRITES = {
    "customer": ("/api/v2/customers", ""),
    "subscription": ("/api/v2/customers/", "/subscription_for_items"),
    "tax_line": ("/api/v2/invoices/", "/add_charge"),
    "close": ("/api/v2/invoices/", "/close"),
    "collect": ("/api/v2/invoices/", "/collect_payment"),
    "credit_note": ("/api/v2/credit_notes", ""),
    "write_off": ("/api/v2/invoices/", "/write_off"),
}


@pytest.mark.parametrize("forget", [False, True], ids=["key-replayed", "key-forgotten"])
@pytest.mark.parametrize("write", list(WRITES))
async def test_a_lost_answer_retried_leaves_exactly_one_record(url: str, write: str, forget: bool) -> None:
    gid = f"gc_{uuid.uuid4().hex[:20]}"
    contract = cb.de_contract(f"D-{write}", gid)
    expected = cb.de_invoice(contract)
    async with httpx.AsyncClient(timeout=IMPATIENT) as impatient, httpx.AsyncClient(timeout=5.0) as patient:
        setup = cb.connector(patient, url)
        customer_id = "" if write == "customer" else await setup.create_customer(gid, "Beispiel", idempotency_key="c")
        prices = await cb.price_ids(setup, contract, "p")
        subscription_id = ""
        invoice_id = ""
        if write not in ("customer", "subscription"):
            subscription_id = (await setup.create_subscription(customer_id, contract, prices, idempotency_key="s")).id
        if write in ("close", "collect", "credit_note", "write_off"):
            invoice = await setup.create_invoice(customer_id, subscription_id, expected, idempotency_key="i")
            invoice_id = invoice.external_refs["chargebee"]
        if write in ("collect", "credit_note", "write_off"):
            await setup.finalize_invoice(invoice_id, idempotency_key="f")

        async def call(billing: ChargebeeBilling) -> str:
            if write == "customer":
                return await billing.create_customer(gid, "Beispiel", idempotency_key="saga:customer")
            if write == "subscription":
                made = await billing.create_subscription(customer_id, contract, prices, idempotency_key="saga:sub")
                return made.id
            if write == "tax_line":
                done = await billing.create_invoice(customer_id, subscription_id, expected, idempotency_key="saga:inv")
                return done.external_refs["chargebee"]
            if write == "close":
                return (await billing.finalize_invoice(invoice_id, idempotency_key="saga:close")).external_refs[
                    "chargebee"
                ]
            if write == "collect":
                return (await billing.collect_payment(invoice_id, idempotency_key="saga:collect")).external_refs[
                    "chargebee"
                ]
            if write == "write_off":
                await billing.mark_uncollectible(invoice_id, idempotency_key="saga:write-off")
                return invoice_id
            credited = await billing.credit_invoice(invoice_id, "order_cancellation", idempotency_key="saga:credit")
            assert credited is not None
            return credited

        prefix, suffix = WRITES[write]
        rule = {"method": "POST", "path_prefix": prefix, "path_suffix": suffix, "kind": "delay_after"}
        cb.arm(url, **rule, seconds=LOST_AFTER)
        with pytest.raises(UncertainOutcome):
            await call(cb.connector(impatient, url))
        if forget:
            (await patient.post(f"{url}/_sandbox/reset_idempotency")).raise_for_status()
        answered = await call(cb.connector(patient, url))
        state = cb.state(url)
        if write == "customer":
            assert [c["id"] for c in state["customers"]] == [answered]
        elif write == "subscription":
            assert [s["id"] for s in state["subscriptions"]] == [answered]
        elif write == "tax_line":
            (only,) = state["invoices"]
            assert only["id"] == answered
            assert [line["amount"] for line in only["line_items"] if line["entity_type"] == "adhoc"] == [
                expected.tax.amount
            ]
        elif write == "close":
            assert [i["status"] for i in state["invoices"]] == ["payment_due"]
        elif write == "collect":
            assert [t["id"] for t in state["transactions"]] == [answered]
            assert state["invoices"][0]["status"] == "paid"
        elif write == "write_off":
            assert [n["reason_code"] for n in state["credit_notes"]] == ["write_off"]
        else:
            assert [n["id"] for n in state["credit_notes"]] == [answered]
