"""HubSpot webhooks v3 verification on its own: the signature over method, decoded URI, body and timestamp, the
five-minute window at its edges, and a signature made with the app's secret by HubSpot's recipe (not ours)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from connectors.hubspot import InvalidWebhook, verify_webhook

SECRET = "app-client-secret"
NOW_MS = 1_780_000_000_000
BODY = json.dumps(
    [
        {
            "eventId": 100,
            "subscriptionId": 1,
            "portalId": 62515,
            "occurredAt": NOW_MS,
            "subscriptionType": "deal.propertyChange",
            "objectId": 1246965,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
        }
    ]
).encode()


def hubspot_signs(uri: str, timestamp: int = NOW_MS) -> str:
    """HubSpot's recipe: base64(HMAC-SHA256(secret, "POST" + URI + body + timestamp)), the URI as HubSpot wrote it."""
    message = b"POST" + uri.encode() + BODY + str(timestamp).encode()
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def test_a_signature_over_the_decoded_uri_verifies_the_encoded_request() -> None:
    # HubSpot signs "…?app=a:b" while the request line carries "%3A"; the documented escapes are decoded first.
    signed = hubspot_signs("https://c2c.example/webhooks/hubspot?app=a:b")
    [event] = verify_webhook(
        "POST", "https://c2c.example/webhooks/hubspot?app=a%3Ab", BODY, signed, str(NOW_MS), SECRET, now=NOW_MS / 1000
    )
    assert (event.dedupe_key, event.object_id, event.stage_change) == ("62515:100", "1246965", True)


@pytest.mark.parametrize(("skew", "accepted"), [(300, True), (-300, True), (301, False), (-301, False)])
def test_the_timestamp_must_be_within_five_minutes(skew: int, accepted: bool) -> None:
    uri = "https://c2c.example/webhooks/hubspot"
    now = NOW_MS / 1000 + skew
    if accepted:
        assert verify_webhook("POST", uri, BODY, hubspot_signs(uri), str(NOW_MS), SECRET, now=now)
        return
    with pytest.raises(InvalidWebhook, match="more than 300s from now"):
        verify_webhook("POST", uri, BODY, hubspot_signs(uri), str(NOW_MS), SECRET, now=now)


@pytest.mark.parametrize(
    ("method", "uri", "body", "timestamp"),
    [
        ("PUT", "https://c2c.example/webhooks/hubspot", BODY, NOW_MS),
        ("POST", "https://other.example/webhooks/hubspot", BODY, NOW_MS),
        ("POST", "https://c2c.example/webhooks/hubspot", BODY.replace(b"closedwon", b"closedlost"), NOW_MS),
        ("POST", "https://c2c.example/webhooks/hubspot", BODY, NOW_MS + 1),
    ],
    ids=["method", "uri", "body", "timestamp"],
)
def test_each_signed_part_matters(method: str, uri: str, body: bytes, timestamp: int) -> None:
    signed = hubspot_signs("https://c2c.example/webhooks/hubspot")
    with pytest.raises(InvalidWebhook, match="signature does not match"):
        verify_webhook(method, uri, body, signed, str(timestamp), SECRET, now=NOW_MS / 1000)
