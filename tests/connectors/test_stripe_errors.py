"""Stripe's error answers and webhook signatures, mapped to the taxonomy and verified."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.errors import BusinessRuleError, ConnectorError, PermanentError, TransientError
from connectors.stripe import (
    InvalidSignature,
    StripeBilling,
    classify,
    verify_event,
)
from sandbox.stripe.webhooks import signature_header
from tests.support.stripe import SECRET, arm


async def test_wrong_api_key_is_permanent(http: httpx.AsyncClient, stripe_url: str) -> None:
    billing = StripeBilling(http, stripe_url, "sk_live_oops")

    with pytest.raises(PermanentError) as denied:
        await billing.get_invoice("in_x")

    assert denied.value.status == 401
    assert "Invalid API Key" in denied.value.message


async def test_unknown_invoice_is_permanent_resource_missing(billing: StripeBilling) -> None:
    with pytest.raises(PermanentError) as missing:
        await billing.finalize_invoice("in_missing", idempotency_key="wf22:finalize")

    assert (missing.value.code, missing.value.status) == ("resource_missing", 404)


def _error(type_: str, code: str | None = None, **extra: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "message": f"{type_} happened", **extra}
    if code:
        body["code"] = code
    return {"error": body}


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "code", "retry_after"),
    [
        (
            400,
            {"Stripe-Should-Retry": "true"},
            _error("invalid_request_error", "lock_timeout"),
            TransientError,
            "lock_timeout",
            None,
        ),
        (500, {"Stripe-Should-Retry": "false"}, _error("api_error"), PermanentError, "api_error", None),
        (
            402,
            {"Stripe-Should-Retry": "false"},
            _error("card_error", "card_declined", decline_code="do_not_honor"),
            BusinessRuleError,
            "do_not_honor",
            None,
        ),
        (
            402,
            {},
            _error("card_error", "card_declined", decline_code="insufficient_funds"),
            BusinessRuleError,
            "insufficient_funds",
            None,
        ),
        (402, {}, _error("card_error", "expired_card"), BusinessRuleError, "expired_card", None),
        (429, {"Retry-After": "2"}, _error("invalid_request_error", "rate_limit"), TransientError, "rate_limit", 2.0),
        (500, {}, _error("api_error"), TransientError, "api_error", None),
        (503, {}, "upstream unavailable", TransientError, "http_503", None),
        (409, {}, _error("idempotency_error"), TransientError, "idempotency_error", None),
        (409, {}, _error("invalid_request_error", "lock_timeout"), TransientError, "lock_timeout", None),
        (400, {}, _error("idempotency_error"), PermanentError, "idempotency_error", None),
        (
            400,
            {},
            _error("invalid_request_error", "parameter_missing", param="customer"),
            PermanentError,
            "parameter_missing",
            None,
        ),
        (401, {}, _error("invalid_request_error"), PermanentError, "invalid_request_error", None),
        (403, {}, _error("invalid_request_error", "secret_key_required"), PermanentError, "secret_key_required", None),
        (404, {}, _error("invalid_request_error", "resource_missing"), PermanentError, "resource_missing", None),
    ],
)
async def test_classify_maps_every_stripe_error_to_the_taxonomy(
    billing: StripeBilling,
    http: httpx.AsyncClient,
    stripe_url: str,
    status: int,
    headers: dict[str, str],
    body: Any,
    kind: type[ConnectorError],
    code: str,
    retry_after: float | None,
) -> None:
    await arm(
        http,
        stripe_url,
        method="GET",
        path_prefix="/v1/invoices/",
        kind="status",
        status=status,
        headers=headers,
        body=body,
    )

    with pytest.raises(kind) as raised:
        await billing.get_invoice("in_anything")

    error = raised.value
    assert type(error) is kind
    assert (error.code, error.status) == (code, status)
    if retry_after is not None:
        assert isinstance(error, TransientError)
        assert error.retry_after == retry_after


def test_classify_lets_success_through() -> None:
    assert classify(httpx.Response(200, json={"id": "in_1"})) is None


PAYLOAD = b'{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount_paid":1000}}}'


def test_verify_event_accepts_a_fresh_signature_among_several() -> None:
    good = signature_header(PAYLOAD, SECRET, 1_700_000_000)
    rotated = f"{good},v1={'0' * 64},v0=legacy"

    event = verify_event(PAYLOAD, rotated, SECRET, now=1_700_000_100)

    assert event["id"] == "evt_1"
    assert event["data"]["object"]["amount_paid"] == 1000


@pytest.mark.parametrize(
    ("header", "payload", "problem"),
    [
        (None, PAYLOAD, "missing Stripe-Signature"),
        ("t=1700000000", PAYLOAD, "no v1 signature"),
        ("v1=abc", PAYLOAD, "no timestamp"),
        ("t=soon,v1=abc", PAYLOAD, "not an integer"),
        ("t=1700000000,garbage", PAYLOAD, "malformed"),
        (signature_header(PAYLOAD, "whsec_other", 1_700_000_000), PAYLOAD, "no v1 signature matches"),
        (signature_header(PAYLOAD, SECRET, 1_700_000_000), PAYLOAD + b" ", "no v1 signature matches"),
        (signature_header(PAYLOAD, SECRET, 1_699_999_000), PAYLOAD, "outside the 300s tolerance"),
        (signature_header(b"[1]", SECRET, 1_700_000_000), b"[1]", "not a JSON object"),
        (signature_header(b"nope", SECRET, 1_700_000_000), b"nope", "not JSON"),
    ],
)
def test_verify_event_rejects_what_stripe_did_not_sign_just_now(
    header: str | None, payload: bytes, problem: str
) -> None:
    with pytest.raises(InvalidSignature, match=problem):
        verify_event(payload, header, SECRET, now=1_700_000_000)


@pytest.mark.parametrize("secret", ["whsec_old", "whsec_new"])
@pytest.mark.parametrize("skew", [-300, 300])
def test_while_a_secret_is_rolled_either_secret_verifies_within_the_tolerance_both_ways(secret: str, skew: int) -> None:
    signed_at = 1_700_000_000
    header = signature_header(PAYLOAD, ["whsec_old", "whsec_new"], signed_at)
    beyond = skew + (1 if skew > 0 else -1)

    assert verify_event(PAYLOAD, header, secret, now=signed_at + skew)["id"] == "evt_1"
    with pytest.raises(InvalidSignature, match="outside the 300s tolerance"):
        verify_event(PAYLOAD, header, secret, now=signed_at + beyond)
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        verify_event(PAYLOAD, header, "whsec_retired", now=signed_at)
