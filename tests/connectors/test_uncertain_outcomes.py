"""Uncertain outcomes are resolved, never guessed: every connector write, applied with its answer lost, retried.

The pattern, for each external write of each connector (the role methods of connectors/roles.py):

1. arm the emulator's `delay_after` fault on the write's request: the emulator applies the write, then holds
   the answer for LOST_AFTER seconds, longer than the impatient client waits (IMPATIENT);
2. call the method through the impatient client: it raises UncertainOutcome, although the write happened;
3. call it again with the same arguments and key through a patient client, as Temporal's retry would;
4. read the emulator's `/_sandbox/state` and count: exactly one record, the one the retry answered with.

Stripe keeps idempotency keys for 24 hours only, so each Stripe write runs twice: with the key still known (the
retry replays it) and after `POST /_sandbox/reset_idempotency` (the key was forgotten): then the connector's
lookup before creating (by golden id, lookup key, deal metadata, invoice state, credit-note metadata) must find
what the lost attempt made. NetSuite, AvaTax and Salesforce have no keys to forget: their writes are upserts by
external id / document code or updates of a known record, and the retry simply lands on the same record.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from canonical import (
    Address,
    Customer,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Money,
    Payment,
    PaymentStatus,
    TaxRequest,
    TaxRequestLine,
)
from canonical.reference import LEGAL_ENTITIES
from connectors.avatax import AvaTaxEngine
from connectors.errors import UncertainOutcome
from connectors.kit import tls_context
from connectors.netsuite import NetSuiteErp
from connectors.netsuite.mapping import CASH_ACCOUNT, MERCHANT_FEES_ACCOUNT
from connectors.salesforce import SalesforceCrm
from connectors.stripe import StripeBilling
from tests.support.netsuite import erp_connector
from tests.support.stripe import (
    API_KEY,
    make_contract,
    make_customer,
    make_invoice,
    open_invoice,
    price,
    sandbox_state,
    subscribe,
)

IMPATIENT = httpx.Timeout(0.3)  # the client gives up after this long ...
LOST_AFTER = 1.0  # ... while the emulator answers this long after the write happened
TOTAL = 757_70  # tests.support.stripe.make_invoice(): 10 × 49.00 + 199.00 + 68.70 tax

KEY_STATES = pytest.mark.parametrize("forget", [False, True], ids=["key-replayed", "key-forgotten"])


async def lose_answer(
    http: httpx.AsyncClient, url: str, method: str, path: str, write: Callable[[], Awaitable[object]]
) -> None:
    """Run `write` with the answer of its first `method` request under `path` lost: it must be UncertainOutcome."""
    rule = {"method": method, "path_prefix": path, "kind": "delay_after", "seconds": LOST_AFTER}
    (await http.post(f"{url}/_sandbox/faults", json=rule)).raise_for_status()
    with pytest.raises(UncertainOutcome):
        await write()


async def reset_emulator(http: httpx.AsyncClient, url: str) -> None:
    (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()
    (await http.post(f"{url}/_sandbox/reset")).raise_for_status()


async def exact_state(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """`/_sandbox/state` with JSON numbers as Decimal (NetSuite and AvaTax send money as numbers)."""
    response = await http.get(f"{url}/_sandbox/state")
    response.raise_for_status()
    state: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    return state


# -- Stripe (billing) ------------------------------------------------------------------------------------------------


class Stripe:
    """The session's Stripe emulator, reset, and the connector over a patient and an impatient client."""

    def __init__(self, http: httpx.AsyncClient, url: str, hasty: httpx.AsyncClient) -> None:
        self.http, self.url = http, url
        self.billing = StripeBilling(http, url, API_KEY)
        self.impatient = StripeBilling(hasty, url, API_KEY)

    async def lose(self, method: str, path: str, write: Callable[[StripeBilling], Awaitable[object]]) -> None:
        await lose_answer(self.http, self.url, method, path, lambda: write(self.impatient))

    async def after_lost_answer(self, forget: bool) -> None:
        """What happens before Temporal's retry: nothing, or (a retry more than 24 h later) Stripe forgot the key.

        A key is forgotten only once its request is over: a key still in flight would be refused with a 409."""
        if not forget:
            return
        async with asyncio.timeout(5 * LOST_AFTER):
            while (await self.state())["idempotency_in_flight"]:
                await asyncio.sleep(0.02)
        (await self.http.post(f"{self.url}/_sandbox/reset_idempotency")).raise_for_status()

    async def state(self) -> dict[str, Any]:
        return await sandbox_state(self.http, self.url)

    async def events(self, kind: str) -> list[str]:
        """The ids of the objects of the events of `kind`, in order."""
        return [e["data"]["object"]["id"] for e in (await self.state())["events"] if e["type"] == kind]


