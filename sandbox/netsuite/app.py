"""NetSuite emulator: OAuth 2.0 client-credentials token + SuiteTalk REST record API v1.

Writes answer 204 with a `Location` header naming the record; `PUT /record/v1/{type}/eid:{externalId}`
is an upsert (the same internal id on every repeat). Updating a customer adds its address and tax
registration lines to the existing ones unless `?replace=addressBook,taxRegistration` names them.
Errors are RFC 9457 bodies with `o:errorDetails`. SuiteQL: `POST /services/rest/query/v1/suiteql` (suiteql.py).
The token endpoint takes NetSuite's client credentials (M2M) grant: a JWT client assertion signed with the private
key of a certificate mapped to the integration (sandbox/netsuite/auth.py); it answers a 60-minute token.
Admin: `GET /_sandbox/state`, `POST /_sandbox/reset` (records and tokens; certificates stay, like the account's
setup), `POST /_sandbox/periods/close {"before": date}` (transactions dated before it are refused),
`POST /_sandbox/tokens/revoke` (every issued token expires), `POST /_sandbox/certificates {"client_id",
"certificate": PEM}` (NetSuite's OAuth 2.0 Client Credentials Setup: map a certificate; answers its `certificateId`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sandbox.faults import install_faults
from sandbox.netsuite import decimal_json, query, suiteql
from sandbox.netsuite.auth import AssertionRefused, load_certificate, verify_assertion
from sandbox.netsuite.records import BUILDERS as RECORD_BUILDERS
from sandbox.netsuite.records import ensure_editable, merge_input
from sandbox.netsuite.refunds import build_customer_refund
from sandbox.netsuite.state import (
    REFERENCE_TYPES,
    WRITABLE_TYPES,
    Account,
    NetSuiteError,
    Record,
    not_found,
    user_error,
)

RECORD_PATH = "/services/rest/record/v1"
QUERY_PATH = "/services/rest/query/v1"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
ERROR_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=error"
RECORD_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=singular-resource"
COLLECTION_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=collection"
MAX_PAGE = 1000
# Body fields every listed record type can be filtered on, whether or not a record of the type exists yet.
FILTERABLE = {
    "id",
    "externalId",
    "createdDate",
    "lastModifiedDate",
    "tranDate",
    "tranId",
    "status",
    "entity",
    "subsidiary",
}
_PROBLEM_TYPES = {
    400: ("Bad Request", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"),
    401: ("Unauthorized", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2"),
    403: ("Forbidden", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4"),
    404: ("Not Found", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5"),
    405: ("Method Not Allowed", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6"),
}
INVALID_LOGIN = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)

# customerRefund lives in its own module (it builds on the records' helpers).
BUILDERS = {**RECORD_BUILDERS, "customerRefund": build_customer_refund}


class PeriodClose(BaseModel):
    before: date


class CertificateMapping(BaseModel):
    client_id: str
    certificate: str


def error_response(error: NetSuiteError) -> Response:
    """The NetSuite REST error body for a refusal."""
    title, type_url = _PROBLEM_TYPES.get(error.status, ("Error", "about:blank"))
    detail: Record = {"detail": error.detail, "o:errorCode": error.code}
    if error.path:
        detail["o:errorPath"] = error.path
    body = {"type": type_url, "title": title, "status": error.status, "o:errorDetails": [detail]}
    return Response(decimal_json.dumps(body), status_code=error.status, media_type=ERROR_MEDIA_TYPE)


def _record_url(request: Request, record_type: str, internal_id: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{RECORD_PATH}/{record_type}/{internal_id}"


def _render(request: Request, record_type: str, record: Record) -> Response:
    body = copy.deepcopy(record)
    body["links"] = [{"rel": "self", "href": _record_url(request, record_type, record["id"])}]
    return Response(decimal_json.dumps(body), media_type=RECORD_MEDIA_TYPE)


def _collection(request: Request, record_type: str, ids: list[str], limit: int, offset: int) -> Response:
    """One page of a record collection: HATEOAS links per record id, `hasMore` and a `next` link."""
    page = ids[offset : offset + limit]
    has_more = offset + limit < len(ids)

    def link(at: int) -> str:
        return str(request.url.include_query_params(limit=limit, offset=at))

    links = [{"rel": "self", "href": link(offset)}]
    if has_more:
        links.append({"rel": "next", "href": link(offset + limit)})
    body = {
        "links": links,
        "count": len(page),
        "hasMore": has_more,
        "items": [
            {"links": [{"rel": "self", "href": _record_url(request, record_type, internal_id)}], "id": internal_id}
            for internal_id in page
        ],
        "offset": offset,
        "totalResults": len(ids),
    }
    return Response(decimal_json.dumps(body), media_type=COLLECTION_MEDIA_TYPE)


def _query_page(request: Request, rows: list[dict[str, str]], limit: int, offset: int) -> Response:
    """One page of SuiteQL results: `items` (each with empty `links`), `count`, `hasMore`, `offset`,
    `totalResults` and `links` (first, prev, next, last, self)."""
    page = rows[offset : offset + limit]
    has_more = offset + limit < len(rows)

    def link(rel: str, at: int) -> dict[str, str]:
        return {"rel": rel, "href": str(request.url.include_query_params(limit=limit, offset=at))}

    last = max(0, (len(rows) - 1) // limit * limit)
    links = [link("first", 0)]
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    if has_more:
        links.append(link("next", offset + limit))
    links += [link("last", last), link("self", offset)]
    body = {
        "links": links,
        "count": len(page),
        "hasMore": has_more,
        "items": [{"links": [], **row} for row in page],
        "offset": offset,
        "totalResults": len(rows),
    }
    return Response(decimal_json.dumps(body), media_type=COLLECTION_MEDIA_TYPE)


def _replaced(request: Request) -> set[str]:
    """Sublists the `replace` query parameter names: their lines replace the record's instead of adding."""
    return {name.strip() for name in request.query_params.get("replace", "").split(",") if name.strip()}


