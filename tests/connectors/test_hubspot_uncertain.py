"""HubSpot writes with their answer lost, retried: the company's and the deal's properties set once, nothing created
(HubSpot has no idempotency key; c2c's writes are PATCHes of absolute values on records that exist), and how each
HubSpot answer classifies into the error taxonomy."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from connectors.errors import PermanentError, TransientError, UncertainOutcome
from connectors.hubspot import classify
from tests.support.hubspot import hubspot_connector, hubspot_state, seed_deal

IMPATIENT = httpx.Timeout(0.3)
LOST_AFTER = 1.0


def _counts(state: dict[str, Any]) -> dict[str, int]:
    return {kind: len(records) for kind, records in state["objects"].items()}


@pytest.mark.parametrize("kind", ["reset_after", "delay_after"])
@pytest.mark.parametrize("write", ["write_back_account", "upsert_contract"])
async def test_a_lost_answer_retried_writes_once_and_creates_nothing(emulators: Any, write: str, kind: str) -> None:
    url = emulators.url("hubspot")
    async with httpx.AsyncClient(timeout=IMPATIENT) as impatient, httpx.AsyncClient(timeout=5.0) as patient:
        (await patient.post(f"{url}/_sandbox/reset")).raise_for_status()
        seeded = await seed_deal(patient, url, dealstage="closedwon")
        deal = await hubspot_connector(patient, url).get_deal(seeded.deal_id)
        before = _counts(await hubspot_state(patient, url))

        async def call(http: httpx.AsyncClient) -> None:
            crm = hubspot_connector(http, url)
            if write == "write_back_account":
                await crm.write_back_account(seeded.company_id, {"golden_id": "gc_9", "billing_id": "cus_9"})
            else:
                await crm.upsert_contract(deal, "sub_9", date(2026, 11, 20), 12)

        target = "companies" if write == "write_back_account" else "deals"
        rule = {"method": "PATCH", "path_prefix": f"/crm/v3/objects/{target}/", "kind": kind, "seconds": LOST_AFTER}
        (await patient.post(f"{url}/_sandbox/faults", json=rule)).raise_for_status()
        with pytest.raises(UncertainOutcome):
            await call(impatient)
        await call(patient)  # the activity's retry
        state = await hubspot_state(patient, url)
        assert _counts(state) == before  # nothing created
        if write == "write_back_account":
            company = next(c for c in state["objects"]["companies"] if c["id"] == seeded.company_id)
            assert (company["properties"]["c2c_golden_id"], company["properties"]["c2c_billing_customer_id"]) == (
                "gc_9",
                "cus_9",
            )
        else:
            [contract] = await hubspot_connector(patient, url).contracts_of(["sub_9"], [])
            assert (contract.contract_id, contract.status) == (seeded.deal_id, "Activated")


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Response(200, json=body).content
    return httpx.Response(status, content=content, headers={"Content-Type": "application/json", **(headers or {})})


def _error(category: str, **extra: Any) -> dict[str, Any]:
    return {"status": "error", "message": "m", "correlationId": "c-1", "category": category, **extra}


@pytest.mark.parametrize(
    ("answer", "kind", "code", "retry_after"),
    [
        (
            _answer(
                429,
                _error("RATE_LIMITS", policyName="TEN_SECONDLY_ROLLING"),
                {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
            ),
            TransientError,
            "TEN_SECONDLY_ROLLING",
            10.0,
        ),
        (
            _answer(429, _error("RATE_LIMITS", policyName="SECONDLY"), {"Retry-After": "2"}),
            TransientError,
            "SECONDLY",
            2.0,
        ),
        (_answer(429, _error("RATE_LIMITS", policyName="DAILY")), TransientError, "DAILY", 3600.0),
        (_answer(423, _error("LOCKED")), TransientError, "LOCKED", 2.0),
        (_answer(502, b"<html>Bad Gateway</html>"), TransientError, "http_502", None),
        (_answer(500, _error("INTERNAL_ERROR")), TransientError, "INTERNAL_ERROR", None),
        (_answer(401, _error("EXPIRED_AUTHENTICATION")), PermanentError, "EXPIRED_AUTHENTICATION", None),
        (_answer(403, _error("MISSING_SCOPES")), PermanentError, "MISSING_SCOPES", None),
        (_answer(404, _error("OBJECT_NOT_FOUND")), PermanentError, "OBJECT_NOT_FOUND", None),
        (_answer(409, _error("CONFLICT")), PermanentError, "CONFLICT", None),
        (_answer(400, _error("VALIDATION_ERROR")), PermanentError, "VALIDATION_ERROR", None),
        (
            _answer(400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"}),
            PermanentError,
            "BAD_REFRESH_TOKEN",
            None,
        ),
        (_answer(400, b"[1, 2]"), PermanentError, "http_400", None),
    ],
)
def test_each_hubspot_answer_classifies(
    answer: httpx.Response, kind: type, code: str, retry_after: float | None
) -> None:
    error = classify(answer)
    assert type(error) is kind
    assert error.code == code
    assert getattr(error, "retry_after", None) == retry_after
    if b"correlationId" in answer.content:
        assert "correlationId c-1" in error.message  # HubSpot support asks for it


async def test_the_chaos_profiles_429_and_5xx_are_hubspots_and_retryable(
    emulators: Any, http: httpx.AsyncClient
) -> None:
    url = emulators.url("hubspot")
    (await http.post(f"{url}/_sandbox/reset")).raise_for_status()
    crm = hubspot_connector(http, url)
    try:
        for kind, code, retry_after in (
            ("status_429", "TEN_SECONDLY_ROLLING", 1.0),
            ("status_5xx", "INTERNAL_ERROR", None),
        ):
            profile = {"seed": 1, "rates": {kind: 1.0}, "paths": ["/crm/"]}
            (await http.post(f"{url}/_sandbox/chaos", json=profile)).raise_for_status()
            with pytest.raises(TransientError) as failed:
                await crm.get_account("1234")
            assert (failed.value.code, failed.value.retry_after) == (code, retry_after)
    finally:
        await http.delete(f"{url}/_sandbox/chaos")
