"""`HubSpotApi`: authenticated calls to HubSpot's CRM API and the object operations the CRM role is built from
(read one, batch read, search every page, patch, v4 batch association reads, the deal pipelines' won stages)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from connectors.errors import BusinessRuleError, PermanentError
from connectors.hubspot.auth import HubSpotCredentials, TokenSource
from connectors.hubspot.errors import SYSTEM, classify
from connectors.hubspot.wire import (
    BatchAssociationResult,
    BatchResult,
    HubSpotObject,
    Pipelines,
    Properties,
    SearchPage,
)
from connectors.kit import encode_json, json_body, send

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=Properties)

OBJECT_ID = re.compile(r"^[0-9]{1,19}$")  # HubSpot's object ids are numbers
BATCH_SIZE = 100  # inputs per batch read; values per IN filter
SEARCH_PAGE = 200  # results per search page (HubSpot's maximum)
PRIMARY_COMPANY_TYPE = 5  # v4 association type id of a deal's primary company


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PermanentError(SYSTEM, "bad_response", f"unexpected {model.__name__}: {exc}") from exc


def summary(exc: ValidationError, what: str) -> str:
    return "; ".join(f"{what} {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def typed(model: type[P], record: HubSpotObject, code: str, what: str) -> P:
    """The record's properties as `model`; BusinessRuleError(`code`) naming the property HubSpot holds wrong."""
    try:
        return model.model_validate(record.properties)
    except ValidationError as exc:
        raise BusinessRuleError(SYSTEM, code, summary(exc, f"{what} {record.id}")) from exc


def chunks(values: list[str], size: int = BATCH_SIZE) -> list[list[str]]:
    ordered = sorted(set(values))
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


