"""The Chargebee emulator for tests: the official SDK pointed at it, and a connector on a fresh site."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.chargebee.app import API_KEY, SITE


def sdk(url: str, monkeypatch: Any) -> Any:
    """Chargebee's official Python SDK (v3) talking plain HTTP to the emulator at `url`."""
    from chargebee import Chargebee

    # The SDK builds https://{site}.chargebee.com/api/v2 and picks the scheme from a class attribute.
    monkeypatch.setattr(Chargebee, "verify_ca_certs", False)
    client = Chargebee(api_key=API_KEY, site=SITE, protocol="http")
    client.env.api_endpoint = f"{url}/api/v2"
    return client


def reset(url: str) -> None:
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    httpx.delete(f"{url}/_sandbox/faults").raise_for_status()


def state(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{url}/_sandbox/state").json()
    return answer


def arm(url: str, **rule: Any) -> None:
    httpx.post(f"{url}/_sandbox/faults", json=rule).raise_for_status()
