"""Fuzzing how each connector reads its vendor's answers: a real exchange with the emulator is recorded once
(`Recording`), then replayed with one value of one answer removed or replaced (`Replay`). The connector must return
normally or raise its taxonomy (`ConnectorError`) or a ValueError, with a message naming the field it could not
read; never KeyError, TypeError, AttributeError or an arithmetic error from deep inside a mapping."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical import Address, Customer, Invoice, InvoiceLine, Money, TaxRequest, TaxRequestLine
from canonical.reference import LEGAL_ENTITIES
from connectors.avatax import AvaTaxEngine
from connectors.errors import ConnectorError
from connectors.netsuite import NetSuiteErp
from connectors.salesforce import SalesforceCrm
from connectors.stripe import StripeBilling
from estate.book import GLOBEX, DealSpec
from estate.deals import seed_deal
from tests.support.fuzzing import TRICKY_TEXT, fuzzing
from tests.support.stripe import API_KEY, make_customer, make_invoice, subscribe

Path = tuple[str | int, ...]
ROOT: Path = ()


# ---- recording and replaying a connector's HTTP exchanges ---------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body, parse_float=Decimal)

    @property
    def readable(self) -> bool:
        """A successful answer with a JSON body: what the fuzzing mutates."""
        if not 200 <= self.status < 300 or not self.body:
            return False
        try:
            self.json()
        except ValueError:
            return False
        return True


class Recording(httpx.AsyncBaseTransport):
    """A real transport that keeps every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.tape: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        kept = tuple((k, v) for k, v in response.headers.items() if k.lower() in ("content-type", "location"))
        self.tape.append(Exchange(request.method, request.url.path, response.status_code, kept, body))
        return httpx.Response(response.status_code, headers=kept, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Replay(httpx.AsyncBaseTransport):
    """Answers the n-th request with the n-th recorded answer; a request the tape does not hold (the connector
    took another path because of the mutation) gets an empty 404."""

    def __init__(self, tape: list[Exchange]) -> None:
        self.tape = tape
        self.calls = 0
        self.strayed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index, self.calls = self.calls, self.calls + 1
        if index >= len(self.tape) or self.tape[index].method != request.method:
            self.strayed = True
            return httpx.Response(404, json={})
        answer = self.tape[index]
        # Bytes, as on the wire: a header may carry any latin-1 character (httpx encodes str headers as ASCII).
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        return httpx.Response(answer.status, headers=headers, content=answer.body)


@dataclass
class Operation:
    """One connector call recorded against an emulator: `run(http)` repeats it on any transport."""

    name: str
    run: Callable[[httpx.AsyncClient], Awaitable[Any]]
    tape: list[Exchange] = field(default_factory=list)
    _places: list[tuple[int, Path]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Operation({self.name}, {len(self.tape)} exchanges)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis' pretty printer would list every field: the short repr instead."""
        printer.text(repr(self))

    def places(self) -> list[tuple[int, Path]]:
        """(answer, path) of every place in every readable answer, computed once."""
        if not self._places:
            self._places = [(i, p) for i, a in enumerate(self.tape) if a.readable for p in paths(a.json())]
        return self._places

    async def record(self) -> None:
        recording = Recording()
        async with httpx.AsyncClient(transport=recording, timeout=10) as http:
            await self.run(http)
        self.tape = recording.tape

    async def replay(self, transport: Replay) -> Any:
        async with httpx.AsyncClient(transport=transport, timeout=10) as http:
            return await self.run(http)


# ---- mutations --------------------------------------------------------------------------------------------------


def paths(value: Any, prefix: Path = ROOT, depth: int = 7) -> list[Path]:
    """Every place in a JSON value (lists: their first two items), the root included."""
    found = [prefix]
    if depth == 0:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key), depth - 1)
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            found += paths(item, (*prefix, index), depth - 1)
    return found


ABSENT = object()
JUNK = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=12),
    TRICKY_TEXT,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.just(-1),
    st.booleans(),
    st.sampled_from([1.5, 0.001, -0.5]),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.sampled_from(["id", "x"]), st.text(max_size=4), min_size=1, max_size=2),
)
HUGE_NUMBERS = st.sampled_from([10**30, -(10**30), 1e30, 123456789012345678901234567.5])


def replaced(value: Any, path: Path, new: Any) -> Any:
    """`value` with the item at `path` replaced by `new` (or removed when `new` is ABSENT)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if rest:
        copy[head] = replaced(value[head], rest, new)
    elif new is ABSENT:
        del copy[head]
    else:
        copy[head] = new
    return copy


@dataclass(frozen=True)
class Mutation:
    exchange: int
    path: Path
    value: Any  # ABSENT: the key removed

    def __repr__(self) -> str:
        shown = "<removed>" if self.value is ABSENT else repr(self.value)[:80]
        return f"Mutation(answer {self.exchange}, {'.'.join(map(str, self.path)) or '<body>'} = {shown})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis' pretty printer would list every field: the short repr instead."""
        printer.text(repr(self))

    def apply(self, tape: list[Exchange]) -> list[Exchange]:
        answer = tape[self.exchange]
        body = json.dumps(replaced(answer.json(), self.path, self.value), default=_number).encode()
        return [*tape[: self.exchange], _with_body(answer, body), *tape[self.exchange + 1 :]]

    def names(self) -> list[str]:
        """What a refusal may call the field: the last two keys of its path."""
        return [str(part) for part in self.path if isinstance(part, str)][-2:]


