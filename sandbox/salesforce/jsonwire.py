"""JSON in and out with exact decimals: Salesforce sends currency and number fields as JSON numbers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import Response

JsonValue = Any


def loads(raw: bytes) -> JsonValue:
    """Parse JSON keeping numbers with a fraction as Decimal (never float)."""
    return json.loads(raw, parse_float=Decimal)


def dumps(value: JsonValue) -> bytes:
    """Serialise JSON writing Decimals as plain JSON numbers."""
    return _encode(value).encode()


def _encode(value: JsonValue) -> str:
    if value is None or isinstance(value, bool | str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot encode {value} as JSON")
        return format(value, "f")
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def json_response(value: JsonValue, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(value), status_code=status_code, headers=headers, media_type="application/json")
