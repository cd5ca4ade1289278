"""Chargebee's webhooks: HTTP basic auth (Chargebee signs nothing) and the event envelope.

An event is `{"id", "occurred_at", "event_type", "content": {...}}`; `content` holds the records it concerns whole
(`invoice`, `transaction`, `customer` ...). The event only says "look again": the receiver reads the invoice's
payment back from the API, which is the truth, and deduplicates by event id (delivery is at least once).
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

PAYMENT_EVENTS = frozenset({"payment_succeeded", "payment_failed"})
REFUND_EVENTS = frozenset({"payment_refunded"})  # a refund transaction: c2c's own, or one made in Chargebee
RENEWED = "subscription_renewed"  # content: the subscription and the invoice its renewal made
CANCELLED = "subscription_cancelled"  # content: the subscription (its term ran out, or it was cancelled now)


class InvalidCredentials(ValueError):
    pass


class ChargebeeEvent(BaseModel):
    """What c2c reads of an event: its id and type, the invoice of a payment event, the refund transaction of a
    refund event."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    occurred_at: int
    invoice_id: str | None = None
    transaction_id: str | None = None
    subscription_id: str | None = None


def verify_basic_auth(header: str | None, username: str, password: str) -> None:
    """The `Authorization: Basic ...` the webhook endpoint was configured with; InvalidCredentials otherwise.
    Compared in constant time, both parts, so a wrong guess learns nothing from the timing."""
    if not header or not header.startswith("Basic "):
        raise InvalidCredentials("no basic authorization")
    try:
        given = base64.b64decode(header[6:].strip(), validate=True)
    except ValueError:
        raise InvalidCredentials("basic authorization is not base64") from None
    name, sep, secret = given.partition(b":")
    good_name = hmac.compare_digest(name, username.encode())
    good_secret = hmac.compare_digest(secret, password.encode())
    if not (sep and good_name and good_secret):
        raise InvalidCredentials("wrong username or password")


def _text(body: dict[str, Any], name: str, limit: int = 100) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"event {name} is missing, not text or longer than {limit}")
    return value


def parse_event(raw: bytes) -> ChargebeeEvent:
    """The event in a webhook body; ValueError naming the field that is missing or of the wrong type."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError("event is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("event is not a JSON object")
    event_id, event_type = _text(body, "id"), _text(body, "event_type")
    occurred = body.get("occurred_at")
    if isinstance(occurred, bool) or not isinstance(occurred, int) or occurred < 0:
        raise ValueError("event occurred_at is not a unix time")
    content = body.get("content")
    if not isinstance(content, dict):
        raise ValueError("event content is not an object")
    invoice_id = subscription_id = transaction_id = None
    if event_type in PAYMENT_EVENTS or event_type == RENEWED:
        invoice_id = _text(_record(content, event_type, "invoice"), "id", 50)
    if event_type in (RENEWED, CANCELLED):
        subscription_id = _text(_record(content, event_type, "subscription"), "id", 50)
    if event_type in REFUND_EVENTS:
        transaction_id = _text(_record(content, event_type, "transaction"), "id", 50)
    return ChargebeeEvent(
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred,
        invoice_id=invoice_id,
        transaction_id=transaction_id,
        subscription_id=subscription_id,
    )


def _record(content: dict[str, Any], event_type: str, name: str) -> dict[str, Any]:
    found = content.get(name)
    if not isinstance(found, dict):
        raise ValueError(f"{event_type} event content.{name} is not an object")
    return found
