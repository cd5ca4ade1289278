"""Xero emulator: identity's client-credentials token (custom connections), `GET /connections`, and the Accounting
API 2.0 under `/api.xro/2.0` for Contacts, Invoices (ACCREC), Payments (on an invoice, or on a credit note: a refund
out of its remaining credit), CreditNotes with Allocations, ManualJournals (journals.py: PUT creates, POST creates
or changes) and Accounts; one organisation per `xero-tenant-id`.

Answers are Xero's envelope (`Id`, `Status`, `ProviderName`, `DateTimeUTC`, then the records under their plural
name), dates in `/Date(ms+0000)/`, amounts as exact JSON numbers. PUT creates; POST /Contacts creates or updates by
ContactID. `Idempotency-Key` on a write replays the first answer for the same key. Lists filter by `where`
(`Field=="v"`, `Field.StartsWith("v")`, joined by AND) and `If-Modified-Since`, paged by `page` / `pageSize`.
Refusals: 400 ValidationException with `Elements[].ValidationErrors[]`, 400 QueryParseException, 404 in plain text,
401 / 403 problem bodies, 429 with `Retry-After` and `X-Rate-Limit-Problem` past the configured per-minute or daily
limit. Admin: `GET /_sandbox/state`, `POST /_sandbox/reset`, `POST /_sandbox/lock {"tenant", "before"}` (period lock
date: documents dated on or before it are refused), `POST /_sandbox/tokens/revoke`, `POST /_sandbox/reset_idempotency`
(Xero forgot every key), `POST /_sandbox/limits {"minute", "day"}` (calls per tenant; null: unlimited).
"""

from __future__ import annotations

import base64
import copy
import time
import uuid
from collections import Counter
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from sandbox.faults import install_faults
from sandbox.netsuite import decimal_json
from sandbox.xero.journals import create_journal, save_journal
from sandbox.xero.query import QueryError, matcher, ms_date, parse_since
from sandbox.xero.state import ACCOUNT_IDS, ACCOUNTS, DEFAULT_TENANTS, Organisation, Record, Refused, now

API = "/api.xro/2.0"
CLIENT_ID = "c2c-xero-client"
CLIENT_SECRET = "c2c-xero-secret"
COLLECTIONS = {
    "Contacts": ("ContactID", "contacts"),
    "Invoices": ("InvoiceID", "invoices"),
    "CreditNotes": ("CreditNoteID", "credit_notes"),
    "Payments": ("PaymentID", "payments"),
    "ManualJournals": ("ManualJournalID", "journals"),
}
NOT_FOUND = "The resource you're looking for cannot be found"


class Lock(BaseModel):
    tenant: str
    before: date | None


class Limits(BaseModel):
    minute: int | None = None
    day: int | None = None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(decimal_json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _problem(status: int, title: str, detail: str) -> Response:
    return _json({"Type": None, "Title": title, "Status": status, "Detail": detail}, status)


def _envelope(key: str, records: list[Record]) -> Record:
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "c2c sandbox",
        "DateTimeUTC": ms_date(now()),
        key: records,
    }


def _exception(kind: str, number: int, message: str, elements: list[Record] | None = None) -> Response:
    body: Record = {"ErrorNumber": number, "Type": kind, "Message": message}
    if elements is not None:
        body["Elements"] = elements
    return _json(body, 400)


