"""In-memory account state of the NetSuite emulator: reference data, records, tokens, closed periods."""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Record = dict[str, Any]

WRITABLE_TYPES = ("customer", "invoice", "customerPayment", "journalEntry", "creditMemo", "customerRefund")
FIRST_OPEN_DAY = date(2020, 1, 1)

# Reference records every account is seeded with (read-only through the API).
SUBSIDIARIES: dict[str, Record] = {
    "1": {"id": "1", "name": "c2c Software Inc.", "country": "US", "currency": "1", "currencies": ["1", "6"]},
    "2": {"id": "2", "name": "c2c Software GmbH", "country": "DE", "currency": "4", "currencies": ["4"]},
}
CURRENCIES: dict[str, Record] = {
    "1": {"id": "1", "name": "US Dollar", "symbol": "USD", "currencyPrecision": 2},
    "4": {"id": "4", "name": "Euro", "symbol": "EUR", "currencyPrecision": 2},
    "6": {"id": "6", "name": "Yen", "symbol": "JPY", "currencyPrecision": 0},
}
# incomeAccount: where a line without revenue recognition dates posts; deferredRevAccount: where a line with them
# posts (classic revenue recognition: the rev rec journals move it to income over its dates).
SERVICE_ITEMS: dict[str, Record] = {
    "10": {
        "id": "10",
        "itemId": "PLAT-SEAT",
        "displayName": "Platform seat",
        "incomeAccount": "54",
        "deferredRevAccount": "30",
    },
    "11": {
        "id": "11",
        "itemId": "ANALYTICS",
        "displayName": "Analytics add-on",
        "incomeAccount": "54",
        "deferredRevAccount": "30",
    },
    "12": {
        "id": "12",
        "itemId": "SUPPORT-PREM",
        "displayName": "Premium support",
        "incomeAccount": "54",
        "deferredRevAccount": "30",
    },
    "13": {
        "id": "13",
        "itemId": "API-CALLS",
        "displayName": "API calls",
        "incomeAccount": "54",
        "deferredRevAccount": "30",
    },
    "20": {"id": "20", "itemId": "TAX", "displayName": "Sales tax / VAT", "incomeAccount": "25"},
}
ACCOUNTS: dict[str, Record] = {
    "1": {"id": "1", "acctNumber": "1000", "acctName": "Operating Cash", "acctType": "Bank"},
    "2": {"id": "2", "acctNumber": "1050", "acctName": "Undeposited Funds", "acctType": "OthCurrAsset"},
    "6": {"id": "6", "acctNumber": "1100", "acctName": "Accounts Receivable", "acctType": "AcctRec"},
    "7": {"id": "7", "acctNumber": "1190", "acctName": "Payment Processor Clearing", "acctType": "OthCurrAsset"},
    # Contra asset to receivables (credit balance); 1190 already names the processor clearing account.
    "8": {"id": "8", "acctNumber": "1110", "acctName": "Allowance for Doubtful Accounts", "acctType": "OthCurrAsset"},
    "25": {"id": "25", "acctNumber": "2200", "acctName": "Sales Tax Payable", "acctType": "OthCurrLiab"},
    "30": {"id": "30", "acctNumber": "2400", "acctName": "Deferred Revenue", "acctType": "DeferRevenue"},
    "54": {"id": "54", "acctNumber": "4000", "acctName": "Subscription Revenue", "acctType": "Income"},
    "58": {"id": "58", "acctNumber": "6150", "acctName": "Merchant Fees", "acctType": "Expense"},
    "59": {"id": "59", "acctNumber": "6200", "acctName": "Bad Debt Expense", "acctType": "Expense"},
}
REFERENCE_TYPES: dict[str, dict[str, Record]] = {
    "subsidiary": SUBSIDIARIES,
    "currency": CURRENCIES,
    "serviceItem": SERVICE_ITEMS,
    "account": ACCOUNTS,
}
UNDEPOSITED_FUNDS = "2"


