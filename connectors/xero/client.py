"""Xero as the ERP: one organisation (tenant) per legal entity, over OAuth 2.0 client credentials.

Xero has no upsert by external id. Each write looks its record up by the key c2c gives it (contact number,
invoice number, credit note number, payment reference, the journal narration's `[external id]`) before creating it,
and sends an `Idempotency-Key` (a journal's: its external id and date; any other write's: derived from the request):
a retry after a lost answer replays the key while Xero still holds it, and finds the record by its key after Xero
forgot it. Exactly one record either way.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from canonical import DEFAULT_VENDORS, CreditNote, Customer, Invoice, JournalEntry, LegalEntity, Payment, ids
from canonical.records import ErpCreditMemo, ErpCustomer, ErpInvoice, ErpPayment
from canonical.reference import LEGAL_ENTITIES
from canonical.revenue import PostedRecognition, RevenueLedger
from connectors.errors import BusinessRuleError, PermanentError
from connectors.kit import encode_json, json_body, send
from connectors.xero import mapping, revenue, wire
from connectors.xero.auth import TokenSource, XeroCredentials
from connectors.xero.errors import SYSTEM, classify, is_duplicate_name, is_locked_period
from connectors.xero.refunds import XeroRefunds

API_PATH = "/api.xro/2.0"
TOKEN_PATH = "/connect/token"
MAX_PERIODS_AHEAD = 24
PAGE_SIZE = 1000  # Xero's largest page (`pageSize`) on the paged endpoints

Record = dict[str, Any]


def first_of_month(day: date, months_ahead: int) -> date:
    index = day.year * 12 + day.month - 1 + months_ahead
    return date(index // 12, index % 12 + 1, 1)


def posting_dates(day: date) -> Iterator[date]:
    """`day`, then the first day of each following month: where a document goes while its period is locked."""
    yield day
    for months in range(1, MAX_PERIODS_AHEAD + 1):
        yield first_of_month(day, months)


def idempotency_key(tenant: str, method: str, path: str, body: bytes) -> str:
    """The same request always carries the same key (Xero takes up to 128 characters)."""
    digest = hashlib.sha256(b"\0".join([tenant.encode(), method.encode(), path.encode(), body])).hexdigest()
    return f"c2c-{digest[:60]}"


def journal_key(tenant: str, external_id: str, on: date) -> str:
    """A journal's key: its external id (c2c's deterministic `rev-…` / `fee-…` key) and the date it is posted on
    (a locked period moves the same entry to another date: another request). Readable in Xero's logs; hashed when
    the id would take it past Xero's 128 characters."""
    key = f"c2c-{external_id}@{on.isoformat()}"
    if len(key) > 128 or not key.isascii():
        key = "c2c-" + hashlib.sha256(f"{tenant}\0{key}".encode()).hexdigest()[:60]
    return key


def where_equals(field_name: str, value: str) -> str:
    """A Xero `where` filter `Field=="value"` (quotes in the value escaped the way Xero's filter parser reads)."""
    return f'{field_name}=="{value.replace(chr(34), chr(92) + chr(34))}"'


