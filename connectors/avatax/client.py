"""AvaTax REST v2 adapter satisfying `connectors.roles.TaxEngine`."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError

from canonical import TaxQuote, TaxRequest
from canonical.records import TaxDocument
from connectors.avatax.errors import SYSTEM, classify
from connectors.avatax.mapping import DOCUMENT_TYPE, tax_document, to_quote, to_transaction
from connectors.avatax.wire import CreateOrAdjustTransactionModel, TransactionModel, TransactionPage
from connectors.errors import PermanentError
from connectors.kit import encode_json, json_body, send

Model = TypeVar("Model", bound=BaseModel)

# Void answers meaning there is nothing (left) to void: compensation may run for a quote that never
# reached AvaTax, or again after a void whose answer was lost.
ALREADY_UNDONE = frozenset({(404, "EntityNotFoundError"), (400, "TransactionAlreadyCancelled")})

PAGE_SIZE = 1000  # AvaTax's largest $top

# AvaTax's documented escapes for characters a path segment cannot carry.
PATH_ESCAPES = {"/": "_-ava2f-_", "+": "_-ava2b-_", "?": "_-ava3f-_", "%": "_-ava25-_", "#": "_-ava23-_"}


def path_code(value: str) -> str:
    """A company or transaction code as a URL path segment."""
    escaped = "".join(PATH_ESCAPES.get(char, char) for char in value)
    return quote(escaped, safe="")


class AvaTaxEngine:
    """Tax quotes as uncommitted SalesInvoice documents keyed by document code; commit and void them."""

    system = SYSTEM

    def __init__(self, http: httpx.AsyncClient, base_url: str, account_id: str, license_key: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{account_id}:{license_key}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "Accept": "application/json",
            "X-Avalara-Client": "c2c; 0.1.0; REST; v2; c2c-worker",
        }

    async def quote(self, request: TaxRequest) -> TaxQuote:
        """Create-or-adjust document `request.document_code`: a retry adjusts the same document."""
        body: CreateOrAdjustTransactionModel = {"createTransactionModel": to_transaction(request)}
        response = await self._send("POST", "/api/v2/transactions/createoradjust", body)
        transaction = _parse(TransactionModel, response)
        if transaction.currencyCode != request.currency:
            raise PermanentError(
                SYSTEM,
                "currency_mismatch",
                f"asked for {request.currency}, document {transaction.code} is in {transaction.currencyCode}",
            )
        return to_quote(request, transaction)

    async def commit(self, company_code: str, document_code: str) -> None:
        """Mark the document reportable; committing a committed document is a no-op."""
        await self._send("POST", self._path(company_code, document_code, "/commit"), {"commit": True})

    async def void(self, company_code: str, document_code: str) -> None:
        """Cancel the document, saved or committed (DocVoided); voiding a voided or never-created one is a no-op.

        Safe to repeat after a lost answer: the repeat finds the document cancelled already."""
        try:
            await self._send("POST", self._path(company_code, document_code, "/void"), {"code": "DocVoided"})
        except PermanentError as exc:
            if (exc.status, exc.code) in ALREADY_UNDONE:
                return
            raise

    async def get(self, company_code: str, document_code: str) -> dict[str, Any]:
        """The stored TransactionModel as AvaTax returns it (amounts as Decimal)."""
        response = await self._send("GET", self._path(company_code, document_code, ""), None)
        body = json_body(SYSTEM, response)
        if not isinstance(body, dict):
            raise PermanentError(SYSTEM, "bad_response", "transaction body is not an object", status=200)
        return body

    async def documents_since(self, company_codes: list[str], since: date) -> list[TaxDocument]:
        """Every document of these companies dated on or after `since`, 1000 per call."""
        documents: list[TaxDocument] = []
        for company_code in sorted(set(company_codes)):
            skip = 0
            while True:
                query = urlencode({"$filter": f"date ge '{since.isoformat()}'", "$top": PAGE_SIZE, "$skip": skip})
                path = f"/api/v2/companies/{path_code(company_code)}/transactions?{query}"
                page = _parse(TransactionPage, await self._send("GET", path, None))
                documents.extend(tax_document(company_code, transaction) for transaction in page.value)
                skip += len(page.value)
                if not page.nextLink or not page.value:
                    break
        return documents

    def _path(self, company_code: str, document_code: str, suffix: str) -> str:
        return (
            f"/api/v2/companies/{path_code(company_code)}/transactions/{path_code(document_code)}{suffix}"
            f"?documentType={DOCUMENT_TYPE}"
        )

    async def _send(self, method: str, path: str, body: Any) -> httpx.Response:
        headers = dict(self._headers)
        content = None
        if body is not None:
            content = encode_json(body)
            headers["Content-Type"] = "application/json"
        request = self._http.build_request(method, self._base_url + path, headers=headers, content=content)
        return await send(self._http, SYSTEM, request, classify)


def _parse(model: type[Model], response: httpx.Response) -> Model:
    try:
        return model.model_validate(json_body(SYSTEM, response))
    except ValidationError as exc:
        # Name the fields (never their values: a response can carry customer data).
        fields = sorted({".".join(str(p) for p in error["loc"]) for error in exc.errors()})[:5]
        raise PermanentError(
            SYSTEM, "bad_response", f"unexpected {model.__name__}: {', '.join(fields)}", status=200
        ) from exc
