"""Faults every emulator can produce: connection resets before and after the write, lost responses, and the
seeded chaos profile (reproducible draws, counters, vendor error bodies the connectors classify as transient)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors.avatax.errors import classify as avatax_classify
from connectors.errors import ConnectorError, TransientError, UncertainOutcome
from connectors.kit import send
from connectors.netsuite.errors import classify as netsuite_classify
from connectors.salesforce.errors import classify as salesforce_classify
from connectors.stripe.errors import classify as stripe_classify
from sandbox.__main__ import chaos_profiles, chaos_spec, system_seed
from sandbox.faults import KINDS, ChaosRates, vendor_error
from sandbox.server import build_app
from tests.support.netsuite import access_token
from tests.support.servers import RunningServer

STRIPE_AUTH = {"Authorization": "Bearer sk_test_faults"}

Serve = Callable[[Any], RunningServer]


@pytest.fixture
def stripe(own_server: Serve) -> str:
    """A Stripe emulator of this test alone: faults armed here touch no other test."""
    return own_server(build_app("stripe")).url


async def customers(http: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    state = (await http.get(f"{url}/_sandbox/state")).json()
    result: list[dict[str, Any]] = state["customers"]
    return result


def create_customer(http: httpx.AsyncClient, url: str, name: str) -> httpx.Request:
    return http.build_request("POST", f"{url}/v1/customers", data={"name": name}, headers=STRIPE_AUTH)


async def test_reset_drops_the_connection_before_anything_is_written(http: httpx.AsyncClient, stripe: str) -> None:
    rule = {"kind": "reset", "method": "POST", "path_prefix": "/v1/customers"}
    (await http.post(f"{stripe}/_sandbox/faults", json=rule)).raise_for_status()
    with pytest.raises(httpx.TransportError):
        await http.send(create_customer(http, stripe, "Reset Co"))
    assert await customers(http, stripe) == []
    # The connector sees a write whose outcome it cannot know.
    (await http.post(f"{stripe}/_sandbox/faults", json=rule)).raise_for_status()
    with pytest.raises(UncertainOutcome):
        await send(http, "stripe", create_customer(http, stripe, "Reset Co"), stripe_classify)
    assert await customers(http, stripe) == []


async def test_reset_after_writes_then_drops_the_connection(http: httpx.AsyncClient, stripe: str) -> None:
    rule = {"kind": "reset_after", "method": "POST", "path_prefix": "/v1/customers"}
    (await http.post(f"{stripe}/_sandbox/faults", json=rule)).raise_for_status()
    with pytest.raises(UncertainOutcome):
        await send(http, "stripe", create_customer(http, stripe, "Written Co"), stripe_classify)
    assert [c["name"] for c in await customers(http, stripe)] == ["Written Co"]
    # The connection pool recovers: the next request is answered normally.
    response = await http.send(create_customer(http, stripe, "Next Co"))
    assert response.status_code == 200


async def test_a_reset_read_is_retryable(http: httpx.AsyncClient, stripe: str) -> None:
    rule = {"kind": "reset", "method": "GET", "path_prefix": "/v1/customers"}
    (await http.post(f"{stripe}/_sandbox/faults", json=rule)).raise_for_status()
    request = http.build_request("GET", f"{stripe}/v1/customers/cus_missing", headers=STRIPE_AUTH)
    with pytest.raises(TransientError) as raised:
        await send(http, "stripe", request, stripe_classify)
    assert not isinstance(raised.value, UncertainOutcome)


async def test_a_lost_response_is_a_timeout_after_the_write(http: httpx.AsyncClient, stripe: str) -> None:
    profile = {"seed": 1, "rates": {"lost_response": 1.0}, "lost_response_seconds": 1.0}
    (await http.post(f"{stripe}/_sandbox/chaos", json=profile)).raise_for_status()
    async with httpx.AsyncClient(timeout=0.3) as impatient:
        with pytest.raises(UncertainOutcome):
            await send(impatient, "stripe", create_customer(impatient, stripe, "Late Co"), stripe_classify)
    assert [c["name"] for c in await customers(http, stripe)] == ["Late Co"]


async def chaos_outcomes(http: httpx.AsyncClient, url: str, profile: dict[str, Any], n: int) -> list[str]:
    """What `n` reads get under `profile`: a status code, or the transport error's class name."""
    (await http.post(f"{url}/_sandbox/chaos", json=profile)).raise_for_status()
    outcomes = []
    for _ in range(n):
        try:
            # A generous timeout: on a loaded machine a plain answer can take seconds, and must not read as a fault.
            response = await http.get(f"{url}/v1/customers/cus_none", headers=STRIPE_AUTH, timeout=20)
            outcomes.append(str(response.status_code))
        except httpx.TransportError as error:
            outcomes.append(type(error).__name__)
    return outcomes


