"""Fuzzing how each connector reads its vendor's answers: a real exchange with the emulator is recorded once
(`Recording`), then replayed with one value of one answer removed or replaced (`Replay`). The connector must return
normally or raise its taxonomy (`ConnectorError`) or a ValueError, with a message naming the field it could not
read; never KeyError, TypeError, AttributeError or an arithmetic error from deep inside a mapping."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical import Address, Money, TaxRequest, TaxRequestLine
from canonical.reference import LEGAL_ENTITIES
from connectors.avatax import AvaTaxEngine
from connectors.errors import ConnectorError
from connectors.netsuite import NetSuiteErp
from connectors.salesforce import SalesforceCrm
from connectors.stripe import StripeBilling
from estate.book import GLOBEX, DealSpec
from estate.deals import seed_deal
from tests.support.fuzzing import fuzzing
from tests.support.netsuite import erp_connector, ns_customer, ns_invoice
from tests.support.replay import (
    HUGE_NUMBERS,
    JUNK,
    Exchange,
    Operation,
    Replay,
    keys,
    mutations,
    not_keys,
    refusal,
    survives,
)
from tests.support.stripe import API_KEY, make_customer, make_invoice, subscribe

# ---- real exchanges with the emulators ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def recorded(emulators: Any) -> dict[str, Operation]:
    """One recorded call per parsing path: the CRM's deal and account, billing's invoice and payment, the tax
    engine's quote, the ERP's token, invoice write (Location header) and invoice read (credit memo)."""
    urls = {name: emulators.url(name) for name in ("salesforce", "stripe", "avatax", "netsuite")}
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=10) as http:
        crm = SalesforceCrm(http, urls["salesforce"], "c2c-fuzz", "fuzz-secret")
        spec = DealSpec(f"FUZZ-PARSE-{tag}", GLOBEX, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))])
        deal_id = await seed_deal(crm, spec, close=False)  # open: no other test's CRM sweep may pick it up
        [opportunity] = await crm.query(f"SELECT AccountId FROM Opportunity WHERE Id = '{deal_id}'")
        account_id = opportunity["AccountId"]

        billing = StripeBilling(http, urls["stripe"], API_KEY)
        customer_id, subscription = await subscribe(billing, f"fz{tag}", make_customer(golden_id=f"gc_fz{tag}"))
        draft = await billing.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key=f"fz{tag}:i")
        invoice_id = draft.external_refs["stripe"]

        erp = erp_connector(http, urls["netsuite"])
        erp_customer = await erp.upsert_customer(ns_customer(), LEGAL_ENTITIES["US01"], "USD")
        erp_invoice = ns_invoice(f"in_fz{tag}")
        erp_invoice_id = await erp.post_invoice(erp_invoice, erp_customer)

    def sf(http: httpx.AsyncClient) -> SalesforceCrm:
        return SalesforceCrm(http, urls["salesforce"], "c2c-fuzz", "fuzz-secret")

    def stripe(http: httpx.AsyncClient) -> StripeBilling:
        return StripeBilling(http, urls["stripe"], API_KEY)

    def netsuite(http: httpx.AsyncClient) -> NetSuiteErp:
        return erp_connector(http, urls["netsuite"])

    async def finalize_and_collect(http: httpx.AsyncClient) -> Any:
        finalized = await stripe(http).finalize_invoice(invoice_id, idempotency_key=f"fz{tag}:f")
        await stripe(http).collect_payment(invoice_id, idempotency_key=f"fz{tag}:p")
        return finalized

    operations = [
        Operation("salesforce.get_deal", lambda http: sf(http).get_deal(deal_id)),
        Operation("salesforce.get_account", lambda http: sf(http).get_account(account_id)),
        Operation("stripe.finalize_and_collect", finalize_and_collect),
        Operation("stripe.payment_for_invoice", lambda http: stripe(http).payment_for_invoice(invoice_id)),
        Operation("avatax.quote", lambda http: avatax(http, urls["avatax"]).quote(tax_request())),
        Operation("netsuite.post_invoice", lambda http: netsuite(http).post_invoice(erp_invoice, erp_customer)),
        Operation(
            "netsuite.post_credit_memo",
            lambda http: netsuite(http).post_credit_memo(erp_invoice, erp_invoice_id, erp_customer),
        ),
    ]
    for operation in operations:
        await operation.record()
    return {operation.name: operation for operation in operations}


def avatax(http: httpx.AsyncClient, url: str) -> AvaTaxEngine:
    return AvaTaxEngine(http, url, "2000123456", "sandbox-license")


def tax_request() -> TaxRequest:
    return TaxRequest(
        document_code=f"c2c-fuzz-{uuid.uuid4().hex[:12]}",
        company_code="US01",
        customer_code="CUST-FUZZ",
        date=date(2026, 5, 1),
        currency="USD",
        ship_from=LEGAL_ENTITIES["US01"].address,
        ship_to=Address(line1="1 World Way", city="Los Angeles", region="CA", postal_code="90045", country="US"),
        lines=[
            TaxRequestLine(
                number=n, product_code="PLAT-SEAT", tax_code="SW054000", quantity=1, amount=Money.from_decimal(a, "USD")
            )
            for n, a in enumerate(["147.00", "19.99"], start=1)
        ],
    )


def operation(recorded: dict[str, Operation], names: list[str]) -> st.SearchStrategy[Operation]:
    return st.sampled_from([recorded[name] for name in names])


def outside_login(answer: Exchange) -> bool:
    return "token" not in answer.path


# ---- Salesforce -------------------------------------------------------------------------------------------------

CRM = ["salesforce.get_deal", "salesforce.get_account"]


@given(data=st.data())
@fuzzing(250)
async def test_crm_records_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Records and query envelopes with a field removed or of another type (an empty `records` list is a deal
    without lines, refused as such)."""
    op = data.draw(operation(recorded, CRM))
    mutation = data.draw(mutations(op, keep=not_keys("records"), answers=outside_login, root=True))
    await survives(op, mutation)


