"""Verify a HubSpot webhooks v3 request before anything acts on it, and read its events.

`X-HubSpot-Signature-v3` = base64(HMAC-SHA256(app client secret, method + URI + body + timestamp)), with the
URI as HubSpot called it (a few percent-escapes decoded, as HubSpot's docs list) and the timestamp from
`X-HubSpot-Request-Timestamp` (epoch milliseconds), refused when more than five minutes from now. The body is a
JSON array of up to 100 events; c2c acts on `deal.propertyChange` of `dealstage` and `company.propertyChange` of the
properties a customer's master data is made of.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
TOLERANCE_SECONDS = 300
MAX_EVENTS = 100
STAGE_CHANGE = "deal.propertyChange"
COMPANY_CHANGE = "company.propertyChange"
# The company properties billing and the ERP keep of a customer: a change to one is the customer master's business.
WATCHED_COMPANY_PROPERTIES = frozenset({"name", "address", "address2", "city", "state", "zip", "country", "c2c_tax_id"})
# The escapes HubSpot decodes in the URI before signing (developers.hubspot.com, "Validating requests").
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class InvalidWebhook(ValueError):
    """The request is not a genuine, fresh HubSpot webhook; the message names the problem."""


class HubSpotEvent(BaseModel):
    """One webhook event; ids arrive as JSON numbers and are kept as text."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    event_id: str = Field(alias="eventId", min_length=1, max_length=40)
    portal_id: str = Field(alias="portalId", min_length=1, max_length=40)
    subscription_type: str = Field(alias="subscriptionType", min_length=1, max_length=100)
    object_id: str = Field(alias="objectId", pattern=r"^[0-9]{1,19}$")
    occurred_at: int = Field(alias="occurredAt", ge=0, le=253_402_300_799_999)  # up to year 9999
    property_name: str | None = Field(default=None, alias="propertyName", max_length=200)
    property_value: str | None = Field(default=None, alias="propertyValue", max_length=1000)

    @field_validator("event_id", "portal_id", "object_id", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        return str(value) if isinstance(value, int) else value

    @property
    def dedupe_key(self) -> str:
        """HubSpot's eventId, scoped by portal (its ids are per portal)."""
        return f"{self.portal_id}:{self.event_id}"

    @property
    def stage_change(self) -> bool:
        return self.subscription_type == STAGE_CHANGE and self.property_name == "dealstage"

    @property
    def company_change(self) -> bool:
        return self.subscription_type == COMPANY_CHANGE and self.property_name in WATCHED_COMPANY_PROPERTIES

    @property
    def occurred(self) -> datetime:
        return datetime.fromtimestamp(self.occurred_at / 1000, UTC)


def signed_uri(uri: str) -> str:
    for escape, character in _DECODED.items():
        uri = uri.replace(escape, character).replace(escape.lower(), character)
    return uri


def signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_webhook(
    method: str,
    uri: str,
    body: bytes,
    signature_header: str | None,
    timestamp_header: str | None,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> list[HubSpotEvent]:
    """The events of a request whose v3 signature matches and whose timestamp is fresh, else InvalidWebhook."""
    if not signature_header:
        raise InvalidWebhook(f"missing {SIGNATURE_HEADER} header")
    if not timestamp_header:
        raise InvalidWebhook(f"missing {TIMESTAMP_HEADER} header")
    if not (timestamp_header.isascii() and timestamp_header.isdigit() and len(timestamp_header) <= 15):
        raise InvalidWebhook(f"{TIMESTAMP_HEADER} {timestamp_header[:20]!r} is not epoch milliseconds")
    expected = signature(secret, method, uri, body, timestamp_header)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode("utf-8", "replace")):
        raise InvalidWebhook("signature does not match the request")
    current = time.time() if now is None else now
    if abs(current - int(timestamp_header) / 1000) > tolerance:
        raise InvalidWebhook(f"timestamp {timestamp_header} is more than {tolerance}s from now")
    return parse_events(body)


def parse_events(body: bytes) -> list[HubSpotEvent]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidWebhook(f"malformed JSON body: {exc}") from exc
    if not isinstance(payload, list) or not payload:
        raise InvalidWebhook("malformed body: expected a non-empty JSON array of events")
    if len(payload) > MAX_EVENTS:
        raise InvalidWebhook(f"{len(payload)} events in one request, HubSpot sends at most {MAX_EVENTS}")
    events = []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            raise InvalidWebhook(f"event {index}: not an object")
        try:
            events.append(HubSpotEvent.model_validate(item))
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidWebhook(f"event {index}: {details}") from exc
    return events
