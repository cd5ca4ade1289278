"""Fuzzing finance's API with a valid bearer token: resolutions and cancels a parked saga must refuse, unknown
deals, queue filters and Authorization headers. Never a 5xx; a refusal names the field at fault; the parked saga's
status and history are unchanged (a refused decision leaves no update in its history)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from estate.book import NOWHERE, DealSpec
from estate.deals import seed_deal
from tests.support.estate import all_emulators, running_estate
from tests.support.fuzz_surface import Surface, serving
from tests.support.fuzzing import TEXT, TRICKY_TEXT, WIRE_TEXT, api_error, body_of, fuzzing, names_one_of, refused
from tests.support.polling import eventually
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Resolution, ResolutionAction, SagaResult, SagaStatus, Stage

# History events a refused decision must never leave.
CHANGES = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
}


@dataclass
class Parked:
    """A saga parked at tax with `invalid_address`, the finance API in front of it, and its status before."""

    api: Surface
    deal_id: str
    handle: WorkflowHandle[Any, SagaResult]
    before: SagaStatus

    def __repr__(self) -> str:
        return f"Parked({self.deal_id})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis' pretty printer would list every field: the short repr instead."""
        printer.text(repr(self))

    async def unchanged(self) -> None:
        assert await self.handle.query(CustomerToCash.status) == self.before, "a refused decision changed the saga"

    async def history_untouched(self) -> None:
        events = (await self.handle.fetch_history()).events
        changed = [EventType.Name(e.event_type) for e in events if e.event_type in CHANGES]
        assert not changed, f"the parked saga's history has {changed}"


@pytest.fixture(scope="module")
async def parked(
    temporal_env: WorkflowEnvironment, emulators: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Parked]:
    """Workers on their own queue run one deal whose address the tax engine rejects until it parks; the API under
    test is a separate, worker-less surface (its client records what it sends)."""
    urls = all_emulators(emulators)
    directory = tmp_path_factory.mktemp("finance")
    queue = f"fuzz-finance-{uuid.uuid4().hex[:8]}"
    async with running_estate(temporal_env, urls, queue, directory) as estate:
        spec = estate.unique(DealSpec("FUZZ-PARK", NOWHERE, "US01", "USD", [("PLAT-SEAT", 1, Decimal("49.00"))]))
        deal_id = await seed_deal(estate.crm, spec, close=True)
        await estate.trigger.start(deal_id)
        handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id))

        async def waiting() -> SagaStatus | None:
            status: SagaStatus = await handle.query(CustomerToCash.status)
            return status if status.stage is Stage.NEEDS_ATTENTION else None

        before = await eventually(waiting)
        assert before.problem is not None
        assert before.problem.code == "invalid_address"
        async with serving(temporal_env, urls, f"sqlite:///{directory / 'api.db'}") as api:
            yield Parked(api, deal_id, handle, before)
        # Leave nothing parked in the session's queue: a real cancel, compensated by the workers still running.
        done = Resolution(action=ResolutionAction.CANCEL, actor="fuzz", note="fuzzing done")
        await handle.execute_update(CustomerToCash.resolve, done)
        assert (await asyncio.wait_for(handle.result(), timeout=60)).outcome is Stage.CANCELLED


async def post(api: Surface, path: str, payload: Any, headers: dict[str, Any] | None = None) -> httpx.Response:
    """POST `payload` as JSON the way a sender may encode it (lone surrogates escaped, which httpx cannot)."""
    headers = (api.token if headers is None else headers) | {"Content-Type": "application/json"}
    return await api.http.post(path, content=body_of(payload), headers=headers)


# ---- resolutions the parked saga must refuse ------------------------------------------------------------------