@given(data=st.data())
@fuzzing(5, shrink=False)
async def test_crm_amounts_beyond_decimal_precision_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = recorded["salesforce.get_deal"]
    await survives(op, data.draw(mutations(op, HUGE_NUMBERS, keep=keys("UnitPrice"))))


# ---- Stripe -----------------------------------------------------------------------------------------------------

BILLING = ["stripe.finalize_and_collect", "stripe.payment_for_invoice"]
NOT_AN_INTEGER = JUNK.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))


@given(data=st.data())
@fuzzing(150)
async def test_billing_amounts_that_are_not_integers_of_minor_units_are_refused(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Money never passes through a float: a fractional, textual or structured amount is a PermanentError."""
    op = data.draw(operation(recorded, BILLING))
    amounts = keys("amount", "amount_received", "unit_amount", "fee")
    mutation = data.draw(mutations(op, NOT_AN_INTEGER, keep=amounts, remove=False))
    transport = Replay(mutation.apply(op.tape))
    error = await refusal(op, transport)
    if error is not None:
        assert error.code == "bad_response" or transport.strayed, error
        assert "amount" in error.message, error


@given(data=st.data())
@fuzzing(5, shrink=False)
async def test_billing_answers_with_missing_or_mistyped_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = data.draw(operation(recorded, BILLING))
    await survives(op, data.draw(mutations(op, keep=keys("lines", "currency", "status", "charges"), remove=True)))


# ---- AvaTax -----------------------------------------------------------------------------------------------------


@given(data=st.data())
@fuzzing(150)
async def test_tax_documents_with_broken_fields_are_permanent_errors(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = recorded["avatax.quote"]
    await survives(op, data.draw(mutations(op, root=True)), named=False)


@given(data=st.data())
@fuzzing(5, shrink=False)
async def test_tax_documents_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = recorded["avatax.quote"]
    scalars = keys("code", "date", "status", "currencyCode", "totalTax", "totalTaxable", "lineNumber", "tax")
    await survives(op, data.draw(mutations(op, st.just([1, 2]), keep=scalars)))


@given(data=st.data())
@fuzzing(5, shrink=False)
async def test_tax_amounts_beyond_decimal_precision_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = recorded["avatax.quote"]
    amounts = keys("totalTax", "totalTaxable", "tax", "taxableAmount")
    await survives(op, data.draw(mutations(op, HUGE_NUMBERS.filter(lambda v: v > 0), keep=amounts)))


# ---- NetSuite ---------------------------------------------------------------------------------------------------

ERP = ["netsuite.post_invoice", "netsuite.post_credit_memo"]


@given(data=st.data())
@fuzzing(150)
async def test_erp_records_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """The posted invoice a credit memo reverses, read back field by field (its `externalId` is checked against
    the billing invoice: a mismatch is refused as `invoice_mismatch`, naming the invoice rather than the field)."""
    op = recorded["netsuite.post_credit_memo"]
    await survives(op, data.draw(mutations(op, keep=not_keys("externalId"), answers=outside_login)))


@given(data=st.data())
@fuzzing(5, shrink=False)
async def test_an_erp_record_that_is_not_an_object_is_refused(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = recorded["netsuite.post_credit_memo"]
    body = st.one_of(st.lists(st.integers(), max_size=2), st.text(max_size=5), st.integers())
    await survives(op, data.draw(mutations(op, body, keep=lambda path: False, answers=outside_login, root=True)))


@given(data=st.data())
@fuzzing(120)
async def test_token_answers_without_a_usable_access_token_are_refused_naming_it(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Both OAuth logins: a token answer without a (textual) access token, or not an object at all."""
    op = data.draw(operation(recorded, [*CRM, *ERP]))
    ascii_junk = JUNK.filter(lambda v: not isinstance(v, str) or v.isascii())
    mutation = data.draw(
        mutations(
            op, ascii_junk, keep=keys("access_token", "token_type"), answers=lambda a: not outside_login(a), root=True
        )
    )
    await survives(op, mutation)


@given(data=st.data())
@fuzzing(5, shrink=False)
async def test_token_answers_with_unusable_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    op = data.draw(operation(recorded, ["netsuite.post_invoice", "salesforce.get_account"]))
    unusable = st.sampled_from([None, [1], "soon", "\u00e9t\u00e9", "\uff21\uff22\uff23"])
    fields = keys("expires_in", "access_token", "instance_url")
    await survives(op, data.draw(mutations(op, unusable, keep=fields, answers=lambda a: not outside_login(a))))


# ---- NetSuite's Location header -----------------------------------------------------------------------------------

# Printable latin-1: control characters and superscript digits each have their own test below.
LOCATION_TEXT = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="²³¹\x7f", exclude_categories=["Cc"]
    )
)


