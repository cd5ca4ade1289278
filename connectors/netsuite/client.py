"""NetSuite as the ERP: every write is an upsert by external id (`PUT .../eid:{id}`), our idempotency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import date
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from canonical import DEFAULT_VENDORS, CreditNote, Customer, Invoice, JournalEntry, LegalEntity, Payment, ids
from canonical.records import ErpCreditMemo, ErpCustomer, ErpInvoice, ErpPayment
from canonical.revenue import PostedRecognition, RevenueLedger
from connectors.errors import BusinessRuleError, ConnectorError, PermanentError
from connectors.kit import Classifier, encode_json, json_body, send
from connectors.netsuite import mapping, reads, revenue
from connectors.netsuite.auth import M2MCredentials, TokenSource
from connectors.netsuite.errors import SYSTEM, classify, is_closed_period
from connectors.netsuite.refunds import NetSuiteRefunds

T = TypeVar("T")

RECORD_PATH = "/services/rest/record/v1"
# How many later periods a posting refused for a closed period may move forward before finance must decide.
MAX_PERIODS_AHEAD = 24
LIST_PAGE = 1000  # NetSuite's largest collection page
READ_CONCURRENCY = 8  # record reads in flight at once when reading a collection back


def first_of_month(day: date, months_ahead: int) -> date:
    """The first day of the month `months_ahead` months after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months_ahead
    return date(index // 12, index % 12 + 1, 1)


def posting_dates(day: date) -> Iterator[date]:
    """`day`, then the first day of each following month: where a posting goes when its period is closed.

    Deterministic, so a retry tries the same dates in the same order."""
    yield day
    for months in range(1, MAX_PERIODS_AHEAD + 1):
        yield first_of_month(day, months)


def internal_id_from_location(response: httpx.Response) -> str:
    """The internal id NetSuite names in the `Location` header of a 204 write answer."""
    location = response.headers.get("Location", "")
    internal_id = urlsplit(location).path.rstrip("/").rpartition("/")[2]
    if not (internal_id.isascii() and internal_id.isdigit()):  # isdigit alone admits '²', a latin-1 header byte
        raise PermanentError(SYSTEM, "bad_response", f"write answered without a record Location ({location!r})")
    return internal_id


def _not_found_is_none(response: httpx.Response) -> ConnectorError | None:
    """Classification for lookups, where a 404 is an answer rather than an error."""
    return None if response.status_code == 404 else classify(response)


def record_of(response: httpx.Response, what: str) -> dict[str, Any]:
    """A record answer's JSON object; PermanentError naming `what` when the body is anything else."""
    record = json_body(SYSTEM, response)
    if not isinstance(record, dict):
        raise PermanentError(SYSTEM, "bad_response", f"{what} answered with a {type(record).__name__}, not a record")
    return record


def _date_or(value: Any, default: date) -> date:
    """A record's YYYY-MM-DD date field, or `default` when it is absent or unreadable."""
    try:
        return date.fromisoformat(value) if isinstance(value, str) else default
    except ValueError:
        return default


class NetSuiteErp(NetSuiteRefunds):
    """The `Erp` role over SuiteTalk REST with OAuth 2.0 client credentials (a JWT client assertion, auth.py)."""

    system = SYSTEM

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: M2MCredentials,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._tokens = TokenSource(http, self._base_url, credentials, clock=clock)

    async def upsert_customer(self, customer: Customer, entity: LegalEntity, currency: str) -> str:
        if not customer.golden_id:
            raise PermanentError(SYSTEM, "missing_golden_id", "customer has no golden id to upsert by")
        # One ERP customer per golden customer *and subsidiary*: NetSuite will not move a customer with
        # transactions to another subsidiary, and a golden customer may buy from several of our entities.
        external_id = ids.erp_customer_id(customer.golden_id, entity.code)
        body = mapping.customer_body(customer, entity, currency)
        # The body carries the whole address book and tax registrations: they replace the old lines.
        return await self._upsert("customer", external_id, body, replace=mapping.CUSTOMER_SUBLISTS)

    async def update_customer(self, customer: Customer, entity: LegalEntity) -> str:
        """PATCH name, address and tax registrations of `{golden}-{entity}`; never subsidiary or currency (NetSuite
        refuses those on a customer with transactions, and a change of the CRM account cannot mean one)."""
        if not customer.golden_id:
            raise PermanentError(SYSTEM, "missing_golden_id", "customer has no golden id to update by")
        external_id = ids.erp_customer_id(customer.golden_id, entity.code)
        body: dict[str, Any] = dict(mapping.customer_body(customer, entity, currency="USD"))
        del body["subsidiary"], body["currency"]
        response = await self._request(
            "PATCH",
            f"customer/eid:{quote(external_id, safe='')}",
            body=body,
            params={"replace": ",".join(mapping.CUSTOMER_SUBLISTS)},
            classifier=_not_found_is_none,
        )
        if response.status_code == 404:
            raise PermanentError(SYSTEM, "customer_not_found", f"no ERP customer {external_id}", status=404)
        return internal_id_from_location(response)

    async def post_invoice(
        self, invoice: Invoice, customer_erp_id: str, *, billing_system: str = DEFAULT_VENDORS.billing
    ) -> str:
        external_id = mapping.billing_id(invoice.external_refs, "invoice", billing_system)
        body = mapping.invoice_body(invoice, customer_erp_id, billing_system)
        return await self._upsert("invoice", external_id, body)

    async def apply_payment(
        self,
        payment: Payment,
        customer_erp_id: str,
        invoice_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
        legal_entity: str | None = None,
    ) -> str:
        """Book the gross payment against the invoice; a fee is the caller's `post_journal_entry`. One account
        holds every subsidiary, so `legal_entity` changes nothing here."""
        external_id = mapping.billing_id(payment.external_refs, "payment", billing_system)
        body = mapping.payment_body(payment, customer_erp_id, invoice_erp_id, billing_system)
        return await self._upsert("customerPayment", external_id, body)

    async def post_journal_entry(self, entry: JournalEntry) -> str:
        """Upsert by external id on the entry's date, or the first open period after it when that one is closed."""

        def body(tran_date: date) -> Any:
            return mapping.journal_entry_body(entry, tran_date)

        return await self._upsert_in_open_period("journalEntry", entry.external_id, entry.date, body)

    async def post_credit_memo(
        self,
        invoice: Invoice,
        invoice_erp_id: str,
        customer_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
    ) -> str:
        """Reverse posted invoice `invoice_erp_id` in full: one memo (external id 'cm-' + billing invoice id)
        dated like the invoice, or on the first day of the first open period after it.

        An invoice the ERP does not hold raises PermanentError(code='invoice_not_found') and writes nothing:
        there is nothing to reverse (the saga skips undoing a step that never produced a record)."""
        billing_invoice_id = mapping.billing_id(invoice.external_refs, "invoice", billing_system)
        posted = await self._posted_invoice(invoice_erp_id, billing_invoice_id)
        tran_date = _date_or(posted.get("tranDate"), invoice.issue_date)

        def body(memo_date: date) -> Any:
            return mapping.credit_memo_body(invoice, invoice_erp_id, customer_erp_id, memo_date, billing_system)

        return await self._upsert_in_open_period("creditMemo", "cm-" + billing_invoice_id, tran_date, body)

    async def post_credit_note(
        self,
        credit: CreditNote,
        invoice_erp_id: str,
        customer_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
    ) -> str:
        """Billing's credit note as a memo (external id = its billing id) created from invoice `invoice_erp_id`.

        NetSuite applies a memo created from an invoice to what the invoice still has due; the rest (all of it on
        a paid invoice) stays unapplied, for a refund. Dated like the credit, or on the first day of the first open
        period after it. PermanentError 'invoice_not_found' / 'invoice_mismatch' / 'currency_mismatch' writes
        nothing."""
        credit_id = mapping.billing_id(credit.external_refs, "credit_note", billing_system)
        posted = await self._posted_invoice(invoice_erp_id, credit.invoice_id, purpose="credit")
        currency = posted.get("currency")
        invoice_currency = reads.CURRENCY_CODES.get(str(currency.get("id"))) if isinstance(currency, dict) else None
        if invoice_currency != credit.currency:
            raise PermanentError(
                SYSTEM,
                "currency_mismatch",
                f"credit note {credit_id} is in {credit.currency}, invoice {invoice_erp_id} in {invoice_currency}",
            )

        def body(memo_date: date) -> Any:
            return mapping.credit_note_body(credit, invoice_erp_id, customer_erp_id, memo_date, billing_system)

        return await self._upsert_in_open_period("creditMemo", credit_id, credit.issue_date, body)

    # -- reconciliation reads ----------------------------------------------------------------------

    async def invoices_modified_since(self, since: date) -> list[ErpInvoice]:
        """Invoices modified on or after the day `since` (record collection filtering by day)."""
        return [reads.erp_invoice(r) for r in await self._records_modified_since("invoice", since)]

    async def payments_modified_since(self, since: date) -> list[ErpPayment]:
        return [reads.erp_payment(r) for r in await self._records_modified_since("customerPayment", since)]

    async def credit_memos_modified_since(self, since: date) -> list[ErpCreditMemo]:
        """Credit memos modified on or after the day `since` (reversals and billing's credit notes alike)."""
        return [reads.erp_credit_memo(r) for r in await self._records_modified_since("creditMemo", since)]

    async def customers_by_external_id(self, external_ids: list[str]) -> list[ErpCustomer]:
        """The customers with these external ids (`{golden}-{entity}`) that exist."""
        records = await self._gather(self.get_by_external_id("customer", external_id) for external_id in external_ids)
        customers = [reads.erp_customer(record) for record in records if record is not None]
        return [customer for customer in customers if customer is not None]

    async def revenue_ledger(self, legal_entity: str) -> RevenueLedger:
        """The entity's deferred revenue: lines posted to it, recognition journals, the account's balance.
        `unsupported` for an entity without a subsidiary: its books are in another ERP (the reconciler skips it)."""
        if legal_entity not in mapping.SUBSIDIARY_IDS:
            raise PermanentError(SYSTEM, "unsupported", f"{legal_entity} keeps no books in NetSuite (no subsidiary)")
        q = f"subsidiary IS {revenue.subsidiary_id(legal_entity)}"
        invoices, memos, journals = await asyncio.gather(
            self._records_where("invoice", q),
            self._records_where("creditMemo", q),
            self._records_where("journalEntry", q),
        )
        return revenue.ledger(legal_entity, invoices, memos, journals)

    async def recognition(self, legal_entity: str, external_id: str) -> PostedRecognition | None:
        """The recognition journal with this external id, or None when the ERP has none."""
        record = await self.get_by_external_id("journalEntry", external_id)
        return None if record is None else revenue.recognition(record, legal_entity)

    async def _records_modified_since(self, record_type: str, since: date) -> list[dict[str, Any]]:
        return await self._records_where(
            record_type, f'lastModifiedDate ON_OR_AFTER "{since.month}/{since.day}/{since.year}"'
        )

    async def _records_where(self, record_type: str, q: str) -> list[dict[str, Any]]:
        """The collection's ids page by page (1000 each), then each record (the REST record API lists ids only)."""
        ids: list[str] = []
        offset = 0
        while True:
            response = await self._request(
                "GET", record_type, params={"q": q, "limit": str(LIST_PAGE), "offset": str(offset)}
            )
            page = record_of(response, f"{record_type} collection")
            ids.extend(_collection_ids(page, record_type))
            offset += LIST_PAGE
            if page.get("hasMore") is not True:
                break
        return [r for r in await self._gather(self.get_record(record_type, i) for i in ids) if r is not None]

    async def _gather(self, calls: Iterable[Awaitable[T]]) -> list[T]:
        """Run the calls READ_CONCURRENCY at a time, results in order."""
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def one(call: Awaitable[T]) -> T:
            async with gate:
                return await call

        return list(await asyncio.gather(*(one(call) for call in calls)))

    async def get_record(self, record_type: str, internal_id: str) -> dict[str, Any]:
        """A record by internal id (amounts as Decimal); an unknown id raises PermanentError."""
        response = await self._request("GET", f"{record_type}/{quote(internal_id, safe='')}")
        return record_of(response, f"{record_type} {internal_id}")

    async def get_by_external_id(self, record_type: str, external_id: str) -> dict[str, Any] | None:
        """A record by external id, or None when there is none."""
        response = await self._request(
            "GET", f"{record_type}/eid:{quote(external_id, safe='')}", classifier=_not_found_is_none
        )
        if response.status_code == 404:
            return None
        return record_of(response, f"{record_type} eid:{external_id}")

    async def _posted_invoice(
        self, invoice_erp_id: str, billing_invoice_id: str, *, purpose: str = "reverse"
    ) -> dict[str, Any]:
        """The ERP invoice a credit memo reverses or credits; PermanentError when it is missing or another one."""
        response = await self._request(
            "GET", f"invoice/{quote(invoice_erp_id, safe='')}", classifier=_not_found_is_none
        )
        if response.status_code == 404:
            raise PermanentError(SYSTEM, "invoice_not_found", f"no invoice {invoice_erp_id!r} to {purpose}", status=404)
        record = record_of(response, f"invoice {invoice_erp_id}")
        if record.get("externalId") not in (None, billing_invoice_id):
            raise PermanentError(
                SYSTEM,
                "invoice_mismatch",
                f"invoice {invoice_erp_id} is {record.get('externalId')!r}, not billing invoice {billing_invoice_id}",
            )
        return record

    async def _upsert_in_open_period(
        self, record_type: str, external_id: str, day: date, body_for: Callable[[date], Any]
    ) -> str:
        """Upsert dated `day`; while NetSuite refuses a closed period, the first day of the next month instead."""
        refusal: BusinessRuleError | None = None
        for tran_date in posting_dates(day):
            try:
                return await self._upsert(record_type, external_id, body_for(tran_date))
            except BusinessRuleError as error:
                if not is_closed_period(error):
                    raise
                refusal = error
            if tran_date == day:
                # A retry after a lost answer: the record may exist, dated in a period that closed since.
                existing = await self.get_by_external_id(record_type, external_id)
                if existing is not None:
                    return _internal_id(existing, f"{record_type} eid:{external_id}")
        assert refusal is not None
        raise BusinessRuleError(
            SYSTEM,
            "no_open_period",
            f"{record_type} {external_id}: no open period within {MAX_PERIODS_AHEAD} months of {day}: "
            f"{refusal.message}",
            status=refusal.status,
        )

    async def _upsert(self, record_type: str, external_id: str, body: Any, *, replace: tuple[str, ...] = ()) -> str:
        params = {"replace": ",".join(replace)} if replace else None
        path = f"{record_type}/eid:{quote(external_id, safe='')}"
        response = await self._request("PUT", path, body=body, params=params)
        return internal_id_from_location(response)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        classifier: Classifier = classify,
    ) -> httpx.Response:
        """Send with the bearer token; on a 401 fetch a new token once and send again. A fresh token refused too
        (revoked access, a role taken away) is PermanentError 'auth': finance fixes the credentials, then retries."""
        token = await self._tokens.token()
        try:
            return await send(self._http, SYSTEM, self._build(method, path, body, params, token), classifier)
        except PermanentError as error:
            if error.status != 401:
                raise
        # A 401 is answered before the record is touched, so sending a write again is safe.
        await self._tokens.drop(token)
        token = await self._tokens.token()
        try:
            return await send(self._http, SYSTEM, self._build(method, path, body, params, token), classifier)
        except PermanentError as error:
            if error.status != 401:
                raise
            raise PermanentError(
                SYSTEM, "auth", f"a fresh access token was refused: {error.code}: {error.message}", status=401
            ) from error

    def _build(self, method: str, path: str, body: Any, params: dict[str, str] | None, token: str) -> httpx.Request:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = encode_json(body)
        return self._http.build_request(
            method, f"{self._base_url}{RECORD_PATH}/{path}", params=params, content=content, headers=headers
        )


def _internal_id(record: dict[str, Any], what: str) -> str:
    """A record's internal id (digits, as NetSuite gives them); PermanentError naming `id` otherwise."""
    value = record.get("id")
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise PermanentError(SYSTEM, "bad_response", f"{what}: id {value!r} is not an internal id"[:300])
    return text


def _collection_ids(page: dict[str, Any], record_type: str) -> list[str]:
    """The internal ids a collection page lists; PermanentError naming `items` or `id` when it cannot be read."""
    items = page.get("items", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise PermanentError(SYSTEM, "bad_response", f"{record_type} collection: items is not a list of objects")
    return [_internal_id(item, f"{record_type} collection item") for item in items]
