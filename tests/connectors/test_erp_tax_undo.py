"""The saga's finance undos as properties, against the emulators over real HTTP.

Reversing a posted ERP invoice leaves exactly one credit memo for the invoice's total, in the invoice's period or
the first open one after it, however often the undo runs and whichever answers get lost; voiding the tax document
leaves it cancelled. An undo whose step never produced a record writes nothing: the credit memo of an invoice the
ERP does not hold is refused with PermanentError('invoice_not_found'), the void of an unknown document is a no-op.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from canonical import Address, Customer, Invoice, InvoiceLine, Money, TaxRequest, TaxRequestLine
from canonical.reference import LEGAL_ENTITIES
from connectors.avatax import AvaTaxEngine
from connectors.errors import PermanentError, UncertainOutcome
from connectors.netsuite import NetSuiteErp
from connectors.netsuite.client import first_of_month
from tests.support.netsuite import erp_connector

RECORDS = "/services/rest/record/v1"
ISSUE_DATE = date(2025, 3, 14)
# A client that gives up after 0.3 s and a server that answers 1 s after writing: a lost response. Only the attempts
# meant to lose their answer use it; setup and the other attempts wait as long as a loaded machine needs.
IMPATIENT = httpx.Timeout(0.3)
LOST = {"kind": "delay_after", "seconds": 1.0}
UNDOS = settings(max_examples=15, deadline=None)
# Each undo runs 1-3 times before the one that succeeds; True = that attempt's answer is lost.
attempts = st.lists(st.booleans(), min_size=1, max_size=3)


def make_invoice() -> Invoice:
    seat = Money(amount=49_00, currency="USD")
    return Invoice(
        golden_customer_id="gc_undo",
        legal_entity="US01",
        currency="USD",
        issue_date=ISSUE_DATE,
        due_date=date(2025, 4, 13),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT",
                description="Platform seat",
                quantity=3,
                unit_amount=seat,
                amount=seat.times(3),
            )
        ],
        tax=Money(amount=12_13, currency="USD"),
        tax_document_code="doc-undo",
        external_refs={"stripe": f"in_{uuid.uuid4().hex[:12]}"},
    )


def make_tax_request(code: str) -> TaxRequest:
    return TaxRequest(
        document_code=code,
        company_code="US01",
        customer_code="CUST-UNDO",
        date=ISSUE_DATE,
        currency="USD",
        ship_from=LEGAL_ENTITIES["US01"].address,
        ship_to=Address(line1="301 W 2nd St", city="Austin", region="TX", postal_code="78701", country="US"),
        lines=[
            TaxRequestLine(
                number=1,
                product_code="PLAT-SEAT",
                tax_code="SW054000",
                quantity=3,
                amount=Money(amount=147_00, currency="USD"),
            )
        ],
    )


async def _admin(admin: httpx.AsyncClient, url: str, path: str, body: Any = None) -> Any:
    response = await (admin.delete(url + path) if body is None else admin.post(url + path, json=body))
    response.raise_for_status()
    return response.json()


async def _state(admin: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await admin.get(f"{url}/_sandbox/state")
    state: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    return state


async def _reverse(erp: NetSuiteErp, invoice: Invoice, invoice_id: str, customer_id: str) -> str:
    """One run of the undo: the memo's id, 'lost' when the answer never came, or 'refused:<code>'."""
    try:
        return await erp.post_credit_memo(invoice, invoice_id, customer_id)
    except UncertainOutcome:
        return "lost"
    except PermanentError as refused:
        return f"refused:{refused.code}"


async def _void(engine: AvaTaxEngine, code: str) -> str:
    """One run of the undo: 'done', or 'lost' when the answer never came."""
    try:
        await engine.void("US01", code)
    except UncertainOutcome:
        return "lost"
    return "done"


