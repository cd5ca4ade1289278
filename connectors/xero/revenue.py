"""Deferred revenue as a Xero organisation holds it: the invoice and credit note lines on the deferred revenue
account with their service periods, the recognition manual journals, and the account's balance.

Xero keeps no service dates on a line, so c2c writes the period into the line's description (mapping.line_items:
`... (YYYY-MM-DD to YYYY-MM-DD)`, billing's exclusive end) and reads it back here. A line on the account without a
readable period still counts in the balance (the reconciler then shows the difference) but schedules nothing.
Manual journals are in the organisation's base currency; a recognition journal is the one narrated
`[rev-{entity}-{currency}-{yyyy-mm}] ...` (mapping.narration_key). Only what Xero has posted counts: AUTHORISED or
PAID documents, POSTED journals (drafts are not in the ledger, voided and deleted ones are reversed)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from canonical import Money
from canonical.revenue import PostedRecognition, RevenueLedger, RevenueLine, parse_month
from connectors.errors import PermanentError
from connectors.xero import mapping, wire
from connectors.xero.errors import SYSTEM

Record = dict[str, Any]
RECOGNITION_PREFIX = "rev-"
POSTED_DOCUMENTS = ("AUTHORISED", "PAID")
_PERIOD = re.compile(r"(\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})\)\s*$")
_KEY = re.compile(r"^\[([^\]]+)\]")


def _day(record: Record, field: str) -> date:
    day = wire.parse_xero_date(record.get(field))
    if day is None:
        raise PermanentError(SYSTEM, "bad_response", f"record: {field} is not a date")
    return day


def _lines_of(record: Record, field: str) -> list[Record]:
    lines = record.get(field) or []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise PermanentError(SYSTEM, "bad_response", f"record: {field} is not a list of objects")
    return lines


def service_period(description: str | None) -> tuple[date, date] | None:
    """(start, exclusive end) written at the end of a line's description, or None when there is none."""
    match = _PERIOD.search(description or "")
    if not match:
        return None
    try:
        start, end = date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))
    except ValueError:
        return None
    return (start, end) if start <= end else None


def _status(record: Record) -> str | None:
    return mapping.text(record, "Status")


def deferred_lines(record: Record, legal_entity: str, sign: int, number_field: str) -> tuple[list[RevenueLine], int]:
    """The lines of an invoice (sign 1) or credit note (sign -1) with a service period on deferred revenue, and
    what all its deferred revenue lines moved (minor units) — the balance counts the ones without a period too."""
    if _status(record) not in POSTED_DOCUMENTS:
        return [], 0
    code = mapping.currency(record)
    document = mapping.text(record, number_field) or mapping.guid(record, number_field.replace("Number", "ID"))
    booked_on = _day(record, "Date")
    lines, moved = [], 0
    for number, line in enumerate(_lines_of(record, "LineItems"), start=1):
        if line.get("AccountCode") != mapping.DEFERRED_REVENUE_ACCOUNT:
            continue
        amount = sign * mapping.minor(line, "LineAmount", code)
        moved += amount
        period = service_period(mapping.text(line, "Description"))
        if period is None:
            continue
        lines.append(
            RevenueLine(
                source_id=f"{document}#{number}",
                document_id=document,
                legal_entity=legal_entity,
                amount=Money(amount=amount, currency=code),
                booked_on=booked_on,
                service_start=period[0],
                service_end=period[1],
            )
        )
    return lines, moved


def deferred_movement(journal: Record, base_currency: str) -> int:
    """What a posted manual journal moved on deferred revenue: credits - debits (LineAmount is debit-positive)."""
    if _status(journal) != "POSTED":
        return 0
    lines = _lines_of(journal, "JournalLines")
    return -sum(
        mapping.minor(line, "LineAmount", base_currency)
        for line in lines
        if line.get("AccountCode") == mapping.DEFERRED_REVENUE_ACCOUNT
    )


def external_id_of(journal: Record) -> str | None:
    """The `[external id]` a narration starts with (mapping.narration_key), or None."""
    match = _KEY.match(mapping.text(journal, "Narration") or "")
    return match.group(1) if match else None


def recognition(journal: Record, legal_entity: str, base_currency: str) -> PostedRecognition | None:
    """A posted recognition journal of the entity (`[rev-{entity}-{currency}-{yyyy-mm}] memo`), else None."""
    external_id = external_id_of(journal) or ""
    prefix = f"{RECOGNITION_PREFIX}{legal_entity}-"
    if not external_id.startswith(prefix) or _status(journal) != "POSTED":
        return None
    currency, month = external_id[len(prefix) : len(prefix) + 3], external_id[-7:]
    try:
        parse_month(month)
    except ValueError:
        return None
    if currency != base_currency or external_id != f"{prefix}{currency}-{month}":
        return None  # Xero journals are in the base currency only: no other could have been posted by c2c
    narration = mapping.text(journal, "Narration") or ""
    return PostedRecognition(
        external_id=external_id,
        legal_entity=legal_entity,
        currency=currency,
        month=month,
        amount=-deferred_movement(journal, base_currency),
        posted_on=_day(journal, "Date"),
        memo=narration[len(mapping.narration_key(external_id)) :].strip() or None,
        erp_id=mapping.guid(journal, "ManualJournalID"),
    )


def ledger(
    legal_entity: str, base_currency: str, invoices: list[Record], notes: list[Record], journals: list[Record]
) -> RevenueLedger:
    """The entity's deferred revenue from its organisation's ACCREC invoices, credit notes and manual journals."""
    lines: list[RevenueLine] = []
    balance: dict[str, int] = {}
    for records, sign, number_field in ((invoices, 1, "InvoiceNumber"), (notes, -1, "CreditNoteNumber")):
        for record in records:
            found, moved = deferred_lines(record, legal_entity, sign, number_field)
            lines += found
            if moved or found:
                code = mapping.currency(record)
                balance[code] = balance.get(code, 0) + moved
    recognitions = []
    for journal in journals:
        moved = deferred_movement(journal, base_currency)
        if moved:
            balance[base_currency] = balance.get(base_currency, 0) + moved
        posted = recognition(journal, legal_entity, base_currency)
        if posted is not None:
            recognitions.append(posted)
    # Manual journals have no currency (the organisation's base): a line in another is not recognized here.
    return RevenueLedger.read(legal_entity, lines, recognitions, balance, journal_currencies=[base_currency])