def _with_body(answer: Exchange, body: bytes) -> Exchange:
    return Exchange(answer.method, answer.path, answer.status, answer.headers, body)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(type(value).__name__)


@st.composite
def mutations(
    draw: st.DrawFn,
    operation: Operation,
    values: st.SearchStrategy[Any] = JUNK,
    keep: Callable[[Path], bool] = lambda path: True,
    answers: Callable[[Exchange], bool] = lambda answer: True,
    root: bool = False,
    remove: bool | None = None,
) -> Mutation:
    """One value of one recorded answer removed or replaced by `values`; `keep` selects the places, `answers`
    the answers (by default any with a JSON body), `root` whether a whole body may be replaced and `remove`
    whether a key is removed (None: either)."""
    candidates = [
        (index, path)
        for index, path in operation.places()
        if answers(operation.tape[index]) and (path or root) and (not path or keep(path))
    ]
    index, path = draw(st.sampled_from(candidates))
    removable = bool(path) and isinstance(path[-1], str)
    if removable and (remove if remove is not None else draw(st.booleans())):
        return Mutation(index, path, ABSENT)
    return Mutation(index, path, draw(values))


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("__c", ""))


def names_the_field(error: BaseException, mutation: Mutation) -> None:
    """The message names the field at fault (case, underscores and Salesforce's `__c` ignored)."""
    message = _normal(str(error))
    wanted = mutation.names()
    assert any(_normal(name) in message for name in wanted), f"{type(error).__name__}: {error} names none of {wanted}"


async def refusal(operation: Operation, transport: Replay) -> ConnectorError | None:
    """The connector's error for the replayed call, None when it returned normally (anything else propagates)."""
    try:
        await operation.replay(transport)
    except ConnectorError as error:
        return error
    return None


async def survives(operation: Operation, mutation: Mutation, *, named: bool = True) -> None:
    """Replaying the mutated tape returns normally or raises the connector's errors, naming the field when a
    field's value was at fault (not for a whole list item, nor when the connector went on to ask for something
    the tape does not hold: that refusal is the replay's 404)."""
    transport = Replay(mutation.apply(operation.tape))
    try:
        await operation.replay(transport)
    except (ConnectorError, ValueError) as error:
        if named and mutation.path and isinstance(mutation.path[-1], str) and not transport.strayed:
            names_the_field(error, mutation)


def keys(*names: str) -> Callable[[Path], bool]:
    """Places whose last key is one of `names`."""
    return lambda path: isinstance(path[-1], str) and path[-1] in names


def not_keys(*names: str) -> Callable[[Path], bool]:
    return lambda path: not (isinstance(path[-1], str) and path[-1] in names)


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

        erp = NetSuiteErp(http, urls["netsuite"], "c2c-fuzz", "fuzz-secret")
        erp_customer = await erp.upsert_customer(ns_customer(), LEGAL_ENTITIES["US01"], "USD")
        erp_invoice = ns_invoice(f"in_fz{tag}")
        erp_invoice_id = await erp.post_invoice(erp_invoice, erp_customer)

    def sf(http: httpx.AsyncClient) -> SalesforceCrm:
        return SalesforceCrm(http, urls["salesforce"], "c2c-fuzz", "fuzz-secret")

    def stripe(http: httpx.AsyncClient) -> StripeBilling:
        return StripeBilling(http, urls["stripe"], API_KEY)

    def netsuite(http: httpx.AsyncClient) -> NetSuiteErp:
        return NetSuiteErp(http, urls["netsuite"], "c2c-fuzz", "fuzz-secret")

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


def ns_customer() -> Customer:
    return Customer(
        golden_id=f"gc_{uuid.uuid4().hex[:10]}",
        legal_name="Fuzz Corp",
        address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
    )


def ns_invoice(billing_id: str) -> Invoice:
    unit = Money(amount=49_00, currency="USD")
    return Invoice(
        golden_customer_id="gc_1",
        legal_entity="US01",
        currency="USD",
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 31),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT", description="Seat", quantity=2, unit_amount=unit, amount=unit.times(2)
            )
        ],
        tax=Money(amount=8_58, currency="USD"),
        tax_document_code="doc-fuzz",
        number="INV-FUZZ",
        external_refs={"stripe": billing_id},
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
@pytest.mark.xfail(
    strict=True,
    raises=AttributeError,
    reason="finding: connectors/netsuite/client.py _posted_invoice calls record.get() on whatever JSON the "
    "record endpoint answered: a body that is not an object raises AttributeError, not a PermanentError",
)
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
@pytest.mark.xfail(
    strict=True,
    raises=(TypeError, AssertionError),
    reason="finding: token answers are trusted: NetSuite's expires_in goes to float() (None or a list: TypeError; "
    "text: ValueError naming nothing), a non-ASCII access_token fails in httpx header encoding "
    "(UnicodeEncodeError) for Salesforce and NetSuite, and Salesforce's instance_url is used unchecked",
)
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
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="finding: connectors/netsuite/client.py internal_id_from_location accepts str.isdigit() ids, so a "
    "Location ending in superscript digits (latin-1, possible in a header) is taken as the record's internal id",
)
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
