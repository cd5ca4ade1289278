"""Stripe webhooks: verify `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>`, then read
the payment events that concern a saga (`payment_notice`).

Stripe delivers at least once and in no particular order: a notice may come late, twice, or after a later one.
It only says "look again": `StripeBilling.complete_notice` fills what the event lacks and
`StripeBilling.payment_for_invoice` reads the payment as it is now."""

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


class PaymentNotice(BaseModel):
    """A payment notice: which event, when Stripe created it, and what it concerns, as far as the object says.

    `invoice_id` / `payment_intent_id` / `saga_id` are None when the event's object does not carry them
    (an intent names its invoice in API 2020-08-27, a charge names both; only an invoice carries our saga id in
    its metadata `c2c_saga`): `StripeBilling.complete_notice` reads them from the API."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: str
    invoice_id: str | None = None
    payment_intent_id: str | None = None
    saga_id: str | None = None
    created: int


def payment_notice(event: dict[str, Any]) -> PaymentNotice | None:
    """The notice in an `invoice.paid` / `invoice.payment_failed` / `payment_intent.succeeded` /
    `payment_intent.payment_failed` / `charge.refunded` / `charge.dispute.created` event; None for any other type.

    A verified event of those types that is malformed raises ValueError naming the problem."""
    kind = wire.PAYMENT_NOTICE_TYPES.get(str(event.get("type")))
    if kind is None:
        return None
    event_id, created = event.get("id"), event.get("created")
    label = f"{event['type']} event {event_id!r}"
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"{label} has no id")
    if len(event_id) > 255:  # Stripe's ids are short; the dedupe column holds 255
        raise ValueError(f"{event['type']} event id is {len(event_id)} characters long")
    if isinstance(created, bool) or not isinstance(created, int):
        raise ValueError(f"{label} has no integer `created` time")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise ValueError(f"{label} carries no object")
    if obj.get("object") != kind or not isinstance(obj.get("id"), str) or not obj["id"]:
        raise ValueError(f"{label} carries {obj.get('object')!r} {obj.get('id')!r}, not a {kind} with an id")
    links = {
        "invoice": {"invoice_id": obj["id"], "payment_intent_id": _linked_id(obj, "payment_intent", label)},
        "payment_intent": {"invoice_id": _linked_id(obj, "invoice", label), "payment_intent_id": obj["id"]},
        "charge": {
            "invoice_id": _linked_id(obj, "invoice", label),
            "payment_intent_id": _linked_id(obj, "payment_intent", label),
        },
        # A dispute names its charge and intent, never the invoice: complete_notice reads it from the intent.
        "dispute": {"invoice_id": None, "payment_intent_id": _linked_id(obj, "payment_intent", label)},
    }[kind]
    return PaymentNotice(event_id=event_id, type=event["type"], created=created, saga_id=_saga_of(obj, label), **links)


def _linked_id(obj: dict[str, Any], field: str, label: str) -> str | None:
    """The id in `obj[field]`: a string, an expanded object or nothing (newer API versions drop some links)."""
    value = obj.get(field)
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or (isinstance(value, str) and value):
        return value
    raise ValueError(f"{label}: {obj['object']}.{field} is {value!r}, not an id")


def _saga_of(obj: dict[str, Any], label: str) -> str | None:
    metadata = obj.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ValueError(f"{label}: {obj['object']}.metadata is not an object")
    saga = metadata.get(wire.META_SAGA)
    return saga if isinstance(saga, str) and saga else None


RENEWAL_EVENT_TYPES = ("invoice.created", "invoice.finalized")


def renewal_invoice_id(event: dict[str, Any]) -> str | None:
    """The invoice of an `invoice.created` / `invoice.finalized` event Stripe sent for a period end
    (`billing_reason: subscription_cycle`); None for any other event. The event only says "look again": the
    caller reads the invoice back (`StripeBilling.renewal_invoice`)."""
    if event.get("type") not in RENEWAL_EVENT_TYPES:
        return None
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or obj.get("billing_reason") != wire.BILLING_REASON_CYCLE:
        return None
    if obj.get("object") != "invoice" or not isinstance(obj.get("id"), str) or not obj["id"]:
        raise ValueError(f"{event['type']} event {event.get('id')!r} carries no invoice with an id")
    if not isinstance(event.get("id"), str) or not event["id"] or len(event["id"]) > 255:
        raise ValueError(f"{event['type']} event has no usable id")
    return str(obj["id"])


def ended_subscription_id(event: dict[str, Any]) -> str | None:
    """The subscription of a `customer.subscription.deleted` event (billing ended it); None for any other event.
    The caller reads it back (`StripeBilling.subscription_end`)."""
    if event.get("type") != "customer.subscription.deleted":
        return None
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or obj.get("object") != "subscription" or not isinstance(obj.get("id"), str):
        raise ValueError(f"{event['type']} event {event.get('id')!r} carries no subscription with an id")
    if not obj["id"] or not isinstance(event.get("id"), str) or not event["id"] or len(event["id"]) > 255:
        raise ValueError(f"{event['type']} event has no usable id")
    return str(obj["id"])