def create_app(
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    tenants: dict[str, Record] | None = None,
    token_ttl: float = 1800.0,
) -> FastAPI:
    app = FastAPI(title="Xero emulator")
    install_faults(app)
    setup = copy.deepcopy(tenants or DEFAULT_TENANTS)
    orgs: dict[str, Organisation] = {}
    tokens: dict[str, float] = {}
    replays: dict[tuple[str, str], tuple[int, bytes]] = {}
    limits = Limits()
    calls: Counter[tuple[str, str]] = Counter()

    def reset() -> None:
        orgs.clear()
        for tenant_id, org in setup.items():
            orgs[tenant_id] = Organisation(tenant_id, org["name"], org["base_currency"])
        replays.clear()
        calls.clear()

    reset()

    @app.post("/_sandbox/reset")
    async def sandbox_reset() -> Record:
        reset()
        tokens.clear()
        return {"ok": True}

    @app.get("/_sandbox/state")
    async def sandbox_state() -> Response:
        body = {
            tenant: {name: list(getattr(org, attr).values()) for name, (_, attr) in COLLECTIONS.items()}
            for tenant, org in orgs.items()
        }
        return _json(body)

    @app.post("/_sandbox/lock")
    async def sandbox_lock(lock: Lock) -> Record:
        orgs[lock.tenant].lock_date = lock.before
        return {"ok": True}

    @app.post("/_sandbox/tokens/revoke")
    async def sandbox_revoke() -> Record:
        tokens.clear()
        return {"ok": True}

    @app.post("/_sandbox/reset_idempotency")
    async def sandbox_forget() -> Record:
        replays.clear()
        return {"ok": True}

    @app.post("/_sandbox/limits")
    async def sandbox_limits(new: Limits) -> Record:
        limits.minute, limits.day = new.minute, new.day
        calls.clear()
        return new.model_dump()

    @app.post("/connect/token")
    async def token(request: Request) -> Response:
        form = {key: values[-1] for key, values in parse_qs((await request.body()).decode("latin-1")).items()}
        given_id, given_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                given_id, _, given_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                given_id = None
        if form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        if given_id != client_id or given_secret != client_secret:
            return _json({"error": "invalid_client"}, 400)
        access = uuid.uuid4().hex + uuid.uuid4().hex
        tokens[access] = time.monotonic() + token_ttl
        scope = form.get("scope") or "accounting.transactions accounting.contacts"
        return _json({"access_token": access, "expires_in": int(token_ttl), "token_type": "Bearer", "scope": scope})

    def authorised(request: Request) -> Response | Organisation:
        header = request.headers.get("Authorization", "")
        token_value = header[7:] if header.startswith("Bearer ") else ""
        if tokens.get(token_value, 0.0) <= time.monotonic():
            return _problem(401, "Unauthorized", "TokenExpired: token expired or not valid")
        org = orgs.get(request.headers.get("xero-tenant-id", ""))
        if org is None:
            return _problem(403, "Forbidden", "AuthenticationUnsuccessful: the tenant is not connected")
        return org

    def limited(tenant: str) -> Response | None:
        minute = f"m{int(time.time() // 60)}"
        calls[(tenant, minute)] += 1
        calls[(tenant, "day")] += 1
        for problem, limit, key in (("minute", limits.minute, minute), ("day", limits.day, "day")):
            if limit is not None and calls[(tenant, key)] > limit:
                retry = 60 - int(time.time() % 60) if problem == "minute" else 3600
                headers = {"Retry-After": str(retry), "X-Rate-Limit-Problem": problem}
                return _json(
                    {"Title": "Too Many Requests", "Status": 429, "Detail": "Rate limit exceeded"}, 429, headers
                )
        return None

    @app.get("/connections")
    async def connections(request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        if tokens.get(header[7:], 0.0) <= time.monotonic():
            return _problem(401, "Unauthorized", "TokenExpired: token expired or not valid")
        listed = [
            {"id": tenant, "tenantId": tenant, "tenantType": "ORGANISATION", "tenantName": org.name}
            for tenant, org in orgs.items()
        ]
        return _json(listed)

    @app.get(f"{API}/Accounts")
    async def accounts(request: Request) -> Response:
        org = authorised(request)
        if isinstance(org, Response):
            return org
        rows = [
            {"AccountID": ACCOUNT_IDS[code], "Code": code, "Name": name, "Type": kind, "Status": "ACTIVE",
             "EnablePaymentsToAccount": payments, **({"SystemAccount": system} if system else {})}
            for code, (name, kind, system, payments) in ACCOUNTS.items()
        ]  # fmt: skip
        return _json(_envelope("Accounts", rows))

    @app.get(API + "/{collection}")
    async def list_records(collection: str, request: Request) -> Response:
        org = authorised(request)
        if isinstance(org, Response):
            return org
        if collection not in COLLECTIONS:
            return PlainTextResponse(NOT_FOUND, 404)
        busy = limited(org.tenant_id)
        if busy:
            return busy
        try:
            keep = matcher(request.query_params.get("where"))
        except QueryError as exc:
            return _exception("QueryParseException", 16, str(exc))
        since = parse_since(request.headers.get("If-Modified-Since"))
        rows = [r for r in getattr(org, COLLECTIONS[collection][1]).values() if keep(r)]
        if since is not None:
            rows = [r for r in rows if _updated(r) >= since.timestamp() * 1000]
        page = max(1, int(request.query_params.get("page", "1") or 1))
        size = min(1000, max(1, int(request.query_params.get("pageSize", "100") or 100)))
        if "page" not in request.query_params:
            return _json(_envelope(collection, rows))
        # A paged answer says where it is, as Xero's does (`pagination`).
        pagination = {"page": page, "pageSize": size, "pageCount": -(-len(rows) // size), "itemCount": len(rows)}
        body = {**_envelope(collection, []), "pagination": pagination}
        body[collection] = rows[(page - 1) * size : page * size]
        return _json(body)

    @app.get(API + "/{collection}/{record_id}")
    async def get_record(collection: str, record_id: str, request: Request) -> Response:
        org = authorised(request)
        if isinstance(org, Response):
            return org
        if collection not in COLLECTIONS:
            return PlainTextResponse(NOT_FOUND, 404)
        busy = limited(org.tenant_id)
        if busy:
            return busy
        book = getattr(org, COLLECTIONS[collection][1])
        record = book.get(record_id)
        if record is None and collection == "Invoices":  # Xero takes an invoice number in place of the id
            record = next((r for r in book.values() if r.get("InvoiceNumber") == record_id), None)
        if record is None:
            return PlainTextResponse(NOT_FOUND, 404)
        return _json(_envelope(collection, [record]))

    async def write(request: Request, key: str, apply: Any) -> Response:
        """Authorise, rate-limit, replay a known Idempotency-Key, else apply each record (all or nothing)."""
        org = authorised(request)
        if isinstance(org, Response):
            return org
        busy = limited(org.tenant_id)
        if busy:
            return busy
        idem = request.headers.get("Idempotency-Key")
        if idem and len(idem) > 128:
            return _exception("ValidationException", 10, "Idempotency-Key is longer than 128 characters", [])
        if idem and (org.tenant_id, idem) in replays:
            status, content = replays[(org.tenant_id, idem)]
            return Response(content, status_code=status, media_type="application/json")
        try:
            body = decimal_json.loads(await request.body())
        except ValueError:
            return _exception("PostDataInvalidException", 17, "The request body is not valid JSON")
        items = body.get(key) if isinstance(body, dict) else None
        if isinstance(body, dict) and items is None and key != "Allocations":
            items = [body]  # Xero takes a single record without the plural wrapper too
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return _exception("PostDataInvalidException", 17, f"{key} must be a list of objects")
        snapshot = copy.deepcopy(org.__dict__)
        try:
            saved = [apply(org, item) for item in items]
        except Refused as refused:
            org.__dict__.update(snapshot)  # nothing changes on a refusal
            element = {**refused.record, "ValidationErrors": [{"Message": m} for m in refused.messages]}
            return _exception("ValidationException", 10, "A validation exception occurred", [element])
        response = _json(_envelope(key, saved))
        if idem:
            replays[(org.tenant_id, idem)] = (response.status_code, bytes(response.body))
        return response

    @app.put(f"{API}/Contacts")
    async def create_contacts(request: Request) -> Response:
        return await write(request, "Contacts", lambda org, item: org.save_contact(item, update_allowed=False))

    @app.post(f"{API}/Contacts")
    async def save_contacts(request: Request) -> Response:
        return await write(request, "Contacts", lambda org, item: org.save_contact(item, update_allowed=True))

    @app.put(f"{API}/Invoices")
    async def create_invoices(request: Request) -> Response:
        return await write(request, "Invoices", Organisation.create_invoice)

    @app.put(f"{API}/CreditNotes")
    async def create_credit_notes(request: Request) -> Response:
        return await write(request, "CreditNotes", Organisation.create_credit_note)

    @app.put(API + "/CreditNotes/{credit_note_id}/Allocations")
    async def allocate(credit_note_id: str, request: Request) -> Response:
        org = authorised(request)
        if not isinstance(org, Response) and credit_note_id not in org.credit_notes:
            return PlainTextResponse(NOT_FOUND, 404)
        return await write(request, "Allocations", lambda o, item: o.allocate(credit_note_id, item))

    @app.put(f"{API}/Payments")
    async def create_payments(request: Request) -> Response:
        return await write(request, "Payments", Organisation.create_payment)

    @app.put(f"{API}/ManualJournals")
    async def create_journals(request: Request) -> Response:
        return await write(request, "ManualJournals", create_journal)

    @app.post(f"{API}/ManualJournals")
    async def save_journals(request: Request) -> Response:
        return await write(request, "ManualJournals", save_journal)

    @app.post(API + "/ManualJournals/{journal_id}")
    async def save_journal_by_id(journal_id: str, request: Request) -> Response:
        return await write(
            request, "ManualJournals", lambda org, item: save_journal(org, {**item, "ManualJournalID": journal_id})
        )

    return app


def _updated(record: Record) -> int:
    text = str(record.get("UpdatedDateUTC", "/Date(0+0000)/"))
    return int(text[6:].split("+")[0].split(")")[0])
