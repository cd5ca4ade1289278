"""NetSuite records read back for reconciliation, field by field: every field c2c reads is checked, so a record
the ERP answers in another shape is a PermanentError naming the field, never a KeyError or TypeError."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from canonical import Address, Money, ids
from canonical.records import CustomerFields, ErpCreditMemo, ErpCustomer, ErpInvoice, ErpPayment
from connectors.errors import PermanentError
from connectors.netsuite.errors import SYSTEM
from connectors.netsuite.mapping import CURRENCY_IDS

CURRENCY_CODES = {internal_id: code for code, internal_id in CURRENCY_IDS.items()}

Record = dict[str, Any]


def _bad(record: Record, field: str, problem: str) -> PermanentError:
    return PermanentError(SYSTEM, "bad_response", f"record {str(record.get('id'))[:40]!r}: {field} {problem}")


def internal_id(record: Record) -> str:
    value = record.get("id")
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise _bad(record, "id", "is not an internal id")
    return text


def text(record: Record, field: str) -> str | None:
    """An optional text field."""
    value = record.get(field)
    if value is not None and not isinstance(value, str):
        raise _bad(record, field, "is not text")
    return value


def ref_id(record: Record, field: str) -> str | None:
    """The internal id of an optional reference field (`{"id": "1"}`)."""
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(record, field, "is not a reference")
    target = value.get("id")
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, str | int):
        raise _bad(record, f"{field}.id", "is not an id")
    return str(target)


def sublist(record: Record, field: str) -> list[Record]:
    """The lines of an optional sublist (`{"items": [...]}`)."""
    value = record.get(field)
    if value is None:
        return []
    items = value.get("items", []) if isinstance(value, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _bad(record, field, "is not a sublist of lines")
    return items


def currency(record: Record) -> str:
    code = CURRENCY_CODES.get(ref_id(record, "currency") or "")
    if code is None:
        raise PermanentError(SYSTEM, "unmapped_currency", f"record {record.get('id')!r}: no currency it names")
    return code


def minor(record: Record, field: str, code: str) -> int:
    """An amount field (absent: zero) in minor units."""
    value = record.get(field, 0)
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _bad(record, field, "is not a number")
    try:
        return Money.from_decimal(value, code).amount
    except ValueError as exc:
        raise _bad(record, field, str(exc)) from exc


def timestamp(record: Record, field: str) -> datetime | None:
    value = record.get(field)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) and value else None
    except ValueError:
        return None


def erp_invoice(record: Record) -> ErpInvoice:
    code = currency(record)
    return ErpInvoice(
        internal_id=internal_id(record),
        external_id=text(record, "externalId"),
        reference=text(record, "otherRefNum"),
        customer_id=ref_id(record, "entity"),
        currency=code,
        total=minor(record, "total", code),
        amount_remaining=minor(record, "amountRemaining", code),
        status=text(record, "status"),
        created_at=timestamp(record, "createdDate"),
    )


def erp_credit_memo(record: Record) -> ErpCreditMemo:
    code = currency(record)
    return ErpCreditMemo(
        internal_id=internal_id(record),
        external_id=text(record, "externalId"),
        created_from=ref_id(record, "createdFrom"),
        currency=code,
        total=minor(record, "total", code),
    )


def erp_payment(record: Record) -> ErpPayment:
    """A customer payment with what it applies to each invoice (apply lines marked `apply`)."""
    code = currency(record)
    applied: dict[str, int] = {}
    for line in sublist(record, "apply"):
        doc = ref_id(line, "doc")
        if doc is not None and line.get("apply", True) is not False:
            applied[doc] = applied.get(doc, 0) + minor(line, "amount", code)
    return ErpPayment(
        internal_id=internal_id(record),
        external_id=text(record, "externalId"),
        currency=code,
        amount=minor(record, "payment", code),
        applied=applied,
        created_at=timestamp(record, "createdDate"),
    )


def erp_customer(record: Record) -> ErpCustomer | None:
    """A customer c2c created (external id `{golden}-{entity}`) with its master data; None for any other."""
    external_id = text(record, "externalId") or ""
    parsed = ids.parse_erp_customer_id(external_id)
    if parsed is None:
        return None
    golden_id, entity = parsed
    lines = sublist(record, "addressBook")
    billing = [line for line in lines if line.get("defaultBilling") is True]
    default = billing[-1] if billing else lines[0] if lines else None
    registrations = sublist(record, "taxRegistration")
    return ErpCustomer(
        internal_id=internal_id(record),
        external_id=external_id,
        golden_id=golden_id,
        legal_entity=entity,
        fields=CustomerFields(
            name=text(record, "companyName"),
            address=_address((default or {}).get("addressBookAddress")),
            tax_id=text(registrations[0], "taxRegistrationNumber") if registrations else None,
        ),
    )


def _address(raw: Any) -> Address | None:
    """The default billing address; None when it is not one (the reconciler reports the difference)."""
    if not isinstance(raw, dict):
        return None
    fields = {name: raw.get(name) for name in ("addr1", "addr2", "city", "state", "zip")}
    country = raw.get("country")
    country_id = country.get("id") if isinstance(country, dict) else None
    if not all(value is None or isinstance(value, str) for value in [*fields.values(), country_id]):
        return None
    try:
        return Address(
            line1=fields["addr1"] or "",
            line2=fields["addr2"] or None,
            city=fields["city"] or "",
            region=fields["state"] or None,
            postal_code=fields["zip"] or "",
            country=country_id or "",
        )
    except ValueError:
        return None
