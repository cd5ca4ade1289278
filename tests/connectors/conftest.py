"""Fixtures of the connector tests: a freshly reset Stripe emulator and the connector pointed at it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.stripe import (
    StripeBilling,
)
from tests.support.stripe import API_KEY


@pytest.fixture
async def stripe_url(emulators: Any, http: httpx.AsyncClient) -> str:
    url: str = emulators.url("stripe")
    (await http.post(f"{url}/_sandbox/reset")).raise_for_status()
    (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()
    return url


@pytest.fixture
def billing(http: httpx.AsyncClient, stripe_url: str) -> StripeBilling:
    return StripeBilling(http, stripe_url, API_KEY)
