"""Fixtures of the connector tests: freshly reset Stripe and NetSuite emulators and the connectors pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from connectors.netsuite import NetSuiteErp
from connectors.stripe import (
    StripeBilling,
)
from tests.support.netsuite import erp_connector
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


@pytest.fixture
async def netsuite_url(emulators: Any, http: httpx.AsyncClient) -> AsyncIterator[str]:
    url: str = emulators.url("netsuite")
    await http.delete(f"{url}/_sandbox/faults")
    await http.post(f"{url}/_sandbox/reset")
    yield url
    # Periods are account-wide in the session's emulator: reopen them for the tests that run next.
    await http.post(f"{url}/_sandbox/reset")


@pytest.fixture
def erp(http: httpx.AsyncClient, netsuite_url: str) -> NetSuiteErp:
    return erp_connector(http, netsuite_url)
