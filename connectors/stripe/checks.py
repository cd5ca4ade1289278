"""`checked`: a Stripe answer validated against its shape in `wire` before any of it is read.

Validation is strict (no text taken for a number, no float for an integer) and keeps only the declared fields; a
mismatch is a PermanentError 'bad_response' naming the fields at fault, never their values (an answer may carry
customer data)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from connectors.errors import PermanentError
from connectors.stripe.errors import SYSTEM

Shape = TypeVar("Shape")

_TYPE_TAGS = frozenset({"str", "int", "bool", "none"})


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(shape: type) -> TypeAdapter[Any]:
    """One adapter per shape: building one compiles a validator."""
    if shape not in _ADAPTERS:
        _ADAPTERS[shape] = TypeAdapter(shape)
    return _ADAPTERS[shape]


def checked(shape: type[Shape], data: Any) -> Shape:
    """`data` as `shape` (a TypedDict of `wire`), or PermanentError naming what does not fit."""
    try:
        adapter = _adapter(shape)
        result: Shape = adapter.validate_python(data, strict=True)
    except ValidationError as exc:
        problems = sorted({f"{_field(error['loc'])} ({error['msg']})" for error in exc.errors()})
        raise PermanentError(
            SYSTEM, "bad_response", f"unexpected {shape.__name__}: {'; '.join(problems[:5])}", status=200
        ) from None
    return result


def _field(loc: tuple[int | str, ...]) -> str:
    """The field's path in the answer, without the union members pydantic names in it (`Invoice`, `str`, …)."""
    parts = [
        str(part)
        for part in loc
        if not (isinstance(part, str) and (part[:1].isupper() or "[" in part or part in _TYPE_TAGS))
    ]
    return ".".join(parts) or "the body"