async def _json_object(request: Request) -> Record:
    try:
        body = decimal_json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise NetSuiteError(
            400, "INVALID_CONTENT", "The request could not be understood by the server due to malformed syntax."
        )
    return body


def create_app(token_ttl: float = 3600.0, certificates: Iterable[tuple[str, str]] = ()) -> FastAPI:
    """The emulator app; `token_ttl` is the access-token lifetime in seconds, `certificates` (client id, PEM
    certificate) are mapped from the start."""
    app = FastAPI(title="NetSuite emulator")
    install_faults(app)
    account = Account(token_ttl=token_ttl)
    for client_id, pem in certificates:
        mapped = load_certificate(client_id, pem)
        account.certificates[mapped.certificate_id] = mapped
    app.state.account = account

    @app.exception_handler(NetSuiteError)
    async def _refused(request: Request, error: NetSuiteError) -> Response:
        return error_response(error)

    @app.middleware("http")
    async def _authenticate(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith((RECORD_PATH, QUERY_PATH)):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not account.token_valid(token.strip()):
                return error_response(NetSuiteError(401, "INVALID_LOGIN", INVALID_LOGIN))
        response: Response = await call_next(request)
        return response

    @app.post(TOKEN_PATH)
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        token_url = f"{str(request.base_url).rstrip('/')}{TOKEN_PATH}"
        try:
            verify_assertion(form, account.certificates, token_url)
        except AssertionRefused as refused:
            account.refused_assertions.append(refused.description)
            return JSONResponse({"error": refused.error}, status_code=400)
        # NetSuite documents expires_in as the string "3600".
        return JSONResponse(
            {"access_token": account.issue_token(), "token_type": "Bearer", "expires_in": str(int(account.token_ttl))}
        )

    def _writable(record_type: str) -> None:
        if record_type in REFERENCE_TYPES:
            raise NetSuiteError(405, "INVALID_CONTENT", f"Record type '{record_type}' is read-only here.")
        if record_type not in WRITABLE_TYPES:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"Record type '{record_type}' does not exist.")

    async def _save(request: Request, record_type: str, internal_id: str | None, given: Record) -> Response:
        """Validate the merged record and commit it; answer 204 with the record's Location."""
        if internal_id is None:
            internal_id = account.allocate_id()
        else:
            ensure_editable(account, record_type, internal_id)
        record = BUILDERS[record_type](account, given, internal_id)
        account.commit(record_type, internal_id, given, record)
        return Response(status_code=204, headers={"Location": _record_url(request, record_type, internal_id)})

    @app.post(RECORD_PATH + "/{record_type}")
    async def create(record_type: str, request: Request) -> Response:
        _writable(record_type)
        body = await _json_object(request)
        async with account.lock:
            external_id = body.get("externalId")
            if external_id is not None and (record_type, str(external_id)) in account.by_external_id:
                raise user_error(f"A {record_type} record with external ID {external_id} already exists.")
            return await _save(request, record_type, None, body)

    @app.put(RECORD_PATH + "/{record_type}/{key}")
    async def upsert(record_type: str, key: str, request: Request) -> Response:
        _writable(record_type)
        if not key.startswith("eid:") or len(key) == 4:
            raise NetSuiteError(
                405, "INVALID_CONTENT", "PUT is supported only as an upsert by external ID (eid:<externalId>)."
            )
        body = await _json_object(request)
        external_id = key[4:]
        async with account.lock:
            internal_id = account.by_external_id.get((record_type, external_id))
            earlier = account.inputs[record_type][internal_id] if internal_id else {}
            merged = merge_input(record_type, earlier, body, _replaced(request))
            return await _save(request, record_type, internal_id, {**merged, "externalId": external_id})

    @app.patch(RECORD_PATH + "/{record_type}/{key}")
    async def update(record_type: str, key: str, request: Request) -> Response:
        _writable(record_type)
        body = await _json_object(request)
        async with account.lock:
            record = account.find(record_type, key)
            if record is None:
                raise not_found(record_type, key)
            merged = merge_input(record_type, account.inputs[record_type][record["id"]], body, _replaced(request))
            if record.get("externalId") and "externalId" not in body:
                merged["externalId"] = record["externalId"]
            return await _save(request, record_type, record["id"], merged)

    @app.get(RECORD_PATH + "/{record_type}")
    async def list_records(
        record_type: str, request: Request, q: str | None = None, limit: int = MAX_PAGE, offset: int = 0
    ) -> Response:
        """Record ids of a type in internal-id order, filtered by `q`, `limit` per page (at most 1000)."""
        if record_type not in WRITABLE_TYPES:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"Record type '{record_type}' does not exist.")
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise NetSuiteError(400, "INVALID_PARAMETER", f"limit must be 1-{MAX_PAGE} and offset not negative.")
        records = sorted(account.records[record_type].values(), key=lambda record: int(record["id"]))
        if q:
            fields = FILTERABLE.union(*(record.keys() for record in records))
            accepted = query.parse(q, fields)
            records = [record for record in records if accepted(record)]
        return _collection(request, record_type, [r["id"] for r in records], limit, offset)

    @app.get(RECORD_PATH + "/{record_type}/{key}")
    async def read(record_type: str, key: str, request: Request) -> Response:
        if record_type in REFERENCE_TYPES:
            reference = REFERENCE_TYPES[record_type].get(key)
            if reference is None:
                raise not_found(record_type, key)
            return _render(request, record_type, reference)
        if record_type not in WRITABLE_TYPES:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"Record type '{record_type}' does not exist.")
        record = account.find(record_type, key)
        if record is None:
            raise not_found(record_type, key)
        return _render(request, record_type, record)

    @app.post(QUERY_PATH + "/suiteql")
    async def suiteql_query(request: Request, limit: int = MAX_PAGE, offset: int = 0) -> Response:
        """SuiteQL (sandbox/netsuite/suiteql.py): `{"q": "SELECT ..."}` with `Prefer: transient`, paged by
        `limit` (at most 1000) and `offset`."""
        if "transient" not in request.headers.get("Prefer", "").lower():
            raise NetSuiteError(400, "INVALID_PARAMETER", "SuiteQL requests need the header 'Prefer: transient'.")
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise NetSuiteError(400, "INVALID_PARAMETER", f"limit must be 1-{MAX_PAGE} and offset not negative.")
        body = await _json_object(request)
        if not isinstance(body.get("q"), str) or not body["q"].strip():
            raise NetSuiteError(400, "INVALID_PARAMETER", "The request body needs the query as a string 'q'.")
        async with account.lock:
            rows = suiteql.run(account, body["q"])
        return _query_page(request, rows, limit, offset)

    @app.get("/_sandbox/state", include_in_schema=False)
    async def state() -> Response:
        return Response(decimal_json.dumps(account.snapshot()), media_type="application/json")

    @app.post("/_sandbox/reset", include_in_schema=False)
    async def reset() -> dict[str, bool]:
        async with account.lock:
            account.reset()
        return {"reset": True}

    @app.post("/_sandbox/periods/close", include_in_schema=False)
    async def close_periods(close: PeriodClose) -> dict[str, str]:
        async with account.lock:
            account.closed_before = max(account.closed_before, close.before)
        return {"closedBefore": account.closed_before.isoformat()}

    @app.post("/_sandbox/certificates", include_in_schema=False)
    async def map_certificate(mapping: CertificateMapping) -> dict[str, str]:
        try:
            mapped = load_certificate(mapping.client_id, mapping.certificate)
        except ValueError as exc:
            raise NetSuiteError(400, "INVALID_CONTENT", f"certificate is not a PEM X.509 certificate: {exc}") from None
        account.certificates[mapped.certificate_id] = mapped
        return {"certificateId": mapped.certificate_id, "clientId": mapped.client_id}

    @app.post("/_sandbox/tokens/revoke", include_in_schema=False)
    async def revoke_tokens() -> dict[str, int]:
        revoked = len(account.tokens)
        account.tokens.clear()
        return {"revoked": revoked}

    return app
