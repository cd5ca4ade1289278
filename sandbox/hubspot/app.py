"""HubSpot emulator: CRM API v3 objects (deals, companies, line items, products) with search and batch read, v4
associations, deal pipelines, OAuth 2.0 tokens and private-app tokens (sandbox/hubspot/access.py), and webhooks v3
for deal stage changes (sandbox/hubspot/webhooks.py).

Objects are `{id, properties, createdAt, updatedAt, archived}` with every property value a string; a read names
its `properties` (else the type's defaults) and `associations`. Writes are validated like HubSpot's: an unknown or
read-only property, a bad number or date, an option the enumeration lacks, a stage the deal's pipeline lacks is a
400 VALIDATION_ERROR listing each property at fault, and nothing changes. Every refusal is HubSpot's error body
(`status`, `message`, `correlationId`, `category`). Admin: `GET /_sandbox/state`, `POST /_sandbox/reset`,
`POST /_sandbox/limits {"ten_secondly", "daily"}`, `POST /_sandbox/tokens/expire` (every OAuth token expires now),
`POST /_sandbox/webhooks {"url"}`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sandbox.faults import install_faults
from sandbox.hubspot.access import CLIENT_ID, CLIENT_SECRET, Gate, Limits, error
from sandbox.hubspot.state import (
    ASSOCIATION_TYPES,
    DEFAULT_PROPERTIES,
    DEFAULT_TYPE,
    OBJECT_TYPES,
    PIPELINES,
    SINGULAR,
    BadFilter,
    Invalid,
    Portal,
    Record,
    check_filters,
    iso,
    now,
)
from sandbox.hubspot.webhooks import WATCHED_COMPANY_PROPERTIES, WebhookSender

MAX_BATCH = 100
MAX_SEARCH_PAGE = 200


class WebhookTarget(BaseModel):
    url: str | None


class _Refusal(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _kind(name: str) -> str:
    kind = OBJECT_TYPES.get(name.lower())
    if kind is None:
        raise _Refusal(error(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR"))
    return kind


def _not_found(object_id: str) -> _Refusal:
    return _Refusal(
        error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND", context={"id": [object_id]})
    )


def _invalid(problem: Invalid) -> _Refusal:
    message = f"Property values were not valid: {json.dumps(problem.results)}"
    return _Refusal(error(400, message, "VALIDATION_ERROR"))


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body(), parse_float=Decimal)
    except ValueError as exc:
        raise _Refusal(error(400, f"Invalid input JSON: {exc}", "VALIDATION_ERROR")) from exc


def _names(request: Request, key: str) -> list[str] | None:
    """A query list as HubSpot takes it: repeated (`?p=a&p=b`) or comma-separated (`?p=a,b`)."""
    values = request.query_params.getlist(key)
    if not values:
        return None
    return [name for value in values for name in value.split(",") if name]


def create_app(
    webhook_url: str | None = None,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    token_ttl: float = 1800.0,
) -> FastAPI:
    app = FastAPI(title="HubSpot emulator")
    install_faults(app)
    gate = Gate(client_id=client_id, client_secret=client_secret, token_ttl=token_ttl)
    sender = WebhookSender(webhook_url, client_secret)
    portal = Portal()
    app.state.portal, app.state.webhooks = portal, sender

    def view(kind: str, record: Record, names: list[str] | None, associations: list[str] | None = None) -> Record:
        wanted = names if names is not None else list(DEFAULT_PROPERTIES[kind])
        properties = {name: record["properties"].get(name) for name in wanted}
        for name in ("createdate", "hs_lastmodifieddate", "hs_object_id"):
            properties[name] = record["properties"][name]
        body = {k: record[k] for k in ("id", "createdAt", "updatedAt", "archived")} | {"properties": properties}
        linked: Record = {}
        for name in associations or []:
            to_kind = _kind(name)
            results = [
                {"id": to_id, "type": ASSOCIATION_TYPES[(kind, to_kind)][type_id][0]}
                for to_id, types in portal.associated(kind, record["id"], to_kind)
                for type_id in types
            ]
            if results:
                # HubSpot names the line items' key with a space.
                linked[to_kind.replace("_", " ")] = {"results": results}
        if linked:
            body["associations"] = linked
        return body

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        if not request.url.path.startswith("/crm/"):
            return await call_next(request)
        refused = gate.refused(request.headers.get("Authorization"))
        if refused is not None:
            return refused
        headers, over = gate.count()
        if over is not None:
            return over
        try:
            response: Response = await call_next(request)
        except _Refusal as refusal:  # raised below a route: the middleware is where Starlette lets it out
            response = refusal.response
        response.headers.update(headers)
        return response

    @app.exception_handler(_Refusal)
    async def refusal(_: Request, exc: _Refusal) -> JSONResponse:
        return exc.response

    # ---- admin ---------------------------------------------------------------------------------------

    @app.get("/_sandbox/state")
    async def sandbox_state() -> Record:
        return {
            "objects": {
                kind: [view(kind, r, None) | {"properties": r["properties"]} for r in portal.live(kind)]
                for kind in portal.objects
            },
            "associations": [
                {"from": [f_kind, f_id], "to": [t_kind, t_id], "types": sorted(types)}
                for (f_kind, f_id, t_kind, t_id), types in portal.links.items()
            ],
            "webhooks": sender.deliveries,
        }

    @app.post("/_sandbox/reset")
    async def sandbox_reset() -> Record:
        nonlocal portal
        portal = Portal()
        app.state.portal = portal
        sender.reset()
        gate.access_tokens.clear()
        gate.recent.clear()
        gate.today = 0
        gate.limits = Limits()
        return {"ok": True}

    @app.post("/_sandbox/limits")
    async def sandbox_limits(limits: Limits) -> Record:
        gate.limits = limits
        gate.recent.clear()
        return {"ten_secondly": limits.ten_secondly, "daily": limits.daily}

    @app.post("/_sandbox/tokens/expire")
    async def sandbox_expire() -> Record:
        for token in gate.access_tokens:
            gate.access_tokens[token] = 0.0
        return {"expired": len(gate.access_tokens)}

    @app.post("/_sandbox/webhooks")
    async def sandbox_webhooks(target: WebhookTarget) -> Record:
        sender.url = target.url
        return {"url": target.url}

    # ---- OAuth ---------------------------------------------------------------------------------------

    @app.post("/oauth/v1/token")
    async def token(request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode("latin-1")).items()}
        grant = form.get("grant_type")

        def bad(status: str, message: str) -> JSONResponse:
            return JSONResponse({"status": status, "message": message, "correlationId": iso(now())}, status_code=400)

        if grant not in ("refresh_token", "client_credentials"):
            return bad("BAD_GRANT_TYPE", f"grant_type {grant!r} is not supported")
        if form.get("client_id") != gate.client_id:
            return bad("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != gate.client_secret:
            return bad("BAD_CLIENT_SECRET", "missing or invalid client secret")
        answer: Record = {"token_type": "bearer"}
        if grant == "refresh_token":
            refresh = form.get("refresh_token")
            if refresh not in gate.refresh_tokens:
                return bad("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
            answer["refresh_token"] = refresh
        answer["access_token"], answer["expires_in"] = gate.issue()
        return JSONResponse(answer)

    # ---- pipelines -----------------------------------------------------------------------------------

    @app.get("/crm/v3/pipelines/{object_type}")
    async def pipelines(object_type: str) -> Record:
        if _kind(object_type) != "deals":
            return {"results": []}
        return {"results": PIPELINES}

    @app.get("/crm/v3/pipelines/{object_type}/{pipeline_id}")
    async def pipeline(object_type: str, pipeline_id: str) -> Record:
        for found in PIPELINES if _kind(object_type) == "deals" else []:
            if found["id"] == pipeline_id:
                return found
        raise _Refusal(error(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND"))

    # ---- objects -------------------------------------------------------------------------------------

    def notify(kind: str, record: Record, before: dict[str, str | None] | None) -> None:
        """One event per subscribed property that changed: every deal stage change, watched company properties
        changed on an existing company (creating one is `company.creation`, which the app does not subscribe to).
        `before`: the previous values of the properties a write set; None for a created record."""
        properties = record["properties"]
        stage = properties.get("dealstage")
        changed = before is None or ("dealstage" in before and before["dealstage"] != stage)
        if kind == "deals" and stage is not None and changed:
            sender.property_changed("deal", record["id"], "dealstage", stage)
        if kind == "companies" and before is not None:
            for name in WATCHED_COMPANY_PROPERTIES:
                if name in before and before[name] != properties.get(name):
                    sender.property_changed("company", record["id"], name, properties.get(name))

    @app.post("/crm/v3/objects/{object_type}", status_code=201)
    async def create(object_type: str, request: Request) -> Record:
        kind, body = _kind(object_type), await _json(request)
        if not isinstance(body, dict):
            raise _Refusal(error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR"))
        links = body.get("associations") or []
        targets = []
        items: list[Any] = links if isinstance(links, list) else [None]
        for link in items:
            try:
                to_id = str(link["to"]["id"])
                types = [int(t["associationTypeId"]) for t in link["types"]]
            except (KeyError, TypeError, ValueError) as exc:
                raise _Refusal(error(400, f"Invalid association: {exc}", "VALIDATION_ERROR")) from exc
            to_kind = next(
                (to for (fr, to), ids in ASSOCIATION_TYPES.items() if fr == kind and set(types) <= set(ids)), None
            )
            if to_kind is None or portal.find(to_kind, to_id) is None:
                raise _Refusal(error(400, f"invalid association to {to_id} with types {types}", "VALIDATION_ERROR"))
            targets.append((to_kind, to_id, types))
        try:
            record = portal.create(kind, body.get("properties") or {})
        except Invalid as problem:
            raise _invalid(problem) from problem
        for to_kind, to_id, types in targets:
            portal.associate(kind, record["id"], to_kind, to_id, types)
        notify(kind, record, None)
        return view(kind, record, list(record["properties"]))

    @app.get("/crm/v3/objects/{object_type}")
    async def list_objects(object_type: str, request: Request, limit: int = 10, after: str | None = None) -> Record:
        kind = _kind(object_type)
        records = sorted(portal.live(kind), key=lambda r: int(r["id"]))
        start = int(after) if after and after.isdigit() else 0
        page = records[start : start + min(max(limit, 1), 100)]
        body: Record = {
            "results": [view(kind, r, _names(request, "properties"), _names(request, "associations")) for r in page]
        }
        if start + len(page) < len(records):
            body["paging"] = {"next": {"after": str(start + len(page))}}
        return body

    @app.get("/crm/v3/objects/{object_type}/{object_id}")
    async def read(object_type: str, object_id: str, request: Request) -> Record:
        kind = _kind(object_type)
        record = portal.find(kind, object_id, request.query_params.get("idProperty"))
        if record is None:
            raise _not_found(object_id)
        return view(kind, record, _names(request, "properties"), _names(request, "associations"))

    @app.patch("/crm/v3/objects/{object_type}/{object_id}")
    async def update(object_type: str, object_id: str, request: Request) -> Record:
        kind, body = _kind(object_type), await _json(request)
        record = portal.find(kind, object_id, request.query_params.get("idProperty"))
        if record is None:
            raise _not_found(object_id)
        try:
            record, before = portal.update(
                kind, record["id"], (body or {}).get("properties") if isinstance(body, dict) else None
            )
        except Invalid as problem:
            raise _invalid(problem) from problem
        notify(kind, record, before)
        return view(kind, record, list(record["properties"]))

    @app.delete("/crm/v3/objects/{object_type}/{object_id}", status_code=204)
    async def archive(object_type: str, object_id: str) -> Response:
        kind = _kind(object_type)
        if portal.find(kind, object_id) is not None:
            portal.archive(kind, object_id)
        return Response(status_code=204)

    @app.post("/crm/v3/objects/{object_type}/search")
    async def search(object_type: str, request: Request) -> Record:
        kind, body = _kind(object_type), await _json(request)
        if not isinstance(body, dict):
            raise _Refusal(error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR"))
        try:
            groups = check_filters(body.get("filterGroups"))
        except BadFilter as exc:
            raise _Refusal(error(400, str(exc), "VALIDATION_ERROR")) from exc
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= MAX_SEARCH_PAGE:
            raise _Refusal(error(400, f"limit must be between 1 and {MAX_SEARCH_PAGE}", "VALIDATION_ERROR"))
        after = str(body.get("after") or "0")
        start = int(after) if after.isdigit() else 0
        found = portal.search(kind, groups)
        page = found[start : start + limit]
        names = body.get("properties") or None
        answer: Record = {"total": len(found), "results": [view(kind, r, names) for r in page]}
        if start + len(page) < len(found):
            answer["paging"] = {"next": {"after": str(start + len(page))}}
        return answer

    @app.post("/crm/v3/objects/{object_type}/batch/read", response_model=None)
    async def batch_read(object_type: str, request: Request) -> Record | JSONResponse:
        kind, body = _kind(object_type), await _json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
            raise _Refusal(error(400, "inputs must be a list of {id}", "VALIDATION_ERROR"))
        if len(inputs) > MAX_BATCH:
            raise _Refusal(error(400, f"Batch input cannot exceed {MAX_BATCH} inputs", "VALIDATION_ERROR"))
        started = iso(now())
        results, missing = [], []
        for item in inputs:
            record = portal.find(kind, str(item["id"]), body.get("idProperty"))
            if record is None:
                missing.append(str(item["id"]))
            else:
                results.append(view(kind, record, body.get("properties") or None))
        answer: Record = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso(now())}
        if not missing:
            return answer
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {SINGULAR[kind].upper()} objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
            }
        ]
        return JSONResponse(answer, status_code=207)

    # ---- associations v4 -----------------------------------------------------------------------------

    @app.get("/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}")
    async def associations(from_type: str, object_id: str, to_type: str) -> Record:
        from_kind, to_kind = _kind(from_type), _kind(to_type)
        if portal.find(from_kind, object_id) is None:
            raise _not_found(object_id)
        labels = ASSOCIATION_TYPES.get((from_kind, to_kind), {})
        results = [
            {
                "toObjectId": int(to_id),
                "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": t, "label": labels[t][1]} for t in types
                ],
            }
            for to_id, types in portal.associated(from_kind, object_id, to_kind)
        ]
        return {"results": results}

    @app.post("/crm/v4/associations/{from_type}/{to_type}/batch/read", response_model=None)
    async def batch_associations(from_type: str, to_type: str, request: Request) -> Record | JSONResponse:
        from_kind, to_kind, body = _kind(from_type), _kind(to_type), await _json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
            raise _Refusal(error(400, "inputs must be a list of {id}", "VALIDATION_ERROR"))
        if len(inputs) > MAX_BATCH:
            raise _Refusal(error(400, f"Batch input cannot exceed {MAX_BATCH} inputs", "VALIDATION_ERROR"))
        labels = ASSOCIATION_TYPES.get((from_kind, to_kind), {})
        results, missing = [], []
        for item in inputs:
            object_id = str(item["id"])
            if portal.find(from_kind, object_id) is None:
                missing.append(object_id)
                continue
            linked = portal.associated(from_kind, object_id, to_kind)
            to = [
                {
                    "toObjectId": int(to_id),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": t, "label": labels[t][1]} for t in types
                    ],
                }
                for to_id, types in linked
            ]
            results.append({"from": {"id": object_id}, "to": to})
        answer: Record = {"status": "COMPLETE", "results": results, "startedAt": iso(now()), "completedAt": iso(now())}
        if not missing:
            return answer
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "No associations found",
                "context": {"ids": missing},
            }
        ]
        return JSONResponse(answer, status_code=207)

    async def link(from_type: str, object_id: str, to_type: str, to_id: str, types: list[int]) -> Record:
        from_kind, to_kind = _kind(from_type), _kind(to_type)
        for kind, key in ((from_kind, object_id), (to_kind, to_id)):
            if portal.find(kind, key) is None:
                raise _not_found(key)
        try:
            portal.associate(from_kind, object_id, to_kind, to_id, types)
        except Invalid as problem:
            raise _Refusal(error(400, str(problem), "VALIDATION_ERROR")) from problem
        return {
            "fromObjectTypeId": from_kind,
            "fromObjectId": int(object_id),
            "toObjectTypeId": to_kind,
            "toObjectId": int(to_id),
            "labels": [
                ASSOCIATION_TYPES[(from_kind, to_kind)][t][1]
                for t in types
                if ASSOCIATION_TYPES[(from_kind, to_kind)][t][1]
            ],
        }

    @app.put("/crm/v4/objects/{from_type}/{object_id}/associations/default/{to_type}/{to_id}")
    async def associate_default(from_type: str, object_id: str, to_type: str, to_id: str) -> Record:
        pair = (_kind(from_type), _kind(to_type))
        if pair not in DEFAULT_TYPE:
            raise _Refusal(error(400, f"no association between {pair[0]} and {pair[1]}", "VALIDATION_ERROR"))
        await link(from_type, object_id, to_type, to_id, [DEFAULT_TYPE[pair]])
        return {"status": "COMPLETE", "results": [{"from": {"id": object_id}, "to": {"id": to_id}}]}

    @app.put("/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}/{to_id}", status_code=201)
    async def associate_labeled(from_type: str, object_id: str, to_type: str, to_id: str, request: Request) -> Record:
        body = await _json(request)
        try:
            types = [int(spec["associationTypeId"]) for spec in body]
        except (KeyError, TypeError, ValueError) as exc:
            raise _Refusal(error(400, f"Invalid association types: {exc}", "VALIDATION_ERROR")) from exc
        return await link(from_type, object_id, to_type, to_id, types)

    return app
