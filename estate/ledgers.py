"""Every ERP's records as one ledger for the checks of the chaos run and the demo: NetSuite's state as it is, and
each Xero organisation's contacts, ACCREC invoices, invoice payments and ACCRECCREDIT credit notes in the same record
view (id, externalId, status, total, currency.refName, payment, apply.items, createdFrom), so a deal is counted in
whichever ERP its entity books in, and a record in the wrong one shows as missing there and as money no deal accounts
for."""

from __future__ import annotations

import re
from typing import Any

Record = dict[str, Any]
GONE = ("DELETED", "VOIDED")
# The Reference the Xero connector gives a credit note that credits part of an invoice (connectors/xero/mapping.py).
ON_INVOICE = re.compile(r"^On billing invoice (\S+):")


def erp_state(states: dict[str, Any], entities: dict[str, str] | None = None) -> dict[str, list[Record]]:
    """NetSuite's records plus every Xero organisation's, under NetSuite's record types; `entities` maps a Xero
    tenant to its legal entity (a Xero record's `subsidiary` id is the entity's code, else the tenant's)."""
    netsuite = states["netsuite"]
    merged: dict[str, list[Record]] = {
        kind: list(netsuite.get(kind, [])) for kind in ("customer", "invoice", "customerPayment", "creditMemo")
    }
    for tenant, books in (states.get("xero") or {}).items():
        for kind, records in xero_records(books, (entities or {}).get(tenant, tenant)).items():
            merged[kind] += records
    return merged


def xero_records(books: dict[str, list[Record]], entity: str) -> dict[str, list[Record]]:
    invoices = [i for i in books.get("Invoices", []) if i.get("Type") == "ACCREC" and i.get("Status") not in GONE]
    by_number = {i["InvoiceNumber"]: i["InvoiceID"] for i in invoices}
    return {
        "customer": [{"id": c["ContactID"], "externalId": c.get("ContactNumber")} for c in books.get("Contacts", [])],
        "invoice": [
            {
                "id": i["InvoiceID"],
                "externalId": i.get("InvoiceNumber"),
                "status": "Paid In Full" if i.get("Status") == "PAID" else i.get("Status"),
                "total": i["Total"],
                "currency": {"id": i["CurrencyCode"], "refName": i["CurrencyCode"]},
                "subsidiary": {"id": entity},
            }
            for i in invoices
        ],
        "customerPayment": [
            {
                "id": p["PaymentID"],
                "externalId": p.get("Reference"),
                "currency": {"refName": p["Invoice"]["CurrencyCode"]},
                "payment": p["Amount"],
                "applied": p["Amount"],
                "apply": {"items": [{"apply": True, "doc": {"id": p["Invoice"]["InvoiceID"]}, "amount": p["Amount"]}]},
            }
            for p in books.get("Payments", [])
            if p.get("PaymentType") == "ACCRECPAYMENT" and p.get("Status") not in GONE
        ],
        "creditMemo": [
            {
                "id": n["CreditNoteID"],
                "externalId": n.get("CreditNoteNumber"),
                "total": n["Total"],
                "currency": {"id": n["CurrencyCode"], "refName": n["CurrencyCode"]},
                "subsidiary": {"id": entity},
                "createdFrom": {"id": credited_invoice(n, by_number)},
            }
            for n in books.get("CreditNotes", [])
            if n.get("Type") == "ACCRECCREDIT" and n.get("Status") not in GONE
        ],
    }


def credited_invoice(note: Record, by_number: dict[str, str]) -> str | None:
    """The invoice a credit note credits: the one it is allocated to, else (a paid invoice's credit, left
    unallocated for a refund) the one its reference names, else (a whole reversal `cm-{billing id}`) its number's."""
    for allocation in note.get("Allocations") or []:
        return str(allocation["Invoice"]["InvoiceID"])
    named = ON_INVOICE.match(note.get("Reference") or "")
    if named:
        return by_number.get(named.group(1))
    return by_number.get(str(note.get("CreditNoteNumber", "")).removeprefix("cm-"))
