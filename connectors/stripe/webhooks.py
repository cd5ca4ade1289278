"""Verify a Stripe webhook: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any


class InvalidSignature(ValueError):
    """The webhook did not come from Stripe (or was replayed too late): never act on it."""


def verify_event(
    payload: bytes, sig_header: str | None, secret: str, *, now: float | None = None, tolerance: int = 300
) -> dict[str, Any]:
    """The event as a dict (decimals exact) once a `v1` signature matches and the timestamp is fresh."""
    if not sig_header:
        raise InvalidSignature("missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in sig_header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidSignature(f"malformed Stripe-Signature element {part.strip()!r}")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature(f"timestamp {value!r} is not an integer") from None
        elif name == "v1":
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignature("no timestamp (t=) in Stripe-Signature header")
    if not signatures:
        raise InvalidSignature("no v1 signature in Stripe-Signature header")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("no v1 signature matches the payload for this secret")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        raise InvalidSignature(f"timestamp is {int(age)}s away from now, outside the {tolerance}s tolerance")
    try:
        event = json.loads(payload, parse_float=Decimal)
    except ValueError:
        raise InvalidSignature("payload is not JSON") from None
    if not isinstance(event, dict):
        raise InvalidSignature("payload is not a JSON object")
    return event
