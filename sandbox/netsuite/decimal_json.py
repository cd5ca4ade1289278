"""JSON with exact decimal numbers: NetSuite sends and receives amounts as JSON numbers, never floats."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def loads(raw: bytes) -> Any:
    """Decode JSON keeping every non-integer number as an exact Decimal."""
    return json.loads(raw, parse_float=Decimal)


def dumps(value: Any) -> str:
    """Encode JSON writing Decimals as plain numbers (`98.10`, not `"98.10"` or `98.09999`)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot encode {value} as a JSON number")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not allowed where money flows; use Decimal")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)
