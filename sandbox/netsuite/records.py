"""Validation and derived fields per record type, the way NetSuite refuses or completes a submitted record.

Each builder takes the submitted fields (merged over earlier upserts) and returns the stored record,
without touching the account: the caller commits only when the whole record is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sandbox.netsuite.state import (
    ACCOUNTS,
    CURRENCIES,
    SERVICE_ITEMS,
    SUBSIDIARIES,
    UNDEPOSITED_FUNDS,
    Account,
    NetSuiteError,
    Record,
    invalid_ref,
    invalid_value,
    user_error,
)

ZERO = Decimal(0)


def _missing(label: str) -> NetSuiteError:
    return user_error(f"Please enter value(s) for: {label}")


def _ref_key(given: Record, name: str, label: str, *, required: bool = True) -> str | None:
    """The internal id of a `{"id": ...}` reference field."""
    value = given.get(name)
    if value is None:
        if required:
            raise _missing(label)
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str | int) or isinstance(value["id"], bool):
        raise invalid_value(f"Invalid value for field {name}: a reference object with an id is expected.", name)
    return str(value["id"])


def _number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise invalid_value(f"Invalid value for field {name}: a number is expected.", name)
    return Decimal(value)


def _text(given: Record, name: str) -> str | None:
    value = given.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_value(f"Invalid value for field {name}: a string is expected.", name)
    return value


def _date(given: Record, name: str, *, default_today: bool) -> date | None:
    value = given.get(name)
    if value is None:
        return datetime.now(UTC).date() if default_today else None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid_value(f"Invalid value for field {name}: a date YYYY-MM-DD is expected.", name) from None


def _open_period(account: Account, tran_date: date) -> None:
    if tran_date < account.closed_before:
        raise user_error(
            f"The accounting period of {tran_date.isoformat()} is closed. "
            "Enter a transaction date in an open period or reopen the period.",
            "tranDate",
        )


def ensure_editable(account: Account, record_type: str, internal_id: str) -> None:
    """A transaction already posted in a period that has closed since can no longer be changed."""
    existing = account.records[record_type].get(internal_id)
    posted_on = existing.get("tranDate") if existing else None
    if posted_on and date.fromisoformat(posted_on) < account.closed_before:
        raise user_error(
            f"The accounting period of {posted_on} is closed. "
            "A transaction posted in a closed period cannot be changed.",
            "tranDate",
        )


def _items(given: Record, sublist: str) -> list[Record]:
    value = given.get(sublist)
    if value is None:
        return []
    items = value.get("items") if isinstance(value, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise invalid_value(f"Invalid value for sublist {sublist}: an object with an items list is expected.", sublist)
    return items


def _subsidiary(key: str) -> Record:
    if key not in SUBSIDIARIES:
        raise invalid_ref("subsidiary", key)
    return {"id": key, "refName": SUBSIDIARIES[key]["name"]}


def _currency(key: str | None, subsidiary: str, default: str) -> Record:
    key = key or default
    if key not in CURRENCIES:
        raise invalid_ref("currency", key)
    if key not in SUBSIDIARIES[subsidiary]["currencies"]:
        raise invalid_ref("currency", key, f" for subsidiary {subsidiary}")
    return {"id": key, "refName": CURRENCIES[key]["symbol"]}


def _customer(account: Account, key: str, name: str) -> Record:
    customer = account.records["customer"].get(key)
    if customer is None:
        raise invalid_ref(name, key)
    return customer


def _party(account: Account, given: Record, name: str, label: str) -> tuple[Record, Record, Record, Record]:
    """(customer, entity ref, subsidiary ref, currency ref) of a transaction, defaulted from the customer."""
    customer_key = _ref_key(given, name, label)
    assert customer_key is not None
    customer = _customer(account, customer_key, name)
    subsidiary = _ref_key(given, "subsidiary", "Subsidiary", required=False) or customer["subsidiary"]["id"]
    if subsidiary != customer["subsidiary"]["id"]:
        raise invalid_ref(name, customer_key, f" for subsidiary {subsidiary}")
    currency = _currency(
        _ref_key(given, "currency", "Currency", required=False), subsidiary, customer["currency"]["id"]
    )
    entity = {"id": customer_key, "refName": customer["companyName"]}
    return customer, entity, _subsidiary(subsidiary), currency


def _item_lines(given: Record) -> tuple[list[Record], Decimal]:
    lines = _items(given, "item")
    if not lines:
        raise user_error("You must enter at least one line item for this transaction.", "item")
    stored: list[Record] = []
    for number, line in enumerate(lines, start=1):
        item_key = _ref_key(line, "item", "Item")
        assert item_key is not None
        if item_key not in SERVICE_ITEMS:
            raise invalid_ref("item", item_key)
        quantity = _number(line.get("quantity", 1), "quantity")
        rate = _number(line.get("rate"), "rate") if "rate" in line else None
        amount = _number(line.get("amount"), "amount") if "amount" in line else None
        if rate is None and amount is None:
            raise _missing(f"Amount (line {number})")
        if rate is not None and amount is not None and quantity * rate != amount:
            raise invalid_value(
                f"Invalid amount on line {number}: {amount} is not quantity {quantity} x rate {rate}.", "item"
            )
        if amount is None:
            assert rate is not None
            amount = quantity * rate
        elif rate is None and quantity == 0:
            raise invalid_value(
                f"Invalid quantity on line {number}: an amount without a rate needs a quantity.", "item"
            )
        stored.append(
            {
                "line": number,
                "item": {"id": item_key, "refName": SERVICE_ITEMS[item_key]["itemId"]},
                "quantity": quantity,
                "rate": rate if rate is not None else amount / quantity,
                "amount": amount,
                "description": _text(line, "description") or SERVICE_ITEMS[item_key]["displayName"],
                **_revenue_recognition(line, number, SERVICE_ITEMS[item_key]),
            }
        )
    return stored, sum((line["amount"] for line in stored), ZERO)


def _revenue_recognition(line: Record, number: int, item: Record) -> Record:
    """The line's rev rec dates (both or neither; the end is the last day served, inclusive) and the account it
    posts to: the item's deferred revenue account when it has dates, else its income account."""
    start = _date(line, "revRecStartDate", default_today=False)
    end = _date(line, "revRecEndDate", default_today=False)
    if (start is None) != (end is None):
        raise user_error(f"Line {number}: enter both a Rev. Rec. Start Date and a Rev. Rec. End Date.", "item")
    if start is not None and end is not None and end < start:
        raise invalid_value(f"Line {number}: the Rev. Rec. End Date is before the Rev. Rec. Start Date.", "item")
    if start is not None and "deferredRevAccount" not in item:
        raise user_error(f"Line {number}: item {item['itemId']} has no deferred revenue account.", "item")
    account = item["deferredRevAccount"] if start is not None else item["incomeAccount"]
    fields: Record = {"account": {"id": account, "refName": ACCOUNTS[account]["acctName"]}}
    if start is not None and end is not None:
        fields.update(revRecStartDate=start.isoformat(), revRecEndDate=end.isoformat())
    return fields