ACTIONS = [action.value for action in ResolutionAction]
ACTOR = st.text(max_size=40).map(lambda t: f"fin-{t}"[:100])
NOTE = st.one_of(st.none(), st.text(max_size=200), WIRE_TEXT.filter(lambda t: len(t) <= 1000))
ADDRESS = st.fixed_dictionaries(
    {"line1": st.just("1 Market St"), "city": st.just("San Francisco"), "postal_code": st.just("94105")},
    optional={"region": st.just("CA"), "line2": st.text(max_size=20)},
).map(lambda a: a | {"country": "US"})
NOT_TEXT = st.one_of(
    st.integers(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
BLANK = st.text(alphabet=" \t\n\r", max_size=5)


@st.composite
def pydantic_breaker(draw: st.DrawFn, payload: dict[str, Any]) -> str:
    """Break `payload` so the Resolution model refuses it (422, nothing sent to Temporal); returns the field."""
    field = draw(st.sampled_from(["action", "actor", "note", "golden_customer_id", "corrected_address"]))
    if field == "action":
        bad = st.one_of(st.none(), NOT_TEXT, TEXT.filter(lambda t: t not in ACTIONS))
        _set_or_drop(draw, payload, field, bad)
    elif field == "actor":
        _set_or_drop(draw, payload, field, st.one_of(st.none(), NOT_TEXT, BLANK, st.just("a" * 101)))
    elif field == "note":
        payload[field] = draw(st.one_of(NOT_TEXT, st.just("n" * 1001), st.just("é" * 1001)))
    elif field == "golden_customer_id":
        payload[field] = draw(st.one_of(NOT_TEXT, st.just(""), st.just("g" * 101)))
    else:
        payload[field] = draw(
            st.one_of(st.text(max_size=10), st.integers(), st.lists(st.integers(), max_size=1), _bad_address())
        )
    return field


def _set_or_drop(draw: st.DrawFn, payload: dict[str, Any], field: str, bad: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        payload.pop(field, None)
    else:
        payload[field] = draw(bad)


@st.composite
def _bad_address(draw: st.DrawFn) -> dict[str, Any]:
    address: dict[str, Any] = dict(draw(ADDRESS))
    field = draw(st.sampled_from(["line1", "city", "postal_code", "country"]))
    if draw(st.booleans()):
        del address[field]
    elif field == "country":
        address[field] = draw(st.one_of(NOT_TEXT, TEXT.filter(lambda t: not re.fullmatch(r"[A-Z]{2}", t))))
    else:
        address[field] = draw(st.one_of(st.just(""), NOT_TEXT))
    return address


@st.composite
def validator_breaker(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[str, ...]:
    """A well-typed decision that does not fit a saga parked with invalid_address (409 from its validator);
    returns the words the refusal must use."""
    case = draw(st.sampled_from(["address_missing", "customer_missing", "wrong_problem", "retry_with_data",
                                 "cancel_with_data", "cancel_without_note"]))  # fmt: skip
    payload.pop("corrected_address", None)
    payload.pop("golden_customer_id", None)
    if case == "address_missing":
        payload["action"] = "retry_with_address"
        return ("corrected_address",)
    if case == "customer_missing":
        payload["action"] = "retry_with_customer"
        return ("golden_customer_id",)
    if case == "wrong_problem":
        payload |= {"action": "retry_with_customer", "golden_customer_id": draw(st.text(min_size=1, max_size=40))}
        return ("invalid_address", "customer_ambiguous")
    if case in ("retry_with_data", "cancel_with_data"):
        payload["action"] = "retry" if case == "retry_with_data" else "cancel"
        payload["note"] = "fuzz: a note"
        if draw(st.booleans()):
            payload["corrected_address"] = draw(ADDRESS)
        else:
            payload["golden_customer_id"] = draw(st.text(min_size=1, max_size=40))
        return ("corrected",)
    payload |= {"action": "cancel", "note": draw(st.one_of(st.none(), BLANK))}
    return ("note",)


@st.composite
def refused_resolution(draw: st.DrawFn) -> tuple[dict[str, Any], int, tuple[str, ...]]:
    """(payload, expected status, names): a decision with exactly one thing wrong with it."""
    payload: dict[str, Any] = {"action": draw(st.sampled_from(ACTIONS)), "actor": draw(ACTOR), "note": draw(NOTE)}
    if draw(st.booleans()):
        payload["x_unknown"] = draw(TEXT)  # ignored by the model: must not change the outcome
    if draw(st.booleans()):
        return payload, 422, (draw(pydantic_breaker(payload)),)
    return payload, 409, draw(validator_breaker(payload))


def field_named(response: httpx.Response, status: int, *names: str) -> None:
    """The refusal names the field: in a `{"error", "message"}` body's message, or in a validation error's `loc`."""
    body = refused(response, [status])
    if isinstance(body, dict) and "message" in body:
        names_one_of(body["message"], *names)
        return
    locations = [".".join(map(str, error["loc"])) for error in body["detail"]]
    names_one_of(" ".join(locations), *names)


@given(case=refused_resolution())
@fuzzing(150)
async def test_resolutions_that_do_not_fit_are_refused_naming_the_field_and_change_nothing(
    parked: Parked, case: tuple[dict[str, Any], int, tuple[str, ...]]
) -> None:
    payload, status, names = case
    api = parked.api
    response = await post(api, f"/deals/{parked.deal_id}/resolve", payload)
    field_named(response, status, *names)
    sent, api.recorder.sent[:] = list(api.recorder.sent), []
    if status == 422:
        assert not sent, f"a decision the model refuses reached Temporal: {sent}"
    else:
        assert {s.kind for s in sent} == {"update"}, sent
        assert api_error(response, 409, "resolution_rejected")
        await parked.unchanged()


@given(field=st.sampled_from(["action", "actor"]))
@fuzzing(2, shrink=False)
async def test_a_malformed_decision_is_refused_in_the_api_error_shape(parked: Parked, field: str) -> None:
    payload = {"action": "retry", "actor": "fuzz"}
    del payload[field]
    response = await post(parked.api, f"/deals/{parked.deal_id}/resolve", payload)
    names_one_of(api_error(response, 422), field)


@given(body=st.one_of(st.lists(st.integers(), max_size=2), st.integers(), st.text(max_size=10), st.none()))
@fuzzing(40)
async def test_a_resolution_that_is_not_a_json_object_is_422(parked: Parked, body: Any) -> None:
    api = parked.api
    response = await post(api, f"/deals/{parked.deal_id}/resolve", body)
    field_named(response, 422, "body")
    await api.nothing_changed()


@st.composite
def refused_cancel(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    payload: dict[str, Any] = {"actor": draw(ACTOR), "note": f"fuzz {draw(st.text(max_size=50))}"}
    field = draw(st.sampled_from(["actor", "note"]))
    limit = 100 if field == "actor" else 1000
    _set_or_drop(draw, payload, field, st.one_of(st.none(), NOT_TEXT, BLANK, st.just("z" * (limit + 1))))
    return payload, field


@given(case=refused_cancel())
@fuzzing(120)
async def test_cancels_without_actor_or_reason_are_422_naming_the_field_and_change_nothing(
    parked: Parked, case: tuple[dict[str, Any], str]
) -> None:
    payload, field = case
    api = parked.api
    response = await post(api, f"/deals/{parked.deal_id}/cancel", payload)
    field_named(response, 422, field)
    await api.nothing_changed()


async def test_after_the_refusals_the_parked_saga_is_as_it_was(parked: Parked) -> None:
    await parked.unchanged()
    await parked.history_untouched()
    await parked.api.no_workflows_on_queue()
    await parked.api.still_serving()


# ---- deals without a saga -------------------------------------------------------------------------------------

# Ids longer than Temporal's workflow id limit (1000) are answered NOT_FOUND too. Long non-ASCII ids are left out:
# from about 4 kB of UTF-8 the gRPC call fails with INTERNAL after ~10 s of client retries (a 500; a known finding,
# too slow to fuzz in every run).
DEAL_IDS = st.one_of(
    st.text(min_size=1, max_size=40),
    TRICKY_TEXT.filter(lambda t: t != "\ud800"),
    st.sampled_from(["006" + "A" * 15, "x" * 1000, "y" * 20_000, "é" * 500]),
).filter(lambda d: "/" not in d and d.strip(".") != "" and d.strip() != "")


@given(deal=DEAL_IDS, operation=st.sampled_from(["show", "resolve", "cancel"]))
@fuzzing(150)
async def test_decisions_for_deals_without_a_saga_are_404_or_422_and_start_nothing(
    parked: Parked, deal: str, operation: str
) -> None:
    api, path = parked.api, f"/deals/{quote(deal, safe='')}"
    if operation == "show":
        response = await api.http.get(path, headers=api.token)
    elif operation == "resolve":
        response = await api.http.post(f"{path}/resolve", json={"action": "retry", "actor": "fuzz"}, headers=api.token)
    else:
        response = await api.http.post(f"{path}/cancel", json={"actor": "fuzz", "note": "no saga"}, headers=api.token)
    if response.status_code == 422:  # not the shape of a CRM id: refused before Temporal is asked
        names_one_of(api_error(response, 422, "invalid_request"), "deal_id")
    else:
        assert api_error(response, 404, "saga_not_found")
    sent, api.recorder.sent[:] = list(api.recorder.sent), []
    assert {s.kind for s in sent} <= {"update"}, sent  # a decision is tried; the server finds no saga


# ---- the queue's filters --------------------------------------------------------------------------------------

# Query values stay under httpx's 64 kB limit for a URL's query, even percent-encoded.
QUERY_TEXT = st.one_of(st.text(max_size=24), TRICKY_TEXT, st.sampled_from(["x" * 1000, "é" * 2000])).filter(
    lambda t: "\ud800" not in t
)
VALID = {
    "stage": st.sampled_from([stage.value for stage in Stage]),
    "exception": st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    "legal_entity": st.sampled_from(["US01", "DE01"]),
    "currency": st.sampled_from(["USD", "EUR", "JPY", "XYZ"]),
    "limit": st.integers(min_value=1, max_value=1000).map(str),
}
INVALID = {
    "stage": st.one_of(QUERY_TEXT, st.just("")).filter(lambda v: v not in {stage.value for stage in Stage}),
    "exception": st.one_of(QUERY_TEXT, st.just("x' OR 1=1"), st.just("A_B")).filter(
        lambda v: not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", v)
    ),
    "legal_entity": st.one_of(QUERY_TEXT, st.just("us01"), st.just("XX99")).filter(lambda v: v not in ("US01", "DE01")),
    "currency": st.one_of(QUERY_TEXT, st.sampled_from(["usd", "US", "USDD", "US$"])).filter(
        lambda v: not re.fullmatch(r"[A-Z]{3}", v)
    ),
    "limit": st.sampled_from(["0", "-1", "1001", "10000000000000000000000", "abc", "1.5", "", "1e3"]),
}


@st.composite
def queue_filters(draw: st.DrawFn) -> tuple[dict[str, str], set[str]]:
    """Query parameters, each valid or not; returns the invalid ones."""
    params: dict[str, str] = {}
    wrong: set[str] = set()
    for name in draw(st.sets(st.sampled_from(sorted(VALID)), min_size=1)):
        if draw(st.booleans()):
            params[name] = draw(VALID[name])
        else:
            params[name] = draw(INVALID[name])
            wrong.add(name)
    return params, wrong


@given(case=queue_filters())
@fuzzing(100)
async def test_queue_filters_are_checked_before_they_reach_a_visibility_query(
    parked: Parked, case: tuple[dict[str, str], set[str]]
) -> None:
    params, wrong = case
    api = parked.api
    response = await api.http.get("/sagas", params=params, headers=api.token)
    if wrong:
        field_named(response, 422, *wrong)
    else:
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)
    await api.nothing_changed()


# ---- tokens and bodies ----------------------------------------------------------------------------------------

TOKEN = "c2c-sandbox-token"  # the settings' default api_token (checked below)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)


def _admits(header: str) -> bool:
    """Whether the API would accept `header` (scheme matched case-insensitively, token stripped)."""
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and presented.strip() == TOKEN


AUTHORIZATION = st.one_of(
    HEADER_TEXT,
    HEADER_TEXT.map(lambda t: f"Bearer {t}"),
    HEADER_TEXT.map(lambda t: f"bearer {TOKEN}{t}"),
    st.sampled_from(["Bearer", "Bearer ", f"Basic {TOKEN}", f"Token {TOKEN}", f"Bearer {TOKEN[:-1]}"]),
).filter(lambda h: not _admits(h) and h.strip() == h)


@given(authorization=AUTHORIZATION, path=st.sampled_from(["resolve", "cancel"]))
@fuzzing(80)
async def test_without_the_right_token_nothing_is_decided(parked: Parked, authorization: str, path: str) -> None:
    api = parked.api
    assert api.token == {"Authorization": f"Bearer {TOKEN}"}
    headers = {"Authorization": authorization.encode("latin-1")} if authorization else {}
    body = {"action": "cancel", "actor": "mallory", "note": "fuzz"}
    response = await post(api, f"/deals/{parked.deal_id}/{path}", body, headers)
    names_one_of(api_error(response, 401, "unauthorized"), "Authorization", "token")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    await api.nothing_changed()


@given(media_type=st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "application/xml", None]))
@fuzzing(8)
async def test_a_resolution_that_is_not_json_is_415(parked: Parked, media_type: str | None) -> None:
    api = parked.api
    headers = api.token | ({"Content-Type": media_type} if media_type else {})
    response = await api.http.post(
        f"/deals/{parked.deal_id}/resolve", content=b'{"action":"cancel","actor":"a","note":"n"}', headers=headers
    )
    names_one_of(api_error(response, 415), "Content-Type")
    await api.nothing_changed()


@given(extra=st.integers(min_value=1, max_value=10**6))
@fuzzing(10)
async def test_an_oversized_resolution_is_413(parked: Parked, extra: int) -> None:
    api = parked.api
    note = "n" * (api.settings.max_body_bytes + extra)
    body = {"action": "cancel", "actor": "fuzz", "note": note}
    response = await post(api, f"/deals/{parked.deal_id}/resolve", body)
    names_one_of(api_error(response, 413), "bytes", "body")
    await api.nothing_changed()


async def test_after_everything_the_parked_saga_is_still_as_it_was(parked: Parked) -> None:
    await parked.unchanged()
    await parked.history_untouched()
    await parked.api.still_serving()