def with_location(tape: list[Exchange], location: str | None) -> list[Exchange]:
    """The tape with the write answer's Location header replaced (or removed when None)."""
    answers = []
    for answer in tape:
        if answer.method == "PUT":
            kept = tuple((k, v) for k, v in answer.headers if k.lower() != "location")
            answer = Exchange(
                answer.method,
                answer.path,
                answer.status,
                kept + (("location", location),) if location is not None else kept,
                answer.body,
            )
        answers.append(answer)
    return answers


async def write_with(op: Operation, location: str | None) -> str | ConnectorError:
    try:
        result = await op.replay(Replay(with_location(op.tape, location)))
    except ConnectorError as error:
        return error
    assert isinstance(result, str)
    return result


@given(
    location=st.one_of(
        st.none(),
        LOCATION_TEXT,
        LOCATION_TEXT.map(lambda t: f"https://netsuite.test/services/rest/record/v1/invoice/{t}"),
        st.integers(min_value=0).map(lambda n: f"https://netsuite.test/services/rest/record/v1/invoice/{n}"),
    )
)
@fuzzing(120)
async def test_erp_writes_answered_without_a_record_location_are_refused(
    recorded: dict[str, Operation], location: str | None
) -> None:
    outcome = await write_with(recorded["netsuite.post_invoice"], location)
    if isinstance(outcome, ConnectorError):
        assert "Location" in outcome.message, outcome
    else:
        assert location is not None, outcome
        assert re.fullmatch(r"[0-9]+", outcome), outcome
        assert location.rstrip("/").endswith(outcome), (location, outcome)


@given(digits=st.text(alphabet="0123456789²³¹", min_size=1, max_size=6).filter(lambda d: not d.isascii()))
@fuzzing(5, shrink=False)
async def test_a_location_ending_in_superscript_digits_is_refused(recorded: dict[str, Operation], digits: str) -> None:
    outcome = await write_with(recorded["netsuite.post_invoice"], f"https://netsuite.test/record/v1/invoice/{digits}")
    assert isinstance(outcome, ConnectorError), f"took {outcome!r} as an internal id"


@given(control=st.characters(min_codepoint=0x7F, max_codepoint=0x9F), position=st.sampled_from(["start", "end"]))
@fuzzing(5, shrink=False)
async def test_a_location_with_control_characters_is_a_connector_error(
    recorded: dict[str, Operation], control: str, position: str
) -> None:
    path = "https://netsuite.test/services/rest/record/v1/invoice/42"
    location = control + path if position == "start" else path + control
    outcome = await write_with(recorded["netsuite.post_invoice"], location)
    assert isinstance(outcome, (ConnectorError, str))