class XeroErp(XeroRefunds):
    """The `Erp` role over the Xero Accounting API 2.0; `api_url` serves `/api.xro/2.0`, `identity_url`
    `/connect/token` (api.xero.com and identity.xero.com in production)."""

    system = SYSTEM

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        credentials: XeroCredentials,
        *,
        identity_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._api = api_url.rstrip("/") + API_PATH
        self._tenants = dict(credentials.tenants)
        identity = (identity_url or api_url).rstrip("/")
        self._tokens = TokenSource(http, identity + TOKEN_PATH, credentials, clock)

    def tenant(self, legal_entity: str) -> str:
        try:
            return self._tenants[legal_entity]
        except KeyError:
            raise PermanentError(SYSTEM, "unmapped_tenant", f"no Xero organisation for {legal_entity!r}") from None

    def _tenants_of(self, legal_entity: str | None) -> list[str]:
        """The entity's organisation; every one when a call names no entity (an input recorded before routing)."""
        return [self.tenant(legal_entity)] if legal_entity else sorted(set(self._tenants.values()))

    # -- writes ----------------------------------------------------------------------------------------

    async def upsert_customer(self, customer: Customer, entity: LegalEntity, currency: str) -> str:
        if not customer.golden_id:
            raise PermanentError(SYSTEM, "missing_golden_id", "customer has no golden id to upsert by")
        return await self._save_contact(customer, entity, currency, create=True)

    async def update_customer(self, customer: Customer, entity: LegalEntity) -> str:
        """Name, address and tax number of `{golden}-{entity}`; never its default currency."""
        if not customer.golden_id:
            raise PermanentError(SYSTEM, "missing_golden_id", "customer has no golden id to update by")
        return await self._save_contact(customer, entity, None, create=False)

    async def _save_contact(self, customer: Customer, entity: LegalEntity, currency: str | None, create: bool) -> str:
        tenant = self.tenant(entity.code)
        assert customer.golden_id
        number = ids.erp_customer_id(customer.golden_id, entity.code)
        existing = await self._find(tenant, "Contacts", where_equals("ContactNumber", number))
        if existing is None and not create:
            raise PermanentError(SYSTEM, "customer_not_found", f"no ERP customer {number}", status=404)
        names = [customer.legal_name, mapping.unique_name(customer.legal_name, number)]
        if existing is not None and existing.get("Name") == names[1]:
            names.reverse()  # keep the name the contact already has
        for attempt, name in enumerate(names):
            body: Record = dict(mapping.contact_body(customer, entity, currency, name))
            if existing is not None:
                body["ContactID"] = mapping.guid(existing, "ContactID")
            try:
                # POST creates or updates (by ContactID); a create's lost answer is found by number next time.
                saved = await self._write(tenant, "POST", "Contacts", {"Contacts": [body]}, "Contacts")
                return mapping.guid(saved, "ContactID")
            except BusinessRuleError as error:
                # Names are unique in an organisation: another customer has this legal name — or a saga of this
                # same customer created its contact since we looked (two deals of a new customer at once): take that
                # one rather than make a second contact under another name (found by the chaos run).
                if attempt or not is_duplicate_name(error):
                    raise
                if existing is None:
                    raced = await self._find(tenant, "Contacts", where_equals("ContactNumber", number))
                    if raced is not None:
                        return mapping.guid(raced, "ContactID")
        raise AssertionError("unreachable")

    async def post_invoice(
        self, invoice: Invoice, customer_erp_id: str, *, billing_system: str = DEFAULT_VENDORS.billing
    ) -> str:
        """The ACCREC invoice numbered with billing's invoice id, created AUTHORISED once (a repeat finds it)."""
        tenant = self.tenant(invoice.legal_entity)
        body = mapping.invoice_body(invoice, customer_erp_id, billing_system)
        where = where_equals("InvoiceNumber", body["InvoiceNumber"]) + ' AND Type=="ACCREC"'
        existing = await self._find(tenant, "Invoices", where)
        if existing is not None:
            return mapping.guid(existing, "InvoiceID")
        created = await self._write(tenant, "PUT", "Invoices", {"Invoices": [body]}, "Invoices")
        return mapping.guid(created, "InvoiceID")

    async def apply_payment(
        self,
        payment: Payment,
        customer_erp_id: str,
        invoice_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
        legal_entity: str | None = None,
    ) -> str:
        """The gross payment on the invoice (Reference = billing's payment id); the fee is a manual journal. In the
        entity's organisation, or (an input recorded without one) whichever holds the invoice."""
        reference = mapping.billing_id(payment.external_refs, "payment", billing_system)
        tenant, posted = await self._invoice_in(legal_entity, invoice_erp_id)
        existing = await self._find(tenant, "Payments", where_equals("Reference", reference))
        if existing is not None:
            return mapping.guid(existing, "PaymentID")
        # Dated when billing took the money, never before the invoice (Xero refuses that); deterministic for retries.
        invoice_day = wire.parse_xero_date(posted.get("Date")) or date(1970, 1, 1)
        day = max(payment.settled_at.date(), invoice_day) if payment.settled_at else invoice_day

        async def create(on: date) -> Record:
            body = mapping.payment_body(payment, invoice_erp_id, reference, on)
            return await self._write(tenant, "PUT", "Payments", {"Payments": [body]}, "Payments")

        created = await self._in_open_period(day, create)
        return mapping.guid(created, "PaymentID")

    async def post_journal_entry(self, entry: JournalEntry) -> str:
        """A POSTED manual journal narrated `[external id] memo`, on its date or the first open month after it."""
        tenant = self.tenant(entry.legal_entity)
        existing = await self._journal(tenant, entry.external_id)
        if existing is not None:
            return mapping.guid(existing, "ManualJournalID")
        base = self._base_currency(entry.legal_entity)

        async def create(on: date) -> Record:
            body = {"ManualJournals": [mapping.journal_body(entry, on, base)]}
            key = journal_key(tenant, entry.external_id, on)
            return await self._write(tenant, "PUT", "ManualJournals", body, "ManualJournals", key=key)

        created = await self._in_open_period(entry.date, create)
        return mapping.guid(created, "ManualJournalID")

    async def post_credit_memo(
        self,
        invoice: Invoice,
        invoice_erp_id: str,
        customer_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
    ) -> str:
        """Reverse the posted invoice in full: credit note `cm-{billing id}`, allocated to what it has due."""
        billing_invoice = mapping.billing_id(invoice.external_refs, "invoice", billing_system)
        tenant = self.tenant(invoice.legal_entity)
        posted = await self._posted_invoice(tenant, invoice_erp_id, billing_invoice, "reverse")
        day = wire.parse_xero_date(posted.get("Date")) or invoice.issue_date
        number = "cm-" + billing_invoice

        def body(on: date) -> wire.CreditNoteBody:
            return mapping.reversal_body(invoice, customer_erp_id, number, on)

        return await self._credit(tenant, number, day, body, posted)

    async def post_credit_note(
        self,
        credit: CreditNote,
        invoice_erp_id: str,
        customer_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
    ) -> str:
        """Billing's credit note (number = its id), allocated to what the invoice still has due; the rest stays
        as remaining credit, for a refund."""
        number = mapping.billing_id(credit.external_refs, "credit_note", billing_system)
        tenant = self.tenant(credit.legal_entity)
        posted = await self._posted_invoice(tenant, invoice_erp_id, credit.invoice_id, "credit")
        if posted.get("CurrencyCode") != credit.currency:
            raise PermanentError(
                SYSTEM,
                "currency_mismatch",
                f"credit note {number} is in {credit.currency}, invoice {invoice_erp_id} in "
                f"{posted.get('CurrencyCode')}",
            )

        def body(on: date) -> wire.CreditNoteBody:
            return mapping.credit_note_body(credit, customer_erp_id, number, on)

        return await self._credit(tenant, number, credit.issue_date, body, posted)

    async def _credit(
        self, tenant: str, number: str, day: date, body_for: Callable[[date], wire.CreditNoteBody], invoice: Record
    ) -> str:
        """Create credit note `number` once, then allocate it once to the invoice (up to what either has left)."""
        note = await self._find(tenant, "CreditNotes", where_equals("CreditNoteNumber", number))
        if note is None:

            async def create(on: date) -> Record:
                return await self._write(tenant, "PUT", "CreditNotes", {"CreditNotes": [body_for(on)]}, "CreditNotes")

            note = await self._in_open_period(day, create)
        note_id = mapping.guid(note, "CreditNoteID")
        note = await self._get(tenant, f"CreditNotes/{note_id}", "CreditNotes")
        invoice_id = mapping.guid(invoice, "InvoiceID")
        allocated = [a for a in note.get("Allocations") or [] if mapping.ref(a, "Invoice", "InvoiceID") == invoice_id]
        if allocated:
            return note_id
        current = await self._get(tenant, f"Invoices/{invoice_id}", "Invoices")
        amount = min(_decimal(note, "RemainingCredit"), _decimal(current, "AmountDue"))
        if amount > 0:
            on = max(wire.parse_xero_date(note.get("Date")) or day, wire.parse_xero_date(current.get("Date")) or day)
            allocation: wire.AllocationBody = {"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": ""}

            async def allocate(when: date) -> Record:
                allocation["Date"] = when.isoformat()
                path = f"CreditNotes/{note_id}/Allocations"
                return await self._write(tenant, "PUT", path, {"Allocations": [allocation]}, "Allocations")

            await self._in_open_period(on, allocate)
        return note_id

    # -- reconciliation reads --------------------------------------------------------------------------

    async def invoices_modified_since(self, since: date) -> list[ErpInvoice]:
        rows = await self._all_tenants("Invoices", since, 'Type=="ACCREC"')
        return [mapping.erp_invoice(row) for row in rows]

    async def payments_modified_since(self, since: date) -> list[ErpPayment]:
        # Refunds are payments too (on credit notes): customer_refunds_modified_since reads those.
        rows = await self._all_tenants("Payments", since, 'PaymentType=="ACCRECPAYMENT"')
        return [mapping.erp_payment(row) for row in rows]

    async def credit_memos_modified_since(self, since: date) -> list[ErpCreditMemo]:
        rows = await self._all_tenants("CreditNotes", since, 'Type=="ACCRECCREDIT"')
        return [mapping.erp_credit_memo(row) for row in rows]

    async def customers_by_external_id(self, external_ids: list[str]) -> list[ErpCustomer]:
        """The contacts `{golden}-{entity}` that exist, each read from its entity's organisation."""
        found: list[ErpCustomer] = []
        for external_id in external_ids:
            parsed = ids.parse_erp_customer_id(external_id)
            if parsed is None or parsed[1] not in self._tenants:
                continue
            row = await self._find(self._tenants[parsed[1]], "Contacts", where_equals("ContactNumber", external_id))
            customer = mapping.erp_customer(row) if row is not None else None
            if customer is not None:
                found.append(customer)
        return found

    async def revenue_ledger(self, legal_entity: str) -> RevenueLedger:
        """The entity's deferred revenue: its organisation's ACCREC invoices, credit notes and manual journals (all
        time, paged: a balance is)."""
        tenant = self.tenant(legal_entity)
        invoices = await self._pages(tenant, "Invoices", 'Type=="ACCREC"')
        notes = await self._pages(tenant, "CreditNotes", 'Type=="ACCRECCREDIT"')
        journals = await self._pages(tenant, "ManualJournals", None)
        return revenue.ledger(legal_entity, self._base_currency(legal_entity), invoices, notes, journals)

    async def recognition(self, legal_entity: str, external_id: str) -> PostedRecognition | None:
        """The posted recognition journal narrated `[external id]`, or None (the check before posting)."""
        journal = await self._journal(self.tenant(legal_entity), external_id)
        if journal is None:
            return None
        return revenue.recognition(journal, legal_entity, self._base_currency(legal_entity))

    @staticmethod
    def _base_currency(legal_entity: str) -> str:
        entity = LEGAL_ENTITIES.get(legal_entity)
        return entity.functional_currency if entity is not None else ""

    # -- plumbing --------------------------------------------------------------------------------------

    async def _all_tenants(self, collection: str, since: date, where: str | None) -> list[Record]:
        """Every record of the collection modified since the day `since`, in every organisation (paged)."""
        modified = {"If-Modified-Since": f"{since.isoformat()}T00:00:00"}
        rows: list[Record] = []
        for tenant in sorted(set(self._tenants.values())):
            rows.extend(await self._pages(tenant, collection, where, modified))
        return rows

    async def _pages(
        self, tenant: str, collection: str, where: str | None, headers: dict[str, str] | None = None
    ) -> list[Record]:
        """Every record of one organisation's collection, page by page until a short page."""
        rows: list[Record] = []
        page = 1
        while True:
            params = {"page": str(page), "pageSize": str(PAGE_SIZE)}
            if where:
                params["where"] = where
            batch = _records(await self._request("GET", collection, tenant, params=params, headers=headers), collection)
            rows.extend(batch)
            if len(batch) < PAGE_SIZE:
                return rows
            page += 1

    async def _journal(self, tenant: str, external_id: str) -> Record | None:
        key = mapping.narration_key(external_id).replace('"', '\\"')
        return await self._find(tenant, "ManualJournals", f'Narration.StartsWith("{key}")')

    async def _find(self, tenant: str, collection: str, where: str) -> Record | None:
        response = await self._request("GET", collection, tenant, params={"where": where})
        rows = [row for row in _records(response, collection) if row.get("Status") not in ("DELETED", "VOIDED")]
        return rows[0] if rows else None

    async def _get(self, tenant: str, path: str, collection: str) -> Record:
        rows = _records(await self._request("GET", path, tenant), collection)
        if len(rows) != 1:
            raise PermanentError(SYSTEM, "bad_response", f"GET {path} answered {len(rows)} {collection}")
        return rows[0]

    async def _invoice_in(self, legal_entity: str | None, invoice_id: str) -> tuple[str, Record]:
        """(tenant, invoice) of an invoice id: in the entity's organisation, or whichever holds it when the call
        names no entity."""
        for tenant in self._tenants_of(legal_entity):
            response = await self._request("GET", f"Invoices/{invoice_id}", tenant, not_found_ok=True)
            if response.status_code != 404:
                rows = _records(response, "Invoices")
                if rows:
                    return tenant, rows[0]
        raise PermanentError(SYSTEM, "invoice_not_found", f"no Xero invoice {invoice_id!r}", status=404)

    async def _posted_invoice(self, tenant: str, invoice_id: str, billing_invoice: str, purpose: str) -> Record:
        response = await self._request("GET", f"Invoices/{invoice_id}", tenant, not_found_ok=True)
        rows = [] if response.status_code == 404 else _records(response, "Invoices")
        if not rows:
            raise PermanentError(SYSTEM, "invoice_not_found", f"no invoice {invoice_id!r} to {purpose}", status=404)
        if rows[0].get("InvoiceNumber") not in (None, billing_invoice):
            raise PermanentError(
                SYSTEM,
                "invoice_mismatch",
                f"invoice {invoice_id} is {rows[0].get('InvoiceNumber')!r}, not billing invoice {billing_invoice}",
            )
        return rows[0]

    async def _in_open_period(self, day: date, create: Callable[[date], Awaitable[Record]]) -> Record:
        """Create dated `day`; while Xero refuses it for the period lock date, the first of the next month."""
        refusal: BusinessRuleError | None = None
        for on in posting_dates(day):
            try:
                return await create(on)
            except BusinessRuleError as error:
                if not is_locked_period(error):
                    raise
                refusal = error
        assert refusal is not None
        raise BusinessRuleError(
            SYSTEM, "no_open_period", f"no open period within {MAX_PERIODS_AHEAD} months of {day}: {refusal.message}"
        )

    async def _write(
        self, tenant: str, method: str, path: str, body: Any, collection: str, *, key: str | None = None
    ) -> Record:
        """One record written; Xero answers the envelope with the record (and its ValidationErrors) inside. The
        `Idempotency-Key` is `key`, or one derived from the request."""
        content = encode_json(body)
        headers = {"Idempotency-Key": key or idempotency_key(tenant, method, path, content)}
        response = await self._request(method, path, tenant, content=content, headers=headers)
        rows = _records(response, collection)
        if len(rows) != 1:
            raise PermanentError(SYSTEM, "bad_response", f"{method} {path} answered {len(rows)} {collection}")
        return rows[0]

    async def _request(
        self,
        method: str,
        path: str,
        tenant: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> httpx.Response:
        """Send with the bearer token and tenant; on a 401 fetch a new token once and send again (a 401 is
        answered before anything is written, so a write may be sent again)."""

        def classifier(response: httpx.Response) -> Any:
            return None if not_found_ok and response.status_code == 404 else classify(response)

        for attempt in range(2):
            token = await self._tokens.token()
            request = self._http.build_request(
                method,
                f"{self._api}/{path}",
                params={**(params or {}), "unitdp": "4"},
                content=content,
                headers={
                    "Authorization": f"Bearer {token}",
                    "xero-tenant-id": tenant,
                    "Accept": "application/json",
                    **({"Content-Type": "application/json"} if content is not None else {}),
                    **(headers or {}),
                },
            )
            try:
                return await send(self._http, SYSTEM, request, classifier)
            except PermanentError as error:
                if error.status != 401:
                    raise
                if attempt:
                    raise PermanentError(
                        SYSTEM, "auth", f"a fresh access token was refused: {error.code}: {error.message}", status=401
                    ) from error
                await self._tokens.drop(token)
        raise AssertionError("unreachable")


def _records(response: httpx.Response, collection: str) -> list[Record]:
    key = collection.split("/")[0]
    try:
        return wire.records(json_body(SYSTEM, response), key)
    except ValueError as exc:
        raise PermanentError(SYSTEM, "bad_response", str(exc)) from exc


def _decimal(record: Record, field_name: str) -> Decimal:
    value = record.get(field_name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PermanentError(SYSTEM, "bad_response", f"{field_name} {value!r} is not an amount"[:200])
    return Decimal(value)