def _address_text(address: Record) -> str:
    country = address.get("country")
    country_code = country.get("id") if isinstance(country, dict) else country
    city_line = " ".join(str(address[k]) for k in ("city", "state", "zip") if address.get(k))
    parts = [address.get("addr1"), address.get("addr2"), city_line, country_code]
    return "\n".join(str(part) for part in parts if part)


# Customer sublists whose lines an update adds to the existing ones, as NetSuite does for lines without a key
# (ours never carry one), unless the request's `replace` parameter names the sublist.
APPENDED_SUBLISTS: dict[str, tuple[str, ...]] = {"customer": ("addressBook", "taxRegistration")}


def merge_input(record_type: str, earlier: Record, body: Record, replace: set[str]) -> Record:
    """What an update of a record with input `earlier` submits: body fields win, sublist lines may add up."""
    merged = {**earlier, **body}
    for sublist in APPENDED_SUBLISTS.get(record_type, ()):
        if sublist in earlier and sublist in body and sublist not in replace:
            merged[sublist] = {"items": _items(earlier, sublist) + _items(body, sublist)}
    return merged


def _tax_registrations(given: Record) -> list[Record]:
    stored = []
    for number, line in enumerate(_items(given, "taxRegistration"), start=1):
        tax_number = _text(line, "taxRegistrationNumber")
        if not tax_number:
            raise _missing(f"Tax Reg. Number (taxRegistration line {number})")
        country = line.get("nexusCountry")
        stored.append({"nexusCountry": country, "taxRegistrationNumber": tax_number})
    return stored


