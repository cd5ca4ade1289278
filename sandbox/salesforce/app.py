"""The Salesforce REST emulator app: `create_app(webhook_url=..., webhook_secret=...)`.

Admin endpoints (not Salesforce): `GET /_sandbox/state`, `POST /_sandbox/reset` (empties the org and
revokes sessions), `POST /_sandbox/webhook {"url", "secret"}` (re-point the closed-won callout),
`POST /_sandbox/outbound {"url"}` (set up the closed-won Outbound Message, sandbox/salesforce/outbound.py),
`POST /_sandbox/sessions {"timeout_seconds"}` (the org's session timeout, none by default),
`POST /_sandbox/sessions/expire` (every session issued so far times out now).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.faults import install_faults
from sandbox.salesforce import composite, describe
from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.jsonwire import json_response, loads
from sandbox.salesforce.outbound import OutboundMessenger
from sandbox.salesforce.state import Org, object_or_404
from sandbox.salesforce.views import query_body, record_view, run_query, selected
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


class SessionConfig(BaseModel):
    timeout_seconds: float | None  # the org's session timeout for sessions issued from now on; None: never


def _oauth_error(error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status_code=400)


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
        if scheme.lower() not in ("bearer", "oauth") or not org.session_valid(token):
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
        # The client authenticates in the form (client_secret_post) or with HTTP Basic (client_secret_basic, what
        # simple-salesforce sends); Salesforce takes either.
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
            except ValueError:
                return _oauth_error("invalid_client", "invalid client credentials")
            form["client_id"], form["client_secret"] = unquote(client_id), unquote(client_secret)
        if not form.get("client_id"):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        secret = form.get("client_secret", "")
        if not secret or secret == "wrong":
            return _oauth_error("invalid_client", "invalid client credentials")
        access_token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        async with org.lock:
            org.open_session(access_token)
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
        async with org.lock:
            return json_response(run_query(org, version, q))

    @app.get(f"{data}/query/{{cursor}}", dependencies=[Depends(session)])
    async def query_more(version: str, cursor: str) -> Response:
        api_version(version)
        async with org.lock:
            batch, next_cursor, total = org.next_page(cursor)
        return json_response(query_body(version, batch, total, next_cursor))

    @app.get(f"{data}/sobjects", dependencies=[Depends(session)])
    async def global_describe(version: str) -> Response:
        return json_response(describe.describe_global(api_version(version)))

    @app.get(f"{data}/sobjects/{{sobject}}/describe", dependencies=[Depends(session)])
    async def describe_sobject(version: str, sobject: str) -> Response:
        return json_response(describe.describe_object(object_or_404(sobject), api_version(version)))

    @app.get(f"{data}/sobjects/{{sobject}}", dependencies=[Depends(session)])
    @app.get(f"{data}/sobjects/{{sobject}}/", dependencies=[Depends(session)])
    async def sobject_info(version: str, sobject: str) -> Response:
        return json_response(describe.object_info(object_or_404(sobject), api_version(version)))

    @app.post(f"{data}/composite/sobjects", dependencies=[Depends(session)])
    async def collection_create(version: str, request: Request) -> Response:
        api_version(version)
        body = await _body(request)
        async with org.lock:
            return json_response(composite.create_collection(org, body))

    @app.patch(f"{data}/composite/sobjects", dependencies=[Depends(session)])
    async def collection_update(version: str, request: Request) -> Response:
        api_version(version)
        body = await _body(request)
        async with org.lock:
            return json_response(composite.update_collection(org, body))

    @app.get(f"{data}/composite/sobjects/{{sobject}}", dependencies=[Depends(session)])
    async def collection_read(
        version: str, sobject: str, ids: str | None = None, fields: str | None = None
    ) -> Response:
        api_version(version)
        async with org.lock:
            return json_response(composite.read_collection(org, version, sobject, ids, fields))

    @app.post(f"{data}/composite", dependencies=[Depends(session)])
    async def composite_request(version: str, request: Request) -> Response:
        api_version(version)
        body = await _body(request)
        async with org.lock:
            return json_response(composite.composite(org, body))

    # simple-salesforce posts to `.../sobjects/Account/`; Salesforce takes the trailing slash too.
    @app.post(f"{data}/sobjects/{{sobject}}", dependencies=[Depends(session)])
    @app.post(f"{data}/sobjects/{{sobject}}/", dependencies=[Depends(session)])
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
        return json_response(record_view(spec, record, version, selected(spec, fields)))

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
        return json_response(record_view(spec, record, version))

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

    @app.post("/_sandbox/sessions", include_in_schema=False)
    async def session_timeout(config: SessionConfig) -> dict[str, float | None]:
        """Set the org's session timeout (sessions issued later time out that long after their login)."""
        org.session_seconds = config.timeout_seconds
        return {"timeout_seconds": config.timeout_seconds}

    @app.post("/_sandbox/sessions/expire", include_in_schema=False)
    async def expire_sessions() -> dict[str, int]:
        """Every session issued so far times out now (a client must log in again)."""
        expired = len(org.sessions)
        org.sessions = dict.fromkeys(org.sessions, 0.0)
        return {"expired": expired}

    @app.post("/_sandbox/webhook", include_in_schema=False)
    async def webhook(config: WebhookConfig) -> dict[str, str | None]:
        org.sender.url, org.sender.secret = config.url, config.secret
        return {"url": config.url}

    return app
