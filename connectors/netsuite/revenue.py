"""Deferred revenue as NetSuite holds it: the lines posted to the deferred revenue account (invoice and credit memo
lines with rev rec dates), the recognition journals, and the account's balance, per subsidiary.

Read through the record API like the reconciler's reads (collections filtered by `q`, then each record): an
all-time read, since a balance is. At a real account's volume a saved search or SuiteQL on the account is the
better read (the emulator has neither)."""

from __future__ import annotations

from datetime import date
from typing import Any

from canonical.revenue import PostedRecognition, RevenueLedger, RevenueLine, parse_month
from connectors.errors import PermanentError
from connectors.netsuite import reads
from connectors.netsuite.errors import SYSTEM
from connectors.netsuite.mapping import ACCOUNT_IDS, DEFERRED_REVENUE_ACCOUNT, SUBSIDIARY_IDS, service_end

Record = dict[str, Any]
RECOGNITION_PREFIX = "rev-"
DEFERRED_ID = ACCOUNT_IDS[DEFERRED_REVENUE_ACCOUNT]


def subsidiary_id(legal_entity: str) -> str:
    try:
        return SUBSIDIARY_IDS[legal_entity]
    except KeyError:
        raise PermanentError(SYSTEM, "unmapped_subsidiary", f"no NetSuite subsidiary for {legal_entity!r}") from None


def _day(record: Record, field: str) -> date:
    value = record.get(field)
    try:
        if isinstance(value, str):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise PermanentError(SYSTEM, "bad_response", f"record {str(record.get('id'))[:40]!r}: {field} is not a date")


def deferred_lines(record: Record, legal_entity: str, sign: int) -> list[RevenueLine]:
    """The lines of an invoice (sign 1) or credit memo (sign -1) that posted to deferred revenue."""
    code = reads.currency(record)
    document = reads.text(record, "externalId") or f"ns-{reads.internal_id(record)}"
    booked_on = _day(record, "tranDate")
    lines = []
    for number, line in enumerate(reads.sublist(record, "item"), start=1):
        if reads.ref_id(line, "account") != DEFERRED_ID:
            continue
        start, last = _day(line, "revRecStartDate"), _day(line, "revRecEndDate")
        lines.append(
            RevenueLine(
                source_id=f"{document}#{line.get('line', number)}",
                document_id=document,
                legal_entity=legal_entity,
                amount={"amount": sign * reads.minor(line, "amount", code), "currency": code},
                booked_on=booked_on,
                service_start=start,
                service_end=service_end(last),
            )
        )
    return lines


def deferred_movement(record: Record) -> int:
    """What a journal entry moved on deferred revenue: credits - debits, in minor units."""
    code = reads.currency(record)
    moved = 0
    for line in reads.sublist(record, "line"):
        if reads.ref_id(line, "account") == DEFERRED_ID:
            moved += reads.minor(line, "credit", code) - reads.minor(line, "debit", code)
    return moved


def recognition(record: Record, legal_entity: str) -> PostedRecognition | None:
    """A recognition journal (external id `rev-{entity}-{currency}-{yyyy-mm}`), or None for any other journal."""
    external_id = reads.text(record, "externalId") or ""
    if not external_id.startswith(f"{RECOGNITION_PREFIX}{legal_entity}-"):
        return None
    month = external_id[-7:]
    try:
        parse_month(month)
    except ValueError:
        return None
    return PostedRecognition(
        external_id=external_id,
        legal_entity=legal_entity,
        currency=reads.currency(record),
        month=month,
        amount=-deferred_movement(record),
        posted_on=_day(record, "tranDate"),
        memo=reads.text(record, "memo"),
        erp_id=reads.internal_id(record),
    )


def ledger(legal_entity: str, invoices: list[Record], memos: list[Record], journals: list[Record]) -> RevenueLedger:
    """The entity's deferred revenue from its invoices, credit memos and journal entries (all of one subsidiary)."""
    lines = [line for record in invoices for line in deferred_lines(record, legal_entity, 1)]
    lines += [line for record in memos for line in deferred_lines(record, legal_entity, -1)]
    balance: dict[str, int] = {}
    for line in lines:
        balance[line.currency] = balance.get(line.currency, 0) + line.amount.amount
    recognitions = []
    for record in journals:
        code = reads.currency(record)
        balance[code] = balance.get(code, 0) + deferred_movement(record)
        posted = recognition(record, legal_entity)
        if posted is not None:
            recognitions.append(posted)
    return RevenueLedger.read(legal_entity, lines, recognitions, balance)
