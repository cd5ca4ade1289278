"""Recording a connector's real HTTP exchanges with an emulator once and replaying them with one value of one
answer removed or replaced: the machinery of the vendor-parsing fuzz tests (tests/fuzz/test_vendor_parsing.py,
tests/fuzz/test_billing_tax_parsing.py, test_crm_erp_parsing.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import strategies as st

from connectors.errors import ConnectorError
from tests.support.fuzzing import TRICKY_TEXT

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
    """Answers the n-th request with the n-th recorded answer; a request the tape does not hold there (the connector
    took another path because of the mutation: another method or URL path, or a call skipped) gets an empty 404."""

    def __init__(self, tape: list[Exchange]) -> None:
        self.tape = tape
        self.calls = 0
        self.strayed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index, self.calls = self.calls, self.calls + 1
        if index >= len(self.tape) or (self.tape[index].method, self.tape[index].path) != (
            request.method,
            request.url.path,
        ):
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
    # The refusal the unmutated tape replays to ("" when it returns normally), computed once.
    _refusal: str | None = None

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
        try:
            async with httpx.AsyncClient(transport=recording, timeout=10) as http:
                await self.run(http)
        finally:  # a call the vendor refused (its error recorded) is replayed too
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
        unchanged = str(error) == await _unmutated_refusal(operation)  # the call's own refusal, e.g. "invoice_paid"
        if named and mutation.path and isinstance(mutation.path[-1], str) and not transport.strayed and not unchanged:
            names_the_field(error, mutation)


async def _unmutated_refusal(operation: Operation) -> str:
    if operation._refusal is None:
        error = await refusal(operation, Replay(operation.tape))
        operation._refusal = "" if error is None else str(error)
    return operation._refusal


def keys(*names: str) -> Callable[[Path], bool]:
    """Places whose last key is one of `names`."""
    return lambda path: isinstance(path[-1], str) and path[-1] in names


def not_keys(*names: str) -> Callable[[Path], bool]:
    return lambda path: not (isinstance(path[-1], str) and path[-1] in names)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    return type(value).__name__


@st.composite
def mistyped(draw: st.DrawFn, operation: Operation, answers: Callable[[Exchange], bool] = lambda a: True) -> Mutation:
    """One field of one recorded answer removed, or given a value of another JSON type (never null, which a field
    may legitimately hold): a shape no parser may trust."""
    candidates = [(i, p) for i, p in operation.places() if p and answers(operation.tape[i])]
    index, path = draw(st.sampled_from(candidates))
    if isinstance(path[-1], str) and draw(st.booleans()):
        return Mutation(index, path, ABSENT)
    current: Any = operation.tape[index].json()
    for part in path:
        current = current[part]
    kind = _json_type(current)
    return Mutation(index, path, draw(JUNK.filter(lambda v: v is not None and _json_type(v) != kind)))