@pytest.fixture
async def stripe(http: httpx.AsyncClient, stripe_url: str) -> AsyncIterator[Stripe]:
    async with httpx.AsyncClient(timeout=IMPATIENT, verify=tls_context()) as hasty:
        yield Stripe(http, stripe_url, hasty)
    (await http.delete(f"{stripe_url}/_sandbox/faults")).raise_for_status()


@KEY_STATES
async def test_create_customer_lost_then_retried_leaves_one_customer_per_golden_id(
    stripe: Stripe, forget: bool
) -> None:
    key = "c2c:customer:gc_lost:billing"

    await stripe.lose("POST", "/v1/customers", lambda b: b.create_customer("gc_lost", "Lost Ltd", idempotency_key=key))
    await stripe.after_lost_answer(forget)
    customer_id = await stripe.billing.create_customer("gc_lost", "Lost Ltd", idempotency_key=key)

    customers = (await stripe.state())["customers"]
    assert [(c["id"], c["metadata"]["golden_id"]) for c in customers] == [(customer_id, "gc_lost")]


@KEY_STATES
async def test_upsert_customer_lost_then_retried_updates_the_one_customer(stripe: Stripe, forget: bool) -> None:
    known = await stripe.billing.create_customer("gc_acme", "Acme", idempotency_key="c2c:customer:gc_acme:billing")
    customer = make_customer(email="billing@acme.test", external_refs={"stripe": known})

    await stripe.lose(
        "POST", f"/v1/customers/{known}", lambda b: b.upsert_customer(customer, idempotency_key="wf1:billing-customer")
    )
    await stripe.after_lost_answer(forget)
    customer_id = await stripe.billing.upsert_customer(customer, idempotency_key="wf1:billing-customer")

    [stored] = (await stripe.state())["customers"]
    assert (
        (stored["id"], stored["name"], stored["email"])
        == (known, "Acme Corp", "billing@acme.test")
        == (
            customer_id,
            "Acme Corp",
            "billing@acme.test",
        )
    )


@KEY_STATES
async def test_upsert_customer_without_a_billing_id_lost_then_retried_creates_one_customer(
    stripe: Stripe, forget: bool
) -> None:
    customer = make_customer("gc_new")

    await stripe.lose("POST", "/v1/customers", lambda b: b.upsert_customer(customer, idempotency_key="wf2:customer"))
    await stripe.after_lost_answer(forget)
    customer_id = await stripe.billing.upsert_customer(customer, idempotency_key="wf2:customer")

    assert [c["id"] for c in (await stripe.state())["customers"]] == [customer_id]


@KEY_STATES
async def test_ensure_price_lost_then_retried_leaves_one_price_per_lookup_key(stripe: Stripe, forget: bool) -> None:
    seat = price()

    await stripe.lose("POST", "/v1/prices", lambda b: b.ensure_price(seat, "Seat", idempotency_key="price:seat"))
    await stripe.after_lost_answer(forget)
    price_id = await stripe.billing.ensure_price(seat, "Seat", idempotency_key="price:seat")

    state = await stripe.state()
    assert [(p["id"], p["lookup_key"]) for p in state["prices"]] == [(price_id, seat.lookup_key)]
    assert len(state["products"]) == 1


