"""Stripe's form encoding: nested dicts and lists flattened to `a[b][0][c]=v` pairs."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def encode_form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten `params` as stripe-python does; None values are left out, booleans become true/false."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        key = f"{prefix}[{name}]" if prefix else str(name)
        pairs.extend(_encode_value(key, value))
    return pairs


def _encode_value(key: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return encode_form(value, key)
    if isinstance(value, list | tuple):
        pairs: list[tuple[str, str]] = []
        for index, item in enumerate(value):
            pairs.extend(_encode_value(f"{key}[{index}]", item))
        return pairs
    if isinstance(value, bool):
        return [(key, "true" if value else "false")]
    if isinstance(value, float):
        raise TypeError(f"{key}: floats are not sent to Stripe; use int minor units or Decimal")
    if isinstance(value, int | str | Decimal):
        return [(key, str(value))]
    raise TypeError(f"{key}: cannot form-encode {type(value).__name__}")