PROFILE = {
    "seed": 4242,
    "rates": {"latency": 0.1, "status_5xx": 0.15, "status_429": 0.15, "reset": 0.1, "reset_after": 0.1},
    "latency_seconds": 0.01,
}


async def test_the_same_seed_injects_the_same_faults_and_counts_them(
    http: httpx.AsyncClient, own_server: Serve
) -> None:
    first, second = own_server(build_app("stripe")).url, own_server(build_app("stripe")).url
    outcomes = await chaos_outcomes(http, first, PROFILE, 60)
    assert await chaos_outcomes(http, second, PROFILE, 60) == outcomes
    assert {"404", "429", "ReadError"} <= set(outcomes)
    assert {"500", "502", "503"} & set(outcomes)

    report = (await http.get(f"{first}/_sandbox/chaos")).json()
    injected = report["injected"]
    assert report["requests"] == 60
    assert set(injected) == set(KINDS)
    assert injected["status_429"] == outcomes.count("429")
    assert injected["status_5xx"] == sum(outcomes.count(code) for code in ("500", "502", "503"))
    assert injected["reset"] + injected["reset_after"] == outcomes.count("ReadError")
    assert injected["lost_response"] == 0
    assert report["injected_writes"] == dict.fromkeys(KINDS, 0)  # reads only

    other = await chaos_outcomes(http, second, {**PROFILE, "seed": 4243}, 60)
    assert other != outcomes


async def test_chaos_off_keeps_the_counts_and_a_new_profile_zeroes_them(http: httpx.AsyncClient, stripe: str) -> None:
    await chaos_outcomes(http, stripe, {"seed": 1, "rates": {"status_5xx": 1.0}}, 3)
    off = (await http.delete(f"{stripe}/_sandbox/chaos")).json()
    assert (off["enabled"], off["injected"]["status_5xx"]) == (False, 3)
    response = await http.get(f"{stripe}/v1/customers/cus_none", headers=STRIPE_AUTH)
    assert response.status_code == 404  # handled normally again
    assert (await http.get(f"{stripe}/_sandbox/chaos")).json()["injected"]["status_5xx"] == 3
    again = (await http.post(f"{stripe}/_sandbox/chaos", json={"seed": 2})).json()
    assert (again["enabled"], again["requests"], sum(again["injected"].values())) == (True, 0, 0)


async def test_admin_paths_are_never_faulted_and_paths_narrow_the_profile(http: httpx.AsyncClient, stripe: str) -> None:
    profile = {"seed": 1, "rates": {"status_5xx": 1.0}, "paths": ["/v1/invoices"]}
    (await http.post(f"{stripe}/_sandbox/chaos", json=profile)).raise_for_status()
    assert (await http.get(f"{stripe}/_sandbox/state")).status_code == 200
    assert (await http.get(f"{stripe}/v1/customers/cus_none", headers=STRIPE_AUTH)).status_code == 404
    assert (await http.get(f"{stripe}/v1/invoices/in_none", headers=STRIPE_AUTH)).status_code >= 500
    assert (await http.get(f"{stripe}/_sandbox/chaos")).json()["requests"] == 1