@KEY_STATES
async def test_create_subscription_lost_then_retried_leaves_one_subscription_with_its_draft_held(
    stripe: Stripe, forget: bool
) -> None:
    customer_id = await stripe.billing.create_customer("gc_acme", "Acme", idempotency_key="c2c:customer:gc_acme")
    price_ids = {
        "PLAT-SEAT": await stripe.billing.ensure_price(price(), "Seat", idempotency_key="p1"),
        "ANALYTICS": await stripe.billing.ensure_price(price("ANALYTICS", 199_00), "Analytics", idempotency_key="p2"),
    }

    def subscribe_deal(billing: StripeBilling) -> Awaitable[object]:
        return billing.create_subscription(customer_id, make_contract(), price_ids, idempotency_key="wf3:subscription")

    await stripe.lose("POST", "/v1/subscriptions", subscribe_deal)
    await stripe.after_lost_answer(forget)
    subscription = await stripe.billing.create_subscription(
        customer_id, make_contract(), price_ids, idempotency_key="wf3:subscription"
    )

    state = await stripe.state()
    assert [s["id"] for s in state["subscriptions"]] == [subscription.id]
    # Its first invoice, held as a draft: the lost attempt never got to turn auto_advance off, the retry must.
    assert [(i["subscription"], i["status"], i["auto_advance"]) for i in state["invoices"]] == [
        (subscription.id, "draft", False)
    ]


@KEY_STATES
async def test_create_invoice_lost_then_retried_adds_one_tax_line(stripe: Stripe, forget: bool) -> None:
    customer_id, subscription = await subscribe(stripe.billing, "wf4")

    def complete(billing: StripeBilling) -> Awaitable[object]:
        return billing.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key="wf4:invoice")

    await stripe.lose("POST", "/v1/invoiceitems", complete)
    await stripe.after_lost_answer(forget)
    invoice = await stripe.billing.create_invoice(
        customer_id, subscription.id, make_invoice(), idempotency_key="wf4:invoice"
    )

    state = await stripe.state()
    assert [(i["id"], i["total"]) for i in state["invoices"]] == [(invoice.external_refs["stripe"], TOTAL)]
    assert [item["metadata"]["c2c_line"] for item in state["invoiceitems"]] == ["tax"]


@KEY_STATES
async def test_finalize_invoice_lost_then_retried_finalizes_once(stripe: Stripe, forget: bool) -> None:
    customer_id, subscription = await subscribe(stripe.billing, "wf5")
    draft = await stripe.billing.create_invoice(
        customer_id, subscription.id, make_invoice(), idempotency_key="wf5:invoice"
    )
    invoice_id = draft.external_refs["stripe"]

    await stripe.lose(
        "POST", f"/v1/invoices/{invoice_id}/finalize", lambda b: b.finalize_invoice(invoice_id, idempotency_key="wf5:f")
    )
    await stripe.after_lost_answer(forget)
    finalized = await stripe.billing.finalize_invoice(invoice_id, idempotency_key="wf5:f")

    assert (finalized.external_refs["stripe"], finalized.status, finalized.total.amount) == (invoice_id, "open", TOTAL)
    assert [i["status"] for i in (await stripe.state())["invoices"]] == ["open"]
    assert await stripe.events("invoice.finalized") == [invoice_id]