class NetSuiteError(Exception):
    """A refusal the API reports as an RFC 9457 body with `o:errorDetails`."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path


def user_error(detail: str, path: str | None = None) -> NetSuiteError:
    return NetSuiteError(400, "USER_ERROR", detail, path)


def invalid_ref(field_name: str, key: str, suffix: str = "") -> NetSuiteError:
    return NetSuiteError(400, "INVALID_KEY_OR_REF", f"Invalid {field_name} reference key {key}{suffix}.", field_name)


def invalid_value(detail: str, path: str | None = None) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_VALUE", detail, path)


def not_found(record_type: str, key: str) -> NetSuiteError:
    return NetSuiteError(
        404,
        "NONEXISTENT_ID",
        f"The record instance does not exist. Provide a valid record instance ID ({record_type} {key}).",
    )


@dataclass
class Account:
    """Everything one emulated NetSuite account holds; writes happen under `lock`."""

    token_ttl: float = 3600.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    records: dict[str, dict[str, Record]] = field(default_factory=lambda: {t: {} for t in WRITABLE_TYPES})
    # What clients sent (merged over upserts/patches); records are rebuilt from it and validated.
    inputs: dict[str, dict[str, Record]] = field(default_factory=lambda: {t: {} for t in WRITABLE_TYPES})
    by_external_id: dict[tuple[str, str], str] = field(default_factory=dict)
    # (record type, internal id) of a payment or credit memo -> {invoice id: amount applied}.
    applications: dict[tuple[str, str], dict[str, Decimal]] = field(default_factory=dict)
    closed_before: date = FIRST_OPEN_DAY
    tokens: dict[str, float] = field(default_factory=dict)
    tokens_issued: int = 0
    # The OAuth 2.0 Client Credentials Setup: certificate id -> mapped certificate (setup: kept by a reset).
    certificates: dict[str, Any] = field(default_factory=dict)
    refused_assertions: list[str] = field(default_factory=list)  # why each refused token request was refused
    # The last internal id handed out. Ids follow the wall clock (microseconds since 1970, 16 digits until 2286, exact
    # as JSON numbers too): the account lives in memory, but c2c's store and histories keep the ids, so a restarted
    # emulator must start above every id an earlier process gave out. That holds unless the earlier one ran ahead
    # of the clock (more than one record per microsecond) by more than the time between them, or the clock was set
    # back. A reset keeps the sequence, so an id is never reused within a process either.
    last_id: int = 0

    def reset(self) -> None:
        self.records = {t: {} for t in WRITABLE_TYPES}
        self.inputs = {t: {} for t in WRITABLE_TYPES}
        self.by_external_id.clear()
        self.applications.clear()
        self.closed_before = FIRST_OPEN_DAY
        self.tokens.clear()
        self.tokens_issued = 0
        self.refused_assertions.clear()

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.token_ttl
        self.tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        expires = self.tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def allocate_id(self) -> str:
        self.last_id = max(self.last_id + 1, time.time_ns() // 1_000)
        return str(self.last_id)

    def find(self, record_type: str, key: str) -> Record | None:
        """A record by internal id or by `eid:<externalId>`."""
        if key.startswith("eid:"):
            internal_id = self.by_external_id.get((record_type, key[4:]))
            if internal_id is None:
                return None
            key = internal_id
        return self.records.get(record_type, {}).get(key)

    def applied_to(self, invoice_id: str, *, excluding: tuple[str, str] | None = None) -> Decimal:
        """Sum applied to an invoice by payments and credit memos (optionally leaving one document out)."""
        return sum(
            (amounts.get(invoice_id, Decimal(0)) for doc, amounts in self.applications.items() if doc != excluding),
            Decimal(0),
        )

    def has_transactions(self, customer_id: str) -> bool:
        return any(
            (record.get("entity") or record.get("customer") or {}).get("id") == customer_id
            for record_type in ("invoice", "customerPayment", "creditMemo", "customerRefund")
            for record in self.records[record_type].values()
        )

    def commit(self, record_type: str, internal_id: str, given: Record, record: Record) -> None:
        """Store a validated record and its input; re-derive the balances of invoices it touches.

        Stamps `createdDate` (first save) and `lastModifiedDate` (every save), as NetSuite does; an external id
        changed by an update no longer finds the record."""
        previous = self.records[record_type].get(internal_id)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record["createdDate"] = previous["createdDate"] if previous else now
        record["lastModifiedDate"] = now
        if previous and previous.get("externalId") and previous["externalId"] != record.get("externalId"):
            self.by_external_id.pop((record_type, previous["externalId"]), None)
        self.inputs[record_type][internal_id] = given
        self.records[record_type][internal_id] = record
        if record.get("externalId"):
            self.by_external_id[(record_type, record["externalId"])] = internal_id
        applied = record.pop("_applications", None)
        if applied is not None:
            key = (record_type, internal_id)
            touched = set(self.applications.get(key, {})) | set(applied)
            self.applications[key] = applied
            for invoice_id in touched:
                self.refresh_document(invoice_id)
        elif record_type == "invoice":
            self.refresh_invoice(internal_id)
        if record_type == "creditMemo":
            self.refresh_document(internal_id)

    def refresh_document(self, doc_id: str) -> None:
        """Re-derive what an invoice has due, or what a credit memo has unapplied (after customer refunds)."""
        if doc_id in self.records["invoice"]:
            self.refresh_invoice(doc_id)
            return
        memo = self.records["creditMemo"].get(doc_id)
        if memo is not None:
            unapplied = memo["total"] - memo["applied"] - self.applied_to(doc_id)
            memo["unapplied"] = unapplied
            memo["status"] = "Fully Applied" if unapplied == 0 else "Open"

    def refresh_invoice(self, invoice_id: str) -> None:
        invoice = self.records["invoice"][invoice_id]
        remaining = invoice["total"] - self.applied_to(invoice_id)
        invoice["amountRemaining"] = remaining
        invoice["status"] = "Paid In Full" if remaining == 0 else "Open"

    def snapshot(self) -> Record:
        """Every record by type, as the demo shows and checks it."""
        state: Record = {t: [copy.deepcopy(r) for r in self.records[t].values()] for t in WRITABLE_TYPES}
        return {
            **state,
            "closedBefore": self.closed_before.isoformat(),
            "tokensIssued": self.tokens_issued,
            "refusedAssertions": list(self.refused_assertions),
            "certificates": [
                {"certificateId": c.certificate_id, "clientId": c.client_id} for c in self.certificates.values()
            ],
        }
