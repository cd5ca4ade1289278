"""Manual journals as Xero keeps them (developer.xero.com/documentation/api/accounting/manualjournals).

In the organisation's base currency (a journal has no currency). `JournalLines[]` carry `LineAmount` (debits
positive, credits negative), `AccountCode`, an optional `Description` and `TaxType`; the lines must balance to zero,
name accounts of the chart that are not system accounts (Accounts Receivable is one), and the journal must be dated
after the period lock date. A new journal is DRAFT or POSTED. `PUT` creates; `POST` creates, or updates the journal
named by `ManualJournalID`: a draft may change, be posted or deleted, a posted journal may only be voided (in an open
period), a voided or deleted one no longer changes. Refusals are `Refused` with Xero's messages (state.py).
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

from sandbox.xero.query import ms_date, parse_date
from sandbox.xero.state import (
    ACCOUNT_IDS,
    ACCOUNTS,
    LINE_AMOUNT_TYPES,
    TAX_TYPES,
    TWO,
    Organisation,
    Record,
    Refused,
    money,
    now,
)

NEW_STATUSES = ("DRAFT", "POSTED")
# Status now -> the statuses an update may set.
CHANGES = {"DRAFT": ("DRAFT", "POSTED", "DELETED"), "POSTED": ("POSTED", "VOIDED"), "VOIDED": (), "DELETED": ()}


def _line(sent: Record, line: object) -> Record:
    if not isinstance(line, dict):
        raise Refused(sent, "A journal line is not an object")
    code = line.get("AccountCode")
    if not isinstance(code, str) or code not in ACCOUNTS:
        raise Refused(sent, f"Account code '{code}' is not a valid code")
    if ACCOUNTS[code][2]:
        raise Refused(sent, f"Account code '{code}' is a system account and cannot be used in a manual journal")
    tax = line.get("TaxType", "NONE")
    if not isinstance(tax, str) or tax not in TAX_TYPES:
        raise Refused(sent, f"The TaxType code '{tax}' does not exist or cannot be used for this type of doc.")
    try:
        amount = money(line.get("LineAmount")).quantize(TWO, rounding=ROUND_HALF_UP)
    except (ValueError, ArithmeticError):
        raise Refused(sent, "LineAmount must be a number") from None
    out: Record = {
        "TaxType": tax,
        "LineAmount": amount,
        "AccountCode": code,
        "AccountID": ACCOUNT_IDS[code],
        "Tracking": [],
        "TaxAmount": Decimal("0.00"),
        "IsBlank": False,
    }
    if isinstance(line.get("Description"), str):
        out["Description"] = line["Description"]
    return out


def _lines(sent: Record) -> list[Record]:
    lines = sent.get("JournalLines")
    if not isinstance(lines, list) or len(lines) < 2:
        raise Refused(sent, "A manual journal needs at least two journal lines")
    out = [_line(sent, line) for line in lines]
    debits = sum((line["LineAmount"] for line in out if line["LineAmount"] > 0), Decimal("0.00"))
    credits = sum((line["LineAmount"] for line in out if line["LineAmount"] < 0), Decimal("0.00"))
    if debits + credits != 0:
        raise Refused(sent, f"The total debits ({debits}) must equal total credits ({credits})")
    return out


def create_journal(org: Organisation, sent: Record) -> Record:
    narration = sent.get("Narration")
    if not isinstance(narration, str) or not narration.strip():
        raise Refused(sent, "Narration must be supplied")
    day = org._open(sent)
    status = sent.get("Status", "DRAFT")
    if status not in NEW_STATUSES:
        raise Refused(sent, f"Status {status!r} cannot be set on a new manual journal (DRAFT or POSTED)")
    kind = sent.get("LineAmountTypes", "NoTax")
    if not isinstance(kind, str) or kind not in LINE_AMOUNT_TYPES:
        raise Refused(sent, f"LineAmountTypes {kind!r} is not valid")
    journal: Record = {
        "Date": ms_date(day),
        "Status": status,
        "LineAmountTypes": kind,
        "UpdatedDateUTC": ms_date(now()),
        "ManualJournalID": str(uuid.uuid4()),
        "Narration": narration,
        "JournalLines": _lines(sent),
        "ShowOnCashBasisReports": sent.get("ShowOnCashBasisReports", True) is not False,
        "HasAttachments": False,
    }
    if isinstance(sent.get("Url"), str):
        journal["Url"] = sent["Url"]
    org.journals[journal["ManualJournalID"]] = journal
    return journal


def save_journal(org: Organisation, sent: Record) -> Record:
    """POST: create without a ManualJournalID, else change the journal it names as its status allows."""
    journal_id = sent.get("ManualJournalID")
    if not journal_id:
        return create_journal(org, sent)
    journal = org.journals.get(journal_id) if isinstance(journal_id, str) else None
    if journal is None:
        raise Refused(sent, f"Manual journal with ManualJournalID {journal_id} could not be found")
    status = sent.get("Status", journal["Status"])
    if status not in CHANGES[journal["Status"]]:
        raise Refused(sent, f"A {journal['Status'].lower()} manual journal cannot be changed to {status}")
    if journal["Status"] == "POSTED":
        if _changes(journal, sent):
            raise Refused(sent, "A posted manual journal can only be voided")
        try:
            org._open({"Date": journal["Date"]})  # voiding reverses in the journal's period: it must be open
        except Refused as locked:
            raise Refused(sent, *locked.messages) from None
        journal.update(Status=status, UpdatedDateUTC=ms_date(now()))
        return journal
    draft = {**_editable(journal), **sent, "Status": "DRAFT" if status == "DELETED" else status}
    updated = create_journal(org, draft)  # validated like a new one, then kept under the old id
    del org.journals[updated["ManualJournalID"]]
    updated["ManualJournalID"] = journal_id
    if status == "DELETED":
        updated["Status"] = "DELETED"
    org.journals[journal_id] = updated
    return updated


def _changes(journal: Record, sent: Record) -> bool:
    """Whether an update changes what a journal says (an SDK resends its narration, date and defaults)."""
    if "Narration" in sent and sent["Narration"] != journal["Narration"]:
        return True
    if sent.get("Date") is not None and parse_date(sent["Date"]) != parse_date(journal["Date"]):
        return True
    return bool(sent.get("JournalLines"))


def _editable(journal: Record) -> Record:
    return {
        "Narration": journal["Narration"],
        "Date": journal["Date"],
        "LineAmountTypes": journal["LineAmountTypes"],
        "JournalLines": journal["JournalLines"],
    }