@KEY_STATES
async def test_send_invoice_lost_then_retried_sends_once_while_stripe_knows_the_key(
    stripe: Stripe, forget: bool
) -> None:
    _, invoice = await open_invoice(stripe.billing, "wf6")
    invoice_id = invoice.external_refs["stripe"]

    await stripe.lose(
        "POST", f"/v1/invoices/{invoice_id}/send", lambda b: b.send_invoice(invoice_id, idempotency_key="wf6:send")
    )
    await stripe.after_lost_answer(forget)
    await stripe.billing.send_invoice(invoice_id, idempotency_key="wf6:send")

    assert [i["status"] for i in (await stripe.state())["invoices"]] == ["open"]
    # Stripe records no "sent" state to look up: once the key is forgotten the retry emails a reminder, which
    # send_invoice documents as harmless. No record is created either way.
    assert await stripe.events("invoice.sent") == [invoice_id] * (2 if forget else 1)


@KEY_STATES
async def test_collect_payment_lost_then_retried_charges_once(stripe: Stripe, forget: bool) -> None:
    _, invoice = await open_invoice(stripe.billing, "wf7")
    invoice_id = invoice.external_refs["stripe"]

    await stripe.lose(
        "POST", f"/v1/invoices/{invoice_id}/pay", lambda b: b.collect_payment(invoice_id, idempotency_key="wf7:pay")
    )
    await stripe.after_lost_answer(forget)
    payment = await stripe.billing.collect_payment(invoice_id, idempotency_key="wf7:pay")

    state = await stripe.state()
    assert (payment.status, payment.amount.amount) == (PaymentStatus.SUCCEEDED, TOTAL)
    assert [pi["id"] for pi in state["payment_intents"]] == [payment.external_refs["stripe"]]
    assert [(c["payment_intent"], c["amount"]) for c in state["charges"]] == [(payment.external_refs["stripe"], TOTAL)]
    assert [(i["status"], i["amount_paid"]) for i in state["invoices"]] == [("paid", TOTAL)]


@KEY_STATES
async def test_mark_uncollectible_lost_then_retried_writes_off_once(stripe: Stripe, forget: bool) -> None:
    _, invoice = await open_invoice(stripe.billing, "wf8")
    invoice_id = invoice.external_refs["stripe"]

    def write_off(billing: StripeBilling) -> Awaitable[None]:
        return billing.mark_uncollectible(invoice_id, idempotency_key="wf8:uncollectible")

    await stripe.lose("POST", f"/v1/invoices/{invoice_id}/mark_uncollectible", write_off)
    await stripe.after_lost_answer(forget)
    await write_off(stripe.billing)

    assert [i["status"] for i in (await stripe.state())["invoices"]] == ["uncollectible"]
    assert await stripe.events("invoice.marked_uncollectible") == [invoice_id]


@KEY_STATES
async def test_void_invoice_lost_then_retried_voids_once(stripe: Stripe, forget: bool) -> None:
    _, invoice = await open_invoice(stripe.billing, "wf9")
    invoice_id = invoice.external_refs["stripe"]

    await stripe.lose(
        "POST", f"/v1/invoices/{invoice_id}/void", lambda b: b.void_invoice(invoice_id, idempotency_key="wf9:void")
    )
    await stripe.after_lost_answer(forget)
    await stripe.billing.void_invoice(invoice_id, idempotency_key="wf9:void")

    assert [i["status"] for i in (await stripe.state())["invoices"]] == ["void"]
    assert await stripe.events("invoice.voided") == [invoice_id]


@KEY_STATES
async def test_credit_invoice_lost_then_retried_issues_one_credit_note(stripe: Stripe, forget: bool) -> None:
    _, invoice = await open_invoice(stripe.billing, "wf10")
    invoice_id = invoice.external_refs["stripe"]
    await stripe.billing.send_invoice(invoice_id, idempotency_key="wf10:send")

    def credit(billing: StripeBilling) -> Awaitable[str | None]:
        return billing.credit_invoice(invoice_id, "order_change", idempotency_key="wf10:credit-note")

    await stripe.lose("POST", "/v1/credit_notes", credit)
    await stripe.after_lost_answer(forget)
    note_id = await credit(stripe.billing)

    state = await stripe.state()
    assert [(n["id"], n["invoice"], n["amount"]) for n in state["credit_notes"]] == [(note_id, invoice_id, TOTAL)]
    assert [(i["status"], i["amount_remaining"]) for i in state["invoices"]] == [("paid", 0)]