@UNDOS
@given(posted=st.booleans(), months_closed=st.integers(min_value=0, max_value=3), attempts=attempts)
async def test_credit_memo_reverses_a_posted_invoice_exactly_once(
    emulators: Any, posted: bool, months_closed: int, attempts: list[bool]
) -> None:
    url = emulators.url("netsuite")
    lose_memo_answer = {"method": "PUT", "path_prefix": f"{RECORDS}/creditMemo"} | LOST
    async with httpx.AsyncClient(timeout=5) as admin, httpx.AsyncClient(timeout=IMPATIENT) as impatient:
        await _admin(admin, url, "/_sandbox/faults")
        await admin.post(f"{url}/_sandbox/reset")  # periods are account-wide: each example starts open
        erp, hasty_erp = erp_connector(admin, url), erp_connector(impatient, url)
        customer = Customer(
            golden_id=f"gc_{uuid.uuid4().hex[:8]}",
            legal_name="Undo Ltd",
            address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
        )
        customer_id = await erp.upsert_customer(customer, LEGAL_ENTITIES["US01"], "USD")
        invoice = make_invoice()
        invoice_id = await erp.post_invoice(invoice, customer_id) if posted else "999999"
        if months_closed:
            await _admin(
                admin, url, "/_sandbox/periods/close", {"before": str(first_of_month(ISSUE_DATE, months_closed))}
            )

        outcomes = []
        for lost in [*attempts, False]:
            if lost:
                await _admin(admin, url, "/_sandbox/faults", lose_memo_answer)
            outcomes.append(await _reverse(hasty_erp if lost else erp, invoice, invoice_id, customer_id))
            await _admin(admin, url, "/_sandbox/faults")
        state = await _state(admin, url)

    if not posted:
        assert outcomes == ["refused:invoice_not_found"] * (len(attempts) + 1)
        assert state["creditMemo"] == []
        return
    [memo] = state["creditMemo"]
    assert outcomes == ["lost" if lost else memo["id"] for lost in [*attempts, False]]
    assert memo["externalId"] == "cm-" + invoice.external_refs["stripe"]
    assert (memo["createdFrom"]["id"], memo["status"]) == (invoice_id, "Fully Applied")
    assert Money.from_decimal(memo["total"], "USD") == invoice.total
    expected = first_of_month(ISSUE_DATE, months_closed) if months_closed else ISSUE_DATE
    assert memo["tranDate"] == expected.isoformat()
    [erp_invoice] = state["invoice"]
    assert erp_invoice["amountRemaining"] == 0


@UNDOS
@given(step=st.sampled_from(["never_quoted", "saved", "committed", "voided"]), attempts=attempts)
async def test_void_leaves_the_tax_document_cancelled_however_often_it_runs(
    emulators: Any, step: str, attempts: list[bool]
) -> None:
    url = emulators.url("avatax")
    code = f"c2c-undo-{uuid.uuid4().hex[:16]}"
    lose_void_answer = {"method": "POST", "path_prefix": f"/api/v2/companies/US01/transactions/{code}/void"} | LOST
    async with httpx.AsyncClient(timeout=5) as admin, httpx.AsyncClient(timeout=IMPATIENT) as impatient:
        engine = AvaTaxEngine(admin, url, "2000123456", "sandbox-license")
        hasty_engine = AvaTaxEngine(impatient, url, "2000123456", "sandbox-license")
        if step != "never_quoted":
            await engine.quote(make_tax_request(code))
        if step in ("committed", "voided"):
            await engine.commit("US01", code)
        if step == "voided":
            await engine.void("US01", code)

        outcomes = []
        for lost in [*attempts, False]:
            if lost:
                await _admin(admin, url, "/_sandbox/faults", lose_void_answer)
            outcomes.append(await _void(hasty_engine if lost else engine, code))
            await _admin(admin, url, "/_sandbox/faults")
        documents = [doc for doc in (await _state(admin, url))["documents"] if doc["code"] == code]

    assert outcomes == ["lost" if lost else "done" for lost in [*attempts, False]]
    if step == "never_quoted":
        assert documents == []
        return
    [document] = documents
    assert (document["status"], document["version"]) == ("Cancelled", 1)
