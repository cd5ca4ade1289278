"""The NetSuite emulator as the connector tests read it: its state with exact decimals, the connector pointed at it,
and the records the fuzz tests post."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from canonical import Address, Customer, Invoice, InvoiceLine, Money
from connectors.netsuite import M2MCredentials, NetSuiteErp
from connectors.netsuite.auth import ASSERTION_TYPE, TOKEN_PATH, client_assertion
from estate.netsuite_key import key_pair, self_signed
from sandbox.netsuite.app import create_app
from sandbox.netsuite.auth import certificate_id

# One key pair per test process: its certificate is mapped in every NetSuite emulator the tests start.
CLIENT_ID = "c2c-sandbox"
PRIVATE_KEY, CERTIFICATE = key_pair()
CERTIFICATE_ID = certificate_id(CERTIFICATE)
CREDENTIALS = M2MCredentials(CLIENT_ID, CERTIFICATE_ID, PRIVATE_KEY)
EMULATOR_OPTIONS: dict[str, Any] = {"certificates": [(CLIENT_ID, CERTIFICATE)]}
SETTINGS: dict[str, Any] = {
    "netsuite_client_id": CLIENT_ID,
    "netsuite_certificate_id": CERTIFICATE_ID,
    "netsuite_private_key": PRIVATE_KEY,
}


def worker_env() -> dict[str, str]:
    """The NetSuite credentials of SETTINGS as the C2C_* variables a worker or starter process reads."""
    return {f"C2C_{name.upper()}": value for name, value in SETTINGS.items()}


def netsuite_app(**options: Any) -> FastAPI:
    """A NetSuite emulator of its own that knows the tests' certificate."""
    return create_app(**EMULATOR_OPTIONS, **options)


async def sandbox_state(http: httpx.AsyncClient, base_url: str) -> dict[str, Any]:
    response = await http.get(f"{base_url}/_sandbox/state")
    state: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    return state


def erp_connector(http: httpx.AsyncClient, base_url: str) -> NetSuiteErp:
    """The connector with the tests' credentials."""
    return NetSuiteErp(http, base_url, CREDENTIALS)


def ns_customer() -> Customer:
    return Customer(
        golden_id=f"gc_{uuid.uuid4().hex[:10]}",
        legal_name="Fuzz Corp",
        address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
    )


def ns_invoice(billing_id: str) -> Invoice:
    unit = Money(amount=49_00, currency="USD")
    return Invoice(
        golden_customer_id="gc_1",
        legal_entity="US01",
        currency="USD",
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 31),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT", description="Seat", quantity=2, unit_amount=unit, amount=unit.times(2)
            )
        ],
        tax=Money(amount=8_58, currency="USD"),
        tax_document_code="doc-fuzz",
        number="INV-FUZZ",
        external_refs={"stripe": billing_id},
    )


def token_form(base_url: str, **claims: Any) -> dict[str, str]:
    """The token request's form with the tests' client assertion (`claims` override the assertion's claims)."""
    assertion = client_assertion(CREDENTIALS, f"{base_url}{TOKEN_PATH}", time.time(), **claims)
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


async def access_token(http: httpx.AsyncClient, base_url: str) -> str:
    """A bearer token from the emulator's token endpoint, as the connector gets one (the tests' certificate mapped
    first: the same certificate maps to the same id again)."""
    mapping = {"client_id": CLIENT_ID, "certificate": CERTIFICATE}
    (await http.post(f"{base_url}/_sandbox/certificates", json=mapping)).raise_for_status()
    response = await http.post(f"{base_url}/services/rest/auth/oauth2/v1/token", data=token_form(base_url))
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def rsa_key_pair() -> tuple[str, str]:
    """(private key PEM, self-signed certificate PEM) of a 2048-bit RSA key: NetSuite's PS256 signing."""
    return self_signed(rsa.generate_private_key(public_exponent=65537, key_size=2048), "c2c test RSA", days=1)