class HubSpotApi:
    """Bearer-token calls (a private app's token, or OAuth access tokens renewed once on 401)."""

    system = SYSTEM

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: HubSpotCredentials,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._tokens = TokenSource(http, self.base_url, credentials, clock)
        self._stages: dict[tuple[str, str], bool] | None = None
        self._pipelines_lock = asyncio.Lock()

    # -- objects ---------------------------------------------------------------------------------------

    async def read_object(
        self, kind: str, object_id: str, model: type[Properties], associations: tuple[str, ...] = ()
    ) -> HubSpotObject | None:
        """One object with `model`'s properties (and its associations); None when HubSpot has none by that id."""
        if not OBJECT_ID.match(object_id):
            return None
        params = {"properties": ",".join(model.names()), "archived": "false"}
        if associations:
            params["associations"] = ",".join(associations)
        try:
            response = await self.call("GET", f"/crm/v3/objects/{kind}/{quote(object_id, safe='')}", params=params)
        except PermanentError as exc:
            if exc.status == 404:
                return None
            raise
        return parse(HubSpotObject, json_body(SYSTEM, response))

    async def batch_read(self, kind: str, ids: list[str], model: type[Properties]) -> dict[str, HubSpotObject]:
        """The objects of these ids that exist (a 207 names the others, which are left out), by id."""
        found: dict[str, HubSpotObject] = {}
        for chunk in chunks([i for i in ids if OBJECT_ID.match(i)]):
            body = {"inputs": [{"id": i} for i in chunk], "properties": model.names()}
            response = await self.call("POST", f"/crm/v3/objects/{kind}/batch/read", body=body)
            for record in parse(BatchResult, json_body(SYSTEM, response)).results:
                found[record.id] = record
        return found

    async def search(
        self, kind: str, filter_groups: list[dict[str, Any]], model: type[Properties]
    ) -> list[HubSpotObject]:
        """Every object matching the filter groups, oldest id first, following `paging.next.after`.

        HubSpot's search serves at most 10,000 results per query: callers keep their windows smaller."""
        records: list[HubSpotObject] = []
        after: str | None = None
        while True:
            body: dict[str, Any] = {
                "filterGroups": filter_groups,
                "properties": model.names(),
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": SEARCH_PAGE,
            }
            if after:
                body["after"] = after
            response = await self.call("POST", f"/crm/v3/objects/{kind}/search", body=body)
            page = parse(SearchPage, json_body(SYSTEM, response))
            records.extend(page.results)
            if page.paging is None or page.paging.next is None or not page.results:
                return records
            after = page.paging.next.after

    async def search_in(
        self, kind: str, name: str, values: list[str], model: type[Properties]
    ) -> dict[str, HubSpotObject]:
        """The objects whose text property `name` is exactly one of `values`, by id. HubSpot's IN on a text property
        takes lowercase values and matches regardless of case, so the values go lowercase and the answer is kept
        only where the case matches too (billing's ids are case-sensitive)."""
        found: dict[str, HubSpotObject] = {}
        wanted = set(values)
        for chunk in chunks(values):
            lowered = sorted({value.lower() for value in chunk})
            groups = [{"filters": [{"propertyName": name, "operator": "IN", "values": lowered}]}]
            for record in await self.search(kind, groups, model):
                value = record.properties.get(name)
                if isinstance(value, str) and value in wanted:
                    found[record.id] = record
        return found

    async def patch(self, kind: str, object_id: str, properties: dict[str, Any]) -> None:
        """Set these properties (absolute values: a repeat changes nothing more)."""
        await self.call("PATCH", f"/crm/v3/objects/{kind}/{quote(object_id, safe='')}", body={"properties": properties})

    async def primary_companies(self, deal_ids: list[str]) -> dict[str, str]:
        """Each deal's primary company (v4 batch association read); a deal with one company and no primary gets it."""
        found: dict[str, str] = {}
        for chunk in chunks(deal_ids):
            body = {"inputs": [{"id": i} for i in chunk]}
            response = await self.call("POST", "/crm/v4/associations/deals/companies/batch/read", body=body)
            for row in parse(BatchAssociationResult, json_body(SYSTEM, response)).results:
                primary = [
                    str(t.toObjectId)
                    for t in row.to
                    if any(a.typeId == PRIMARY_COMPANY_TYPE for a in t.associationTypes)
                ]
                candidates = primary or [str(t.toObjectId) for t in row.to]
                if len(candidates) == 1:
                    found[str(row.from_.get("id"))] = candidates[0]
        return found

    # -- pipelines -------------------------------------------------------------------------------------

    async def stages(self, refresh: bool = False) -> dict[tuple[str, str], bool]:
        """(pipeline id, stage id) -> whether it is closed-won: closed with probability 1 (a custom pipeline's stage
        ids are numbers, so the id alone says nothing). Read once, and again when asked."""
        async with self._pipelines_lock:
            if self._stages is None or refresh:
                response = await self.call("GET", "/crm/v3/pipelines/deals")
                pipelines = parse(Pipelines, json_body(SYSTEM, response))
                self._stages = {(p.id, s.id): s.closed_won for p in pipelines.results for s in p.stages}
            return self._stages

    async def is_closed_won(self, pipeline: str | None, stage: str | None) -> bool:
        """Whether the deal's stage is a won one; a stage not seen before reads the pipelines again (added since)."""
        if stage is None:
            return False
        key = (pipeline or "default", stage)
        known = await self.stages()
        if key not in known:
            known = await self.stages(refresh=True)
        return known.get(key, False)

    # -- transport -------------------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None
    ) -> httpx.Response:
        """Send with the current token; a refused OAuth token is replaced once, then PermanentError 'auth'."""
        for attempt in (1, 2):
            token = await self._tokens.token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            content = None
            if body is not None:
                headers["Content-Type"] = "application/json"
                content = encode_json(body)
            request = self.http.build_request(
                method, self.base_url + path, params=params, content=content, headers=headers
            )
            try:
                return await send(self.http, SYSTEM, request, classify)
            except PermanentError as exc:
                if exc.status != 401:
                    raise
                if attempt == 2 or not self._tokens.renewable:
                    raise PermanentError(
                        SYSTEM, "auth", f"HubSpot refused c2c's token: {exc.message}", status=401
                    ) from exc
                await self._tokens.drop(token)
        raise AssertionError("unreachable")  # pragma: no cover
