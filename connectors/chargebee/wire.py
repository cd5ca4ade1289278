"""Chargebee API v2 shapes: form bodies in bracket notation, the record and list envelopes, the error body.

Answers are read through these functions only: each checks the shape it relies on and raises ValueError naming the
field, so a vendor answer that is not what the documentation promises is a loud PermanentError, never a KeyError.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

Record = dict[str, Any]

IDEMPOTENCY_HEADER = "chargebee-idempotency-key"
REPLAYED_HEADER = "chargebee-idempotency-replayed"
MAX_KEY_LENGTH = 100  # Chargebee's limit on an idempotency key
MAX_ID_LENGTH = 50  # Chargebee's limit on an id the caller chooses
_ID_CHARS = re.compile(r"^[A-Za-z0-9_.@\-]+$")

UNPAID = ("payment_due", "not_paid", "posted")
INVOICE_STATUSES = ("pending", "posted", "payment_due", "not_paid", "paid", "voided")
CREDIT_REASONS = (
    "write_off",
    "subscription_change",
    "subscription_cancellation",
    "subscription_pause",
    "chargeback",
    "product_unsatisfactory",
    "service_unsatisfactory",
    "order_change",
    "order_cancellation",
    "waiver",
    "other",
)


def encode_form(params: Record) -> list[tuple[str, str]]:
    """Bracket notation: `{"a": {"b": 1}}` -> `a[b]=1`; a list of records -> `name[field][i]`; booleans
    `true`/`false`; None left out. Floats are refused (money is integer minor units)."""
    pairs: list[tuple[str, str]] = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            raise TypeError("floats are not sent where money flows; use integer minor units")
        if isinstance(value, int | str):
            return str(value)
        raise TypeError(f"cannot send {type(value).__name__} in a Chargebee form")

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list):
            for index, row in enumerate(value):
                if not isinstance(row, dict):
                    raise TypeError(f"{prefix}: a list holds records")
                for key, item in row.items():
                    if item is not None:
                        pairs.append((f"{prefix}[{key}][{index}]", scalar(item)))
        else:
            pairs.append((prefix, scalar(value)))

    walk("", params)
    return pairs


def safe_id(prefix: str, natural: str) -> str:
    """An id Chargebee accepts (≤ 50 of `A-Za-z0-9_.@-`) made from our own key: `{prefix}-{natural}`, or a stable
    hash of it when that does not fit, so the same key always names the same record."""
    candidate = f"{prefix}-{natural}"
    if len(candidate) <= MAX_ID_LENGTH and _ID_CHARS.match(candidate):
        return candidate
    return f"{prefix}-" + hashlib.sha256(natural.encode()).hexdigest()[: MAX_ID_LENGTH - len(prefix) - 1]


def idempotency_key(key: str) -> str:
    """Our key as Chargebee takes it (≤ 100 characters): longer ones become a stable hash."""
    return key if len(key) <= MAX_KEY_LENGTH else "c2c-" + hashlib.sha256(key.encode()).hexdigest()


def decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueError("answer is not JSON") from None


# The fields c2c reads of each record, with their JSON type: checked when the record is read.
REQUIRED: dict[str, dict[str, type]] = {
    "invoice": {
        "status": str,
        "currency_code": str,
        "line_items": list,
        "total": int,
        "amount_paid": int,
        "amount_due": int,
    },
    "transaction": {"status": str, "amount": int},
    "subscription": {"status": str, "customer_id": str, "subscription_items": list},
    "item_price": {"item_id": str},
    "credit_note": {"total": int},
}


def record(body: Any, name: str) -> Record:
    """The record under `name` of a single-record answer (`{"invoice": {...}}`), with a string `id` and the
    fields c2c reads of it (`REQUIRED`); ValueError naming `{name}.{field}` otherwise."""
    if not isinstance(body, dict):
        raise ValueError(f"answer is not a JSON object with {name}")
    found = body.get(name)
    if not isinstance(found, dict) or not isinstance(found.get("id"), str) or not found["id"]:
        raise ValueError(f"answer's {name} is not an object with an id")
    for field_name, kind in REQUIRED.get(name, {}).items():
        value = found.get(field_name)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"answer's {name}.{field_name} is not {kind.__name__}: {value!r}"[:200])
    return found


def page(body: Any, name: str) -> tuple[list[Record], str | None]:
    """(records, next_offset) of a list answer `{"list": [{name: {...}}], "next_offset": "..."}`."""
    if not isinstance(body, dict) or not isinstance(body.get("list"), list):
        raise ValueError("answer is not a list envelope")
    records = [record(entry, name) for entry in body["list"]]
    offset = body.get("next_offset")
    if offset is not None and not isinstance(offset, str):
        raise ValueError("answer's next_offset is not a string")
    return records, offset or None


def integer(row: Record, name: str) -> int:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{row.get('id', '?')}.{name} is not a whole number: {value!r}"[:200])
    return value


def text(row: Record, name: str) -> str:
    value = row.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{row.get('id', '?')}.{name} is not text: {value!r}"[:200])
    return value


def records_in(row: Record, name: str) -> Iterator[Record]:
    value = row.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{row.get('id', '?')}.{name} is not a list of objects")
    return iter(value)


def meta_data(row: Record) -> dict[str, str]:
    """A record's `meta_data` (a JSON object) as its string entries."""
    value = row.get("meta_data")
    if not isinstance(value, dict):
        return {}
    return {key: item for key, item in value.items() if isinstance(item, str)}


def error_fields(raw: bytes) -> dict[str, str]:
    """Chargebee's error body as strings (`message`, `type`, `api_error_code`, `param`, `error_code`); empty
    when the body is not one."""
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return {}
    if not isinstance(body, dict):
        return {}
    names = ("message", "type", "api_error_code", "param", "error_code")
    return {name: body[name][:500] for name in names if isinstance(body.get(name), str) and body[name]}
