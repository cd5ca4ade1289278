"""Verify a signed CRM callout (`opportunity.closed_won`, `account.changed`) before anything acts on it.

Header `X-C2C-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; several v1
values may be present while a secret is rotated. Both event types come through the one verification path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SIGNATURE_HEADER = "X-C2C-Signature"
EVENT_TYPE = "opportunity.closed_won"
ACCOUNT_CHANGED = "account.changed"


class InvalidWebhook(ValueError):
    """The request is not a genuine, fresh CRM event; the message names the problem."""


class ClosedWonEvent(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    event_id: str = Field(alias="eventId", min_length=1, max_length=255)  # the dedupe column holds 255
    event_type: Literal["opportunity.closed_won"] = Field(alias="eventType")
    record_id: str = Field(alias="recordId", min_length=15)
    stage_name: str = Field(alias="stageName")
    occurred_at: AwareDatetime = Field(alias="occurredAt")


class AccountChangedEvent(BaseModel):
    """Watched fields of a CRM account changed; `system_modstamp` orders the changes of one account."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    event_id: str = Field(alias="eventId", min_length=1, max_length=255)  # the dedupe column holds 255
    event_type: Literal["account.changed"] = Field(alias="eventType")
    record_id: str = Field(alias="recordId", min_length=15)
    changed_fields: tuple[str, ...] = Field(alias="changedFields", min_length=1)
    system_modstamp: AwareDatetime = Field(alias="systemModstamp")
    occurred_at: AwareDatetime = Field(alias="occurredAt")


_MODELS: dict[str, type[ClosedWonEvent] | type[AccountChangedEvent]] = {
    EVENT_TYPE: ClosedWonEvent,
    ACCOUNT_CHANGED: AccountChangedEvent,
}
_ENVELOPE = ["eventId", "eventType", "recordId", "occurredAt"]


def _required(model: type[BaseModel]) -> list[str]:
    return [field.alias for field in model.model_fields.values() if field.alias]


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidWebhook(f"malformed {SIGNATURE_HEADER} header: {part.strip()!r} is not key=value")
        if key == "t":
            if not (value.isascii() and value.isdigit()):  # isdigit alone admits '²'
                raise InvalidWebhook(f"malformed {SIGNATURE_HEADER} header: timestamp {value!r} is not a number")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidWebhook(f"malformed {SIGNATURE_HEADER} header: needs t= and v1=")
    return timestamp, signatures


def _verify_signature(
    body: bytes, signature_header: str | None, secret: str, now: float | None, tolerance: int
) -> None:
    if not signature_header:
        raise InvalidWebhook(f"missing {SIGNATURE_HEADER} header")
    timestamp, signatures = _parse_header(signature_header)
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidWebhook("signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidWebhook(f"timestamp {timestamp} is outside the tolerance of {tolerance}s")


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidWebhook(f"malformed JSON body: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidWebhook("malformed JSON body: not an object")
    return payload


def _missing(payload: dict[str, Any], names: list[str]) -> None:
    missing = [name for name in names if payload.get(name) in (None, "")]
    if missing:
        raise InvalidWebhook(f"missing fields: {', '.join(missing)}")


def verify_crm_event(
    body: bytes, signature_header: str | None, secret: str, *, now: float | None = None, tolerance: int = 300
) -> ClosedWonEvent | AccountChangedEvent:
    """The event in `body` if the signature matches and is at most `tolerance` seconds old, else InvalidWebhook."""
    _verify_signature(body, signature_header, secret, now, tolerance)
    payload = _payload(body)
    _missing(payload, _ENVELOPE)
    event_type = payload["eventType"]
    model = _MODELS.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        expected = " or ".join(_MODELS)
        raise InvalidWebhook(f"unexpected eventType {payload['eventType']!r}, expected {expected}")
    _missing(payload, _required(model))
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidWebhook(f"invalid event: {details}") from exc


def verify_closed_won(
    body: bytes, signature_header: str | None, secret: str, *, now: float | None = None, tolerance: int = 300
) -> ClosedWonEvent:
    """`verify_crm_event` for endpoints that only start sagas: any other event type is InvalidWebhook."""
    event = verify_crm_event(body, signature_header, secret, now=now, tolerance=tolerance)
    if not isinstance(event, ClosedWonEvent):
        raise InvalidWebhook(f"unexpected eventType {event.event_type!r}, expected {EVENT_TYPE}")
    return event