async def test_rates_above_one_in_total_are_refused(http: httpx.AsyncClient, stripe: str) -> None:
    profile = {"seed": 1, "rates": {"status_5xx": 0.6, "reset": 0.6}}
    assert (await http.post(f"{stripe}/_sandbox/chaos", json=profile)).status_code == 422


VENDORS = [
    ("stripe", "/v1/customers", stripe_classify, "api_error", "rate_limit"),
    ("salesforce", "/services/data/v60.0/query", salesforce_classify, "SERVER_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"),
    ("avatax", "/api/v2/transactions/createoradjust", avatax_classify, "ServerUnreachable", "TooManyRequests"),
    (
        "netsuite",
        "/services/rest/record/v1/invoice",
        netsuite_classify,
        "UNEXPECTED_ERROR",
        "CONCURRENCY_LIMIT_EXCEEDED",
    ),
]


async def credentials(http: httpx.AsyncClient, name: str, url: str) -> dict[str, str]:
    """Headers that get a request past the emulator's own authentication (NetSuite's runs before faults)."""
    if name == "stripe":
        return STRIPE_AUTH
    if name == "netsuite":
        token = await access_token(http, url)
        return {"Authorization": f"Bearer {token}"}
    return {}


@pytest.mark.parametrize(("name", "path", "classify", "server_code", "busy_code"), VENDORS)
async def test_injected_errors_speak_the_vendors_format_and_classify_as_transient(
    http: httpx.AsyncClient,
    own_server: Serve,
    name: str,
    path: str,
    classify: Callable[[httpx.Response], ConnectorError | None],
    server_code: str,
    busy_code: str,
) -> None:
    url = own_server(build_app(name)).url
    headers = await credentials(http, name, url)
    profile = {"seed": 7, "rates": {"status_429": 1.0}, "retry_after_seconds": 2}
    (await http.post(f"{url}/_sandbox/chaos", json=profile)).raise_for_status()
    busy = await http.post(f"{url}{path}", content=b"{}", headers=headers)
    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "2")
    error = classify(busy)
    assert isinstance(error, TransientError)
    assert (error.code, error.retry_after) == (busy_code, 2.0)

    (await http.post(f"{url}/_sandbox/chaos", json={"seed": 7, "rates": {"status_5xx": 1.0}})).raise_for_status()
    down = await http.get(f"{url}{path}", headers=headers)
    assert down.status_code in (500, 502, 503)
    error = classify(down)
    assert isinstance(error, TransientError)
    assert error.code == server_code


def test_every_vendor_error_body_differs_by_path() -> None:
    bodies = {path: vendor_error(path, 503) for _, path, *_ in VENDORS}
    assert len({str(body) for body in bodies.values()}) == len(VENDORS)
    assert vendor_error("/elsewhere", 429) == {"error": {"code": "too_many_requests", "message": "HTTP 429"}}


def test_the_cli_chaos_options_give_each_emulator_its_own_stable_seed() -> None:
    spec = chaos_spec(5, 0.02, None)
    assert spec is not None
    profiles = chaos_profiles(spec)
    assert set(profiles) == {"salesforce", "stripe", "avatax", "netsuite", "xero", "hubspot", "chargebee"}
    assert len({p.seed for p in profiles.values()}) == len(profiles)  # one seed each
    assert profiles["stripe"].seed == system_seed(5, "stripe") == system_seed(5, "stripe")
    assert profiles["avatax"].rates == ChaosRates.uniform(0.02)
    assert chaos_spec(None, None, None) is None


def test_a_chaos_profile_json_can_scale_one_system_down() -> None:
    spec = chaos_spec(None, None, '{"seed": 9, "rates": {"reset": 0.2}, "systems": {"salesforce": {"rates": {}}}}')
    assert spec is not None
    profiles = chaos_profiles(spec)
    assert (profiles["stripe"].rates.reset, profiles["salesforce"].rates.reset) == (0.2, 0.0)
    with pytest.raises(ValueError, match="unknown emulators"):
        chaos_profiles({"seed": 1, "systems": {"sap": {}}})