@KEY_STATES
async def test_cancel_subscription_lost_then_retried_cancels_once(stripe: Stripe, forget: bool) -> None:
    _, subscription = await subscribe(stripe.billing, "wf11")

    def cancel(billing: StripeBilling) -> Awaitable[None]:
        return billing.cancel_subscription(subscription.id, idempotency_key="wf11:cancel-subscription")

    await stripe.lose("DELETE", f"/v1/subscriptions/{subscription.id}", cancel)
    await stripe.after_lost_answer(forget)
    await cancel(stripe.billing)

    state = await stripe.state()
    assert [(s["id"], s["status"]) for s in state["subscriptions"]] == [(subscription.id, "canceled")]
    [draft] = state["invoices"]
    assert draft["status"] == "void"
    assert await stripe.events("invoice.voided") == [draft["id"]]


@KEY_STATES
async def test_refund_lost_then_retried_refunds_once(stripe: Stripe, forget: bool) -> None:
    _, invoice = await open_invoice(stripe.billing, "wf12")
    payment = await stripe.billing.collect_payment(invoice.external_refs["stripe"], idempotency_key="wf12:pay")
    intent_id = payment.external_refs["stripe"]
    part = Money(amount=100_00, currency="USD")

    await stripe.lose("POST", "/v1/refunds", lambda b: b.refund(intent_id, part, idempotency_key="wf12:refund"))
    await stripe.after_lost_answer(forget)
    refund_id = await stripe.billing.refund(intent_id, part, idempotency_key="wf12:refund")

    state = await stripe.state()
    assert [(r["id"], r["amount"]) for r in state["refunds"]] == [(refund_id, 100_00)]
    assert [c["amount_refunded"] for c in state["charges"]] == [100_00]


@KEY_STATES
async def test_create_credit_note_lost_then_retried_issues_one_credit_note(stripe: Stripe, forget: bool) -> None:
    _, invoice = await open_invoice(stripe.billing, "wf13")
    invoice_id = invoice.external_refs["stripe"]
    goodwill = Money(amount=10_00, currency="USD")

    def credit(billing: StripeBilling) -> Awaitable[str]:
        return billing.create_credit_note(invoice_id, goodwill, "goodwill", idempotency_key="wf13:goodwill")

    await stripe.lose("POST", "/v1/credit_notes", credit)
    await stripe.after_lost_answer(forget)
    note_id = await credit(stripe.billing)

    state = await stripe.state()
    assert [(n["id"], n["amount"]) for n in state["credit_notes"]] == [(note_id, 10_00)]
    assert [i["amount_remaining"] for i in state["invoices"]] == [TOTAL - 10_00]


# -- Salesforce (CRM) ------------------------------------------------------------------------------------------------

SALESFORCE_DATA = "/services/data/v60.0"


