"""The Salesforce REST emulator app: `create_app(webhook_url=..., webhook_secret=...)`.

Admin endpoints (not Salesforce): `GET /_sandbox/state`, `POST /_sandbox/reset` (empties the org and
revokes sessions), `POST /_sandbox/webhook {"url", "secret"}` (re-point the closed-won callout),
`POST /_sandbox/outbound {"url"}` (set up the closed-won Outbound Message, sandbox/salesforce/outbound.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.faults import install_faults
from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.jsonwire import json_response, loads
from sandbox.salesforce.outbound import OutboundMessenger
from sandbox.salesforce.schema import ObjectSpec
from sandbox.salesforce.state import Org, Record, object_or_404
from sandbox.salesforce.webhooks import WebhookSender

_VERSION = re.compile(r"^v\d{2}\.0$")
ORG_ID = "00D5g000000C2CSAND"
OUTBOUND_ACTION_ID = "04k5g000000C2CWON"  # the closed-won outbound message action
USER_ID = "0055g000000C2CUSER"


class WebhookConfig(BaseModel):
    url: str | None
    secret: str = "whsec_crm_sandbox"


class OutboundConfig(BaseModel):
    url: str | None


def _oauth_error(error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status_code=400)


def _record_view(spec: ObjectSpec, record: Record, version: str, fields: list[str] | None = None) -> Record:
    names = fields if fields is not None else [f.name for f in spec.fields]
    url = f"/services/data/{version}/sobjects/{spec.name}/{record['Id']}"
    return {"attributes": {"type": spec.name, "url": url}} | {name: record.get(name) for name in names}


async def _body(request: Request) -> Any:
    try:
        return loads(await request.body())
    except ValueError as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}") from None


def create_app(
    webhook_url: str | None = None,
    webhook_secret: str = "whsec_crm_sandbox",
    query_batch_size: int = 2000,
    outbound_url: str | None = None,
) -> FastAPI:
    """A fresh, empty org; a closed-won opportunity is sent as an Outbound Message to `outbound_url` when it is set,
    else posted as the signed callout to `webhook_url` (which also gets account changes)."""
    app = FastAPI(title="Salesforce sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    install_faults(app)
    outbound = OutboundMessenger(outbound_url, ORG_ID, OUTBOUND_ACTION_ID, lambda: org.next_id("04l"))
    org = Org(WebhookSender(webhook_url, webhook_secret), query_batch_size, outbound)
    app.state.org = org

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = {"WWW-Authenticate": "Token"} if exc.status == 401 else None
        return json_response(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            error = ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed.")
        else:
            error = not_found()
        return json_response(error.body(), status_code=error.status)

    def session(request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or token not in org.sessions:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def api_version(version: str) -> str:
        if not _VERSION.match(version):
            raise not_found()
        return version

    @app.post("/services/oauth2/token")
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if not form.get("client_id"):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        secret = form.get("client_secret", "")
        if not secret or secret == "wrong":
            return _oauth_error("invalid_client", "invalid client credentials")
        access_token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        async with org.lock:
            org.sessions.add(access_token)
            org.sessions_issued += 1
        instance_url = str(request.base_url).rstrip("/")
        identity = f"{instance_url}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(time.time() * 1000))
        signature = hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        return json_response(
            {
                "access_token": access_token,
                "instance_url": instance_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": base64.b64encode(signature).decode(),
            }
        )

    data = "/services/data/{version}"

    @app.get(f"{data}/query", dependencies=[Depends(session)])
    async def query(version: str, q: str | None = None) -> Response:
        api_version(version)
        if not q:
            raise soql.malformed("Missing query parameter q")
        async with org.lock:
            spec, fields, matched = soql.execute(soql.parse(q), org.records)
            records = [_record_view(spec, record, version, fields) for record in matched]
            batch, cursor = org.page(records)
        return _query_response(version, batch, len(records), cursor)

    @app.get(f"{data}/query/{{cursor}}", dependencies=[Depends(session)])
    async def query_more(version: str, cursor: str) -> Response:
        api_version(version)
        async with org.lock:
            batch, next_cursor, total = org.next_page(cursor)
        return _query_response(version, batch, total, next_cursor)

    @app.post(f"{data}/sobjects/{{sobject}}", dependencies=[Depends(session)])
    async def create(version: str, sobject: str, request: Request) -> Response:
        api_version(version)
        spec = object_or_404(sobject)
        body = await _body(request)
        async with org.lock:
            record_id = org.create(spec, body)
        return json_response({"id": record_id, "success": True, "errors": []}, status_code=201)

    @app.get(f"{data}/sobjects/{{sobject}}/{{record_id}}", dependencies=[Depends(session)])
    async def read(version: str, sobject: str, record_id: str, fields: str | None = None) -> Response:
        api_version(version)
        spec = object_or_404(sobject)
        async with org.lock:
            record = org.get(spec, record_id)
        return json_response(_record_view(spec, record, version, _selected(spec, fields)))

    @app.patch(f"{data}/sobjects/{{sobject}}/{{record_id}}", dependencies=[Depends(session)])
    async def update(version: str, sobject: str, record_id: str, request: Request) -> Response:
        api_version(version)
        spec = object_or_404(sobject)
        body = await _body(request)
        async with org.lock:
            org.update(spec, record_id, body)
        return Response(status_code=204)

    @app.get(f"{data}/sobjects/{{sobject}}/{{field}}/{{value}}", dependencies=[Depends(session)])
    async def read_by_external_id(version: str, sobject: str, field: str, value: str) -> Response:
        api_version(version)
        spec = object_or_404(sobject)
        async with org.lock:
            record = org.find_external(spec, org.external_field(spec, field), value)
        if record is None:
            raise not_found()
        return json_response(_record_view(spec, record, version))

    @app.patch(f"{data}/sobjects/{{sobject}}/{{field}}/{{value}}", dependencies=[Depends(session)])
    async def upsert(version: str, sobject: str, field: str, value: str, request: Request) -> Response:
        api_version(version)
        spec = object_or_404(sobject)
        body = await _body(request)
        async with org.lock:
            record_id, created = org.upsert(spec, org.external_field(spec, field), value, body)
        return json_response(
            {"id": record_id, "success": True, "errors": [], "created": created}, status_code=201 if created else 200
        )

    @app.get("/_sandbox/state", include_in_schema=False)
    async def state() -> Response:
        async with org.lock:
            return json_response(org.dump())

    @app.post("/_sandbox/reset", include_in_schema=False)
    async def reset() -> dict[str, bool]:
        async with org.lock:
            org.reset()
        return {"reset": True}

    @app.post("/_sandbox/outbound", include_in_schema=False)
    async def outbound_message(config: OutboundConfig, request: Request) -> dict[str, str | None]:
        """Set up (or, with url null, remove) the closed-won Outbound Message action."""
        org.outbound.url = config.url
        org.outbound.instance_url = str(request.base_url).rstrip("/")
        return {"url": config.url}

    @app.post("/_sandbox/webhook", include_in_schema=False)
    async def webhook(config: WebhookConfig) -> dict[str, str | None]:
        org.sender.url, org.sender.secret = config.url, config.secret
        return {"url": config.url}

    return app


def _selected(spec: ObjectSpec, fields: str | None) -> list[str] | None:
    if fields is None:
        return None
    names = []
    for name in fields.split(","):
        field = spec.field(name.strip())
        if field is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity '{spec.name}'")
        names.append(field.name)
    return names


def _query_response(version: str, records: list[Record], total: int, cursor: str | None) -> Response:
    body: dict[str, Any] = {"totalSize": total, "done": cursor is None}
    if cursor is not None:
        body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}"
    body["records"] = records
    return json_response(body)
