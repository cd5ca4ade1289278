"""Stripe webhooks: verify `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>`, then read
the invoice events that concern a saga (`invoice_event`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from connectors.stripe import wire


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


class InvoiceEvent(BaseModel):
    """An invoice payment notice: which event, which invoice, and the saga (workflow id) that owns it.

    Only a notification: read the payment from the API (`StripeBilling.payment_for_invoice`) before acting."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: str
    invoice_id: str
    saga_id: str | None = None


def invoice_event(event: dict[str, Any]) -> InvoiceEvent | None:
    """The notice in an `invoice.paid` / `invoice.payment_failed` event (saga from metadata `c2c_saga`);
    None for any other event type. A verified event of those types without an invoice raises ValueError."""
    if event.get("type") not in wire.INVOICE_EVENT_TYPES:
        return None
    data = event.get("data")
    invoice = data.get("object") if isinstance(data, dict) else None
    if not isinstance(invoice, dict) or not isinstance(invoice.get("id"), str) or not isinstance(event.get("id"), str):
        raise ValueError(f"{event.get('type')} event {event.get('id')!r} carries no invoice")
    metadata = invoice.get("metadata")
    saga = metadata.get(wire.META_SAGA) if isinstance(metadata, dict) else None
    return InvoiceEvent(
        event_id=event["id"],
        type=event["type"],
        invoice_id=invoice["id"],
        saga_id=saga if isinstance(saga, str) and saga else None,
    )