def build_customer(account: Account, given: Record, internal_id: str) -> Record:
    company = _text(given, "companyName")
    if not company:
        raise _missing("Company Name")
    subsidiary_key = _ref_key(given, "subsidiary", "Primary Subsidiary")
    assert subsidiary_key is not None
    subsidiary = _subsidiary(subsidiary_key)
    currency = _currency(
        _ref_key(given, "currency", "Currency", required=False),
        subsidiary_key,
        SUBSIDIARIES[subsidiary_key]["currency"],
    )
    existing = account.records["customer"].get(internal_id)
    if existing and existing["subsidiary"]["id"] != subsidiary_key and account.has_transactions(internal_id):
        raise user_error("You cannot change the subsidiary of a customer with transactions.", "subsidiary")
    addresses = _items(given, "addressBook")
    # The line marked default last wins, as when a new default address is added to a customer.
    default = next((a for a in reversed(addresses) if a.get("defaultBilling")), addresses[0] if addresses else None)
    record: Record = {
        "id": internal_id,
        "externalId": _text(given, "externalId"),
        "entityId": _text(given, "entityId") or company,
        "companyName": company,
        "isPerson": False,
        "email": _text(given, "email"),
        "subsidiary": subsidiary,
        "currency": currency,
        "addressBook": {"items": addresses},
        "taxRegistration": {"items": _tax_registrations(given)},
        "defaultAddress": _address_text(default.get("addressBookAddress") or {}) if default else None,
    }
    return record


def _sales_document(account: Account, given: Record, internal_id: str, prefix: str) -> tuple[Record, Record]:
    """Common fields of invoices and credit memos: (record, customer)."""
    customer, entity, subsidiary, currency = _party(account, given, "entity", "Customer")
    tran_date = _date(given, "tranDate", default_today=True)
    assert tran_date is not None
    _open_period(account, tran_date)
    due_date = _date(given, "dueDate", default_today=False)
    lines, subtotal = _item_lines(given)
    tax_total = _number(given.get("taxTotal", ZERO), "taxTotal")
    # Lines may be negative (a credit, a discount), the transaction may not: NetSuite refuses to save it.
    if subtotal + tax_total < 0:
        raise user_error("The total cannot be negative.", "item")
    record: Record = {
        "id": internal_id,
        "externalId": _text(given, "externalId"),
        "tranId": f"{prefix}{internal_id}",
        "entity": entity,
        "subsidiary": subsidiary,
        "currency": currency,
        "tranDate": tran_date.isoformat(),
        "dueDate": due_date.isoformat() if due_date else None,
        "memo": _text(given, "memo"),
        "otherRefNum": _text(given, "otherRefNum"),
        "account": {"id": "6", "refName": ACCOUNTS["6"]["acctName"]},
        "item": {"items": lines},
        "subtotal": subtotal,
        "taxTotal": tax_total,
        "total": subtotal + tax_total,
    }
    return record, customer


def build_invoice(account: Account, given: Record, internal_id: str) -> Record:
    record, _ = _sales_document(account, given, internal_id, "INV")
    applied = account.applied_to(internal_id)
    if record["total"] < applied:
        raise user_error(f"The invoice total {record['total']} is less than the {applied} already applied to it.")
    record["amountRemaining"] = record["total"] - applied
    record["status"] = "Paid In Full" if record["amountRemaining"] == 0 else "Open"
    return record


def _application_target(account: Account, doc_key: str, customer_id: str, currency: str) -> Record:
    invoice = account.records["invoice"].get(doc_key)
    if invoice is None:
        raise invalid_ref("doc", doc_key)
    if invoice["entity"]["id"] != customer_id:
        raise user_error(f"Invoice {invoice['tranId']} belongs to another customer and cannot be applied.", "apply")
    if invoice["currency"]["id"] != currency:
        raise user_error(
            f"Invoice {invoice['tranId']} is in {invoice['currency']['refName']}, not the payment currency.", "apply"
        )
    return invoice