@pytest.fixture
async def salesforce_url(emulators: Any, http: httpx.AsyncClient) -> AsyncIterator[str]:
    url: str = emulators.url("salesforce")
    await reset_emulator(http, url)
    yield url
    (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()


async def test_write_back_account_lost_then_retried_leaves_one_account_with_our_ids(
    http: httpx.AsyncClient, salesforce_url: str
) -> None:
    crm = SalesforceCrm(http, salesforce_url, "c2c-integration", "sandbox-secret")
    account_id = await crm.upsert("Account", "External_Key__c", "acct-lost", {"Name": "Lost Answer Inc."})
    refs = {"golden_id": "gc_lost", "billing_id": "cus_lost", "erp_id": "1042"}

    async with httpx.AsyncClient(timeout=IMPATIENT, verify=tls_context()) as hasty:
        impatient = SalesforceCrm(hasty, salesforce_url, "c2c-integration", "sandbox-secret")
        path = f"{SALESFORCE_DATA}/sobjects/Account/{account_id}"
        await lose_answer(http, salesforce_url, "PATCH", path, lambda: impatient.write_back_account(account_id, refs))
    await crm.write_back_account(account_id, refs)

    accounts = (await exact_state(http, salesforce_url))["Account"]
    assert [
        (a["Id"], a["C2C_Golden_Id__c"], a["Billing_Customer_Id__c"], a["ERP_Customer_Id__c"]) for a in accounts
    ] == [(account_id, "gc_lost", "cus_lost", "1042")]


# -- AvaTax (tax) ----------------------------------------------------------------------------------------------------

AVATAX_CREDENTIALS = ("2000123456", "sandbox-license")
TRANSACTIONS = "/api/v2/companies/"


@pytest.fixture
async def avatax_url(emulators: Any, http: httpx.AsyncClient) -> AsyncIterator[str]:
    url: str = emulators.url("avatax")
    await reset_emulator(http, url)
    yield url
    (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()


@pytest.fixture
async def tax(http: httpx.AsyncClient, avatax_url: str) -> AvaTaxEngine:
    return AvaTaxEngine(http, avatax_url, *AVATAX_CREDENTIALS)


@pytest.fixture
async def impatient_tax(avatax_url: str) -> AsyncIterator[AvaTaxEngine]:
    async with httpx.AsyncClient(timeout=IMPATIENT, verify=tls_context()) as hasty:
        yield AvaTaxEngine(hasty, avatax_url, *AVATAX_CREDENTIALS)


def tax_request() -> TaxRequest:
    amount = Money(amount=490_00, currency="USD")
    return TaxRequest(
        document_code=f"c2c-lost-{uuid.uuid4().hex[:12]}",
        company_code="US01",
        customer_code="CUST-LOST",
        date=date(2025, 3, 1),
        currency="USD",
        ship_from=LEGAL_ENTITIES["US01"].address,
        ship_to=Address(line1="1 World Way", city="Los Angeles", region="CA", postal_code="90045", country="US"),
        lines=[TaxRequestLine(number=1, product_code="PLAT-SEAT", tax_code="SW054000", quantity=10, amount=amount)],
    )


async def tax_documents(http: httpx.AsyncClient, url: str) -> list[tuple[str, str]]:
    return [(d["code"], d["status"]) for d in (await exact_state(http, url))["documents"]]


async def test_quote_lost_then_retried_adjusts_the_one_document(
    http: httpx.AsyncClient, avatax_url: str, tax: AvaTaxEngine, impatient_tax: AvaTaxEngine
) -> None:
    request = tax_request()

    path = "/api/v2/transactions/createoradjust"
    await lose_answer(http, avatax_url, "POST", path, lambda: impatient_tax.quote(request))
    quote = await tax.quote(request)

    [document] = (await exact_state(http, avatax_url))["documents"]
    assert (document["code"], document["status"], document["version"]) == (request.document_code, "Saved", 2)
    assert Money.from_decimal(document["totalTax"], "USD") == quote.total_tax


async def test_commit_lost_then_retried_leaves_the_one_document_committed(
    http: httpx.AsyncClient, avatax_url: str, tax: AvaTaxEngine, impatient_tax: AvaTaxEngine
) -> None:
    request = tax_request()
    await tax.quote(request)

    await lose_answer(
        http, avatax_url, "POST", TRANSACTIONS, lambda: impatient_tax.commit("US01", request.document_code)
    )
    await tax.commit("US01", request.document_code)

    assert await tax_documents(http, avatax_url) == [(request.document_code, "Committed")]


async def test_void_lost_then_retried_leaves_the_one_document_cancelled(
    http: httpx.AsyncClient, avatax_url: str, tax: AvaTaxEngine, impatient_tax: AvaTaxEngine
) -> None:
    request = tax_request()
    await tax.quote(request)
    await tax.commit("US01", request.document_code)

    await lose_answer(http, avatax_url, "POST", TRANSACTIONS, lambda: impatient_tax.void("US01", request.document_code))
    await tax.void("US01", request.document_code)

    assert await tax_documents(http, avatax_url) == [(request.document_code, "Cancelled")]


# -- NetSuite (ERP) --------------------------------------------------------------------------------------------------

NETSUITE_RECORDS = "/services/rest/record/v1"
US01 = LEGAL_ENTITIES["US01"]


@pytest.fixture
async def netsuite_url(emulators: Any, http: httpx.AsyncClient) -> AsyncIterator[str]:
    url: str = emulators.url("netsuite")
    await reset_emulator(http, url)
    yield url
    (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()


@pytest.fixture
def erp(http: httpx.AsyncClient, netsuite_url: str) -> NetSuiteErp:
    return erp_connector(http, netsuite_url)


@pytest.fixture
async def impatient_erp(netsuite_url: str) -> AsyncIterator[NetSuiteErp]:
    async with httpx.AsyncClient(timeout=IMPATIENT, verify=tls_context()) as hasty:
        erp = erp_connector(hasty, netsuite_url)
        await erp.get_by_external_id("customer", "none")  # its token, before any fault is armed
        yield erp


def erp_customer(name: str = "Lost Answer Ltd") -> Customer:
    address = Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US")
    return Customer(golden_id="gc_lost", legal_name=name, email="ap@lost.example", address=address)


def erp_invoice() -> Invoice:
    seat = Money(amount=49_00, currency="USD")
    line = InvoiceLine(product_code="PLAT-SEAT", description="Seat", quantity=2, unit_amount=seat, amount=seat.times(2))
    return Invoice(
        golden_customer_id="gc_lost",
        legal_entity="US01",
        currency="USD",
        issue_date=date(2025, 3, 1),
        due_date=date(2025, 3, 31),
        lines=[line],
        tax=Money(amount=8_58, currency="USD"),
        tax_document_code="c2c-lost-1",
        external_refs={"stripe": "in_lost"},
    )


async def records(http: httpx.AsyncClient, url: str, record_type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await exact_state(http, url))[record_type]
    return found


async def posted_invoice(erp: NetSuiteErp) -> tuple[Invoice, str, str]:
    """An AR invoice posted for a new customer: (invoice, its ERP id, the customer's ERP id)."""
    customer_id = await erp.upsert_customer(erp_customer(), US01, "USD")
    invoice = erp_invoice()
    return invoice, await erp.post_invoice(invoice, customer_id), customer_id


async def test_erp_upsert_customer_lost_then_retried_leaves_one_customer(
    http: httpx.AsyncClient, netsuite_url: str, erp: NetSuiteErp, impatient_erp: NetSuiteErp
) -> None:
    customer = erp_customer()

    path = f"{NETSUITE_RECORDS}/customer"
    await lose_answer(http, netsuite_url, "PUT", path, lambda: impatient_erp.upsert_customer(customer, US01, "USD"))
    customer_id = await erp.upsert_customer(customer, US01, "USD")

    stored = await records(http, netsuite_url, "customer")
    assert [(c["id"], c["externalId"]) for c in stored] == [(customer_id, "gc_lost-US01")]


async def test_erp_update_customer_lost_then_retried_changes_the_one_customer(
    http: httpx.AsyncClient, netsuite_url: str, erp: NetSuiteErp, impatient_erp: NetSuiteErp
) -> None:
    customer_id = await erp.upsert_customer(erp_customer(), US01, "USD")
    renamed = erp_customer("Found Answer Ltd")

    path = f"{NETSUITE_RECORDS}/customer"
    await lose_answer(http, netsuite_url, "PATCH", path, lambda: impatient_erp.update_customer(renamed, US01))
    assert await erp.update_customer(renamed, US01) == customer_id

    stored = await records(http, netsuite_url, "customer")
    assert [(c["id"], c["companyName"]) for c in stored] == [(customer_id, "Found Answer Ltd")]


async def test_post_invoice_lost_then_retried_leaves_one_invoice(
    http: httpx.AsyncClient, netsuite_url: str, erp: NetSuiteErp, impatient_erp: NetSuiteErp
) -> None:
    customer_id = await erp.upsert_customer(erp_customer(), US01, "USD")
    invoice = erp_invoice()

    path = f"{NETSUITE_RECORDS}/invoice"
    await lose_answer(http, netsuite_url, "PUT", path, lambda: impatient_erp.post_invoice(invoice, customer_id))
    invoice_id = await erp.post_invoice(invoice, customer_id)

    stored = await records(http, netsuite_url, "invoice")
    assert [(i["id"], i["externalId"], i["total"]) for i in stored] == [(invoice_id, "in_lost", Decimal("106.58"))]


async def test_apply_payment_lost_then_retried_applies_one_payment(
    http: httpx.AsyncClient, netsuite_url: str, erp: NetSuiteErp, impatient_erp: NetSuiteErp
) -> None:
    invoice, invoice_id, customer_id = await posted_invoice(erp)
    payment = Payment(
        invoice_id="in_lost",
        amount=invoice.total,
        fee=Money(amount=3_39, currency="USD"),
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": "pi_lost"},
    )

    path = f"{NETSUITE_RECORDS}/customerPayment"

    def apply(on: NetSuiteErp) -> Awaitable[str]:
        return on.apply_payment(payment, customer_id, invoice_id)

    await lose_answer(http, netsuite_url, "PUT", path, lambda: apply(impatient_erp))
    payment_id = await apply(erp)

    stored = await records(http, netsuite_url, "customerPayment")
    assert [(p["id"], p["externalId"]) for p in stored] == [(payment_id, "pi_lost")]
    [paid] = await records(http, netsuite_url, "invoice")
    assert (paid["status"], paid["amountRemaining"]) == ("Paid In Full", 0)


async def test_post_journal_entry_lost_then_retried_leaves_one_entry(
    http: httpx.AsyncClient, netsuite_url: str, erp: NetSuiteErp, impatient_erp: NetSuiteErp
) -> None:
    fee = Money(amount=3_39, currency="USD")
    entry = JournalEntry(
        external_id="fee-pi_lost",
        legal_entity="US01",
        date=date(2025, 3, 2),
        memo="Stripe fee",
        lines=[JournalLine(account=MERCHANT_FEES_ACCOUNT, debit=fee), JournalLine(account=CASH_ACCOUNT, credit=fee)],
    )

    path = f"{NETSUITE_RECORDS}/journalEntry"
    await lose_answer(http, netsuite_url, "PUT", path, lambda: impatient_erp.post_journal_entry(entry))
    entry_id = await erp.post_journal_entry(entry)

    stored = await records(http, netsuite_url, "journalEntry")
    assert [(j["id"], j["externalId"]) for j in stored] == [(entry_id, "fee-pi_lost")]


async def test_post_credit_memo_lost_then_retried_reverses_the_invoice_once(
    http: httpx.AsyncClient, netsuite_url: str, erp: NetSuiteErp, impatient_erp: NetSuiteErp
) -> None:
    invoice, invoice_id, customer_id = await posted_invoice(erp)

    def reverse(on: NetSuiteErp) -> Awaitable[str]:
        return on.post_credit_memo(invoice, invoice_id, customer_id)

    await lose_answer(http, netsuite_url, "PUT", f"{NETSUITE_RECORDS}/creditMemo", lambda: reverse(impatient_erp))
    memo_id = await reverse(erp)

    stored = await records(http, netsuite_url, "creditMemo")
    assert [(m["id"], m["externalId"], m["total"]) for m in stored] == [(memo_id, "cm-in_lost", Decimal("106.58"))]
    [reversed_invoice] = await records(http, netsuite_url, "invoice")
    assert reversed_invoice["amountRemaining"] == 0
