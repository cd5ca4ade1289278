"""AvaTax's wire conventions: JSON with exact decimal numbers and the `{"error": {...}}` error body."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi.responses import JSONResponse

HELP_LINK = "https://developer.avalara.com/avatax/errors/"


def dumps(value: Any) -> str:
    """JSON text where a Decimal is written as a plain number (`7.25`), never via float."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as JSON")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not written by this emulator; use Decimal")
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def loads(raw: bytes) -> Any:
    """Parse a request body keeping decimal numbers exact."""
    return json.loads(raw, parse_float=Decimal)


class DecimalJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def detail(code: str, number: int, message: str, description: str, *, refers_to: str | None = None) -> dict[str, Any]:
    """One entry of an error's `details`, shaped like AvaTax's ErrorDetail."""
    entry: dict[str, Any] = {
        "code": code,
        "number": number,
        "message": message,
        "description": description,
        "faultCode": "Client",
        "helpLink": HELP_LINK + code,
        "severity": "Error",
    }
    if refers_to is not None:
        entry["refersTo"] = refers_to
    return entry


class AvaTaxError(Exception):
    """Raised by handlers; rendered as AvaTax's ErrorResult with the HTTP status."""

    def __init__(self, status: int, code: str, message: str, target: str, details: list[dict[str, Any]]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.body = {"error": {"code": code, "message": message, "target": target, "details": details}}

    @classmethod
    def single(
        cls,
        status: int,
        code: str,
        number: int,
        message: str,
        description: str,
        *,
        target: str = "Unknown",
        refers_to: str | None = None,
    ) -> AvaTaxError:
        """The common case: one detail repeating the top-level code."""
        return cls(status, code, message, target, [detail(code, number, message, description, refers_to=refers_to)])