def build_customer_payment(account: Account, given: Record, internal_id: str) -> Record:
    customer, entity, subsidiary, currency = _party(account, given, "customer", "Customer")
    tran_date = _date(given, "tranDate", default_today=True)
    assert tran_date is not None
    _open_period(account, tran_date)
    if "payment" not in given:
        raise _missing("Payment Amount")
    payment = _number(given["payment"], "payment")
    if payment <= 0:
        raise invalid_value("Invalid value for field payment: the amount must be positive.", "payment")
    me = ("customerPayment", internal_id)
    applications: dict[str, Decimal] = {}
    stored: list[Record] = []
    for line in _items(given, "apply"):
        if line.get("apply", True) is not True:
            continue
        doc_key = _ref_key(line, "doc", "Applied To")
        assert doc_key is not None
        invoice = _application_target(account, doc_key, entity["id"], currency["id"])
        due = invoice["total"] - account.applied_to(doc_key, excluding=me) - applications.get(doc_key, ZERO)
        unapplied = payment - sum(applications.values(), ZERO)
        amount = _number(line["amount"], "amount") if "amount" in line else min(due, unapplied)
        if amount <= 0:
            raise invalid_value("Invalid value for field amount: the applied amount must be positive.", "apply")
        if amount > due:
            raise user_error(
                f"The amount applied ({amount}) exceeds the amount due ({due}) on invoice {invoice['tranId']}.",
                "apply",
            )
        if amount > unapplied:
            raise user_error(f"The total amount applied exceeds the payment amount ({payment}).", "apply")
        applications[doc_key] = applications.get(doc_key, ZERO) + amount
        stored.append({"doc": {"id": doc_key, "refName": invoice["tranId"]}, "apply": True, "amount": amount})
    applied = sum(applications.values(), ZERO)
    return {
        "id": internal_id,
        "externalId": _text(given, "externalId"),
        "tranId": f"PYMT{internal_id}",
        "customer": entity,
        "subsidiary": subsidiary,
        "currency": currency,
        "tranDate": tran_date.isoformat(),
        "memo": _text(given, "memo"),
        "undepFunds": True,
        "account": {"id": UNDEPOSITED_FUNDS, "refName": ACCOUNTS[UNDEPOSITED_FUNDS]["acctName"]},
        "payment": payment,
        "applied": applied,
        "unapplied": payment - applied,
        "status": "Not Deposited",
        "apply": {"items": stored},
        "_applications": applications,
    }


def build_credit_memo(account: Account, given: Record, internal_id: str) -> Record:
    record, _ = _sales_document(account, given, internal_id, "CM")
    invoice_key = _ref_key(given, "createdFrom", "Created From")
    assert invoice_key is not None
    invoice = _application_target(account, invoice_key, record["entity"]["id"], record["currency"]["id"])
    me = ("creditMemo", internal_id)
    doc = {"id": invoice_key, "refName": invoice["tranId"]}
    # Like NetSuite, a memo created from an invoice applies to it; what the invoice cannot take stays unapplied.
    applied = min(record["total"], invoice["total"] - account.applied_to(invoice_key, excluding=me))
    record.update(
        createdFrom=doc,
        applied=applied,
        unapplied=record["total"] - applied,
        status="Fully Applied" if applied == record["total"] else "Open",
        apply={"items": [{"doc": doc, "apply": True, "amount": applied}] if applied else []},
        _applications={invoice_key: applied} if applied else {},
    )
    return record


def build_journal_entry(account: Account, given: Record, internal_id: str) -> Record:
    subsidiary_key = _ref_key(given, "subsidiary", "Subsidiary")
    assert subsidiary_key is not None
    subsidiary = _subsidiary(subsidiary_key)
    currency = _currency(
        _ref_key(given, "currency", "Currency", required=False),
        subsidiary_key,
        SUBSIDIARIES[subsidiary_key]["currency"],
    )
    tran_date = _date(given, "tranDate", default_today=True)
    assert tran_date is not None
    _open_period(account, tran_date)
    lines = _items(given, "line")
    if len(lines) < 2:
        raise user_error("A journal entry needs at least two lines.", "line")
    stored: list[Record] = []
    debits = credits = ZERO
    for number, line in enumerate(lines, start=1):
        account_key = _ref_key(line, "account", "Account")
        assert account_key is not None
        if account_key not in ACCOUNTS:
            raise invalid_ref("account", account_key)
        sides = [side for side in ("debit", "credit") if line.get(side) is not None]
        if len(sides) != 1:
            raise invalid_value(f"Line {number}: enter either a debit or a credit amount.", "line")
        amount = _number(line[sides[0]], sides[0])
        if amount <= 0:
            raise invalid_value(f"Line {number}: the amount must be positive.", "line")
        if sides[0] == "debit":
            debits += amount
        else:
            credits += amount
        stored.append(
            {
                "line": number,
                "account": {"id": account_key, "refName": ACCOUNTS[account_key]["acctName"]},
                sides[0]: amount,
                "memo": _text(line, "memo"),
            }
        )
    if debits != credits:
        raise user_error(f"The journal entry is out of balance: debits {debits}, credits {credits}.", "line")
    return {
        "id": internal_id,
        "externalId": _text(given, "externalId"),
        "tranId": f"JE{internal_id}",
        "subsidiary": subsidiary,
        "currency": currency,
        "tranDate": tran_date.isoformat(),
        "memo": _text(given, "memo"),
        "line": {"items": stored},
        "total": debits,
    }


BUILDERS: dict[str, Callable[[Account, Record, str], Record]] = {
    "customer": build_customer,
    "invoice": build_invoice,
    "customerPayment": build_customer_payment,
    "creditMemo": build_credit_memo,
    "journalEntry": build_journal_entry,
}
