"""NetSuite as the ERP: every write is an upsert by external id (`PUT .../eid:{id}`), our idempotency."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from canonical import Customer, Invoice, JournalEntry, LegalEntity, Payment
from connectors.errors import ConnectorError, PermanentError
from connectors.kit import Classifier, client_credentials_token, encode_json, json_body, send
from connectors.netsuite import mapping
from connectors.netsuite.errors import SYSTEM, classify
from connectors.netsuite.wire import TokenResponse

RECORD_PATH = "/services/rest/record/v1"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
# Refresh a little before expiry so a token never dies between being read and being checked.
TOKEN_MARGIN_SECONDS = 60.0


def internal_id_from_location(response: httpx.Response) -> str:
    """The internal id NetSuite names in the `Location` header of a 204 write answer."""
    location = response.headers.get("Location", "")
    internal_id = urlsplit(location).path.rstrip("/").rpartition("/")[2]
    if not internal_id.isdigit():
        raise PermanentError(SYSTEM, "bad_response", f"write answered without a record Location ({location!r})")
    return internal_id


def _not_found_is_none(response: httpx.Response) -> ConnectorError | None:
    """Classification for lookups, where a 404 is an answer rather than an error."""
    return None if response.status_code == 404 else classify(response)


def customer_external_id(golden_id: str, entity_code: str) -> str:
    return f"{golden_id}-{entity_code}"


class NetSuiteErp:
    """The `Erp` role over SuiteTalk REST with OAuth 2.0 client credentials."""

    system = SYSTEM

    def __init__(self, http: httpx.AsyncClient, base_url: str, client_id: str, client_secret: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def upsert_customer(self, customer: Customer, entity: LegalEntity, currency: str) -> str:
        if not customer.golden_id:
            raise PermanentError(SYSTEM, "missing_golden_id", "customer has no golden id to upsert by")
        # One ERP customer per golden customer *and subsidiary*: NetSuite will not move a customer with
        # transactions to another subsidiary, and a golden customer may buy from several of our entities.
        external_id = customer_external_id(customer.golden_id, entity.code)
        return await self._upsert("customer", external_id, mapping.customer_body(customer, entity, currency))

    async def post_invoice(self, invoice: Invoice, customer_erp_id: str) -> str:
        external_id = mapping.billing_id(invoice.external_refs, "invoice")
        return await self._upsert("invoice", external_id, mapping.invoice_body(invoice, customer_erp_id))

    async def apply_payment(self, payment: Payment, customer_erp_id: str, invoice_erp_id: str) -> str:
        """Book the gross payment against the invoice; a fee is the caller's `post_journal_entry`."""
        external_id = mapping.billing_id(payment.external_refs, "payment")
        body = mapping.payment_body(payment, customer_erp_id, invoice_erp_id)
        return await self._upsert("customerPayment", external_id, body)

    async def post_journal_entry(self, entry: JournalEntry) -> str:
        return await self._upsert("journalEntry", entry.external_id, mapping.journal_entry_body(entry))

    async def post_credit_memo(self, invoice: Invoice, invoice_erp_id: str, customer_erp_id: str) -> str:
        external_id = "cm-" + mapping.billing_id(invoice.external_refs, "invoice")
        body = mapping.credit_memo_body(invoice, invoice_erp_id, customer_erp_id)
        return await self._upsert("creditMemo", external_id, body)

    async def get_record(self, record_type: str, internal_id: str) -> dict[str, Any]:
        """A record by internal id (amounts as Decimal); an unknown id raises PermanentError."""
        response = await self._request("GET", f"{record_type}/{quote(internal_id, safe='')}")
        record: dict[str, Any] = json_body(SYSTEM, response)
        return record

    async def get_by_external_id(self, record_type: str, external_id: str) -> dict[str, Any] | None:
        """A record by external id, or None when there is none."""
        response = await self._request(
            "GET", f"{record_type}/eid:{quote(external_id, safe='')}", classifier=_not_found_is_none
        )
        if response.status_code == 404:
            return None
        record: dict[str, Any] = json_body(SYSTEM, response)
        return record

    async def _upsert(self, record_type: str, external_id: str, body: Any) -> str:
        response = await self._request("PUT", f"{record_type}/eid:{quote(external_id, safe='')}", body=body)
        return internal_id_from_location(response)

    async def _request(
        self, method: str, path: str, *, body: Any = None, classifier: Classifier = classify
    ) -> httpx.Response:
        """Send with the bearer token; on a 401 fetch a new token once and send again."""
        token = await self._access_token()
        try:
            return await send(self._http, SYSTEM, self._build(method, path, body, token), classifier)
        except PermanentError as error:
            if error.status != 401:
                raise
        # A 401 is answered before the record is touched, so sending a write again is safe.
        await self._drop_token(token)
        token = await self._access_token()
        return await send(self._http, SYSTEM, self._build(method, path, body, token), classifier)

    def _build(self, method: str, path: str, body: Any, token: str) -> httpx.Request:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = encode_json(body)
        return self._http.build_request(
            method, f"{self._base_url}{RECORD_PATH}/{path}", content=content, headers=headers
        )

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires:
                self._token, lifetime = await self._fetch_token()
                self._token_expires = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
            return self._token

    async def _drop_token(self, token: str) -> None:
        async with self._token_lock:
            # Another request may already have replaced the rejected token.
            if self._token == token:
                self._token = None

    async def _fetch_token(self) -> tuple[str, float]:
        url = f"{self._base_url}{TOKEN_PATH}"
        response = await client_credentials_token(
            self._http, SYSTEM, url, self._client_id, self._client_secret, classify
        )
        token: TokenResponse = response
        if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
            raise PermanentError(SYSTEM, "bad_response", "token endpoint answered without an access_token")
        return token["access_token"], float(token.get("expires_in", 3600))
