"""Settings come from C2C_* variables; Temporal's own TEMPORAL_ADDRESS works too."""

from __future__ import annotations

from pathlib import Path

import pytest

from canonical import Vendors
from settings import Settings


def test_defaults_point_at_the_local_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEMPORAL_ADDRESS", "C2C_TEMPORAL_ADDRESS", "C2C_STRIPE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.temporal_address == "localhost:7233"
    assert settings.stripe_url == "http://127.0.0.1:8702"


def test_temporal_address_from_temporals_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("C2C_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.prod:7233")
    assert Settings(_env_file=None).temporal_address == "temporal.prod:7233"
    monkeypatch.setenv("C2C_TEMPORAL_ADDRESS", "ours:7233")
    assert Settings(_env_file=None).temporal_address == "ours:7233"


def test_vendor_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_STRIPE_URL", "https://api.stripe.com")
    monkeypatch.setenv("C2C_BILLING_RATE_LIMIT", "25")
    settings = Settings(_env_file=None)
    assert (settings.stripe_url, settings.billing_rate_limit) == ("https://api.stripe.com", 25.0)
    assert Settings(_env_file=None, temporal_address="x:1").temporal_address == "x:1"


def test_payload_keys_come_from_the_variable_or_else_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("C2C_PAYLOAD_KEYS", raising=False)
    keys = tmp_path / "payload-keys"
    assert Settings(_env_file=None, payload_keys_file=str(keys)).encryption_keys() is None
    keys.write_text("k1:file\n")
    assert Settings(_env_file=None, payload_keys_file=str(keys)).encryption_keys() == "k1:file"
    assert Settings(_env_file=None, payload_keys="k2:var", payload_keys_file=str(keys)).encryption_keys() == "k2:var"


def test_secrets_never_show_in_the_settings_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "C2C_SALESFORCE_CLIENT_SECRET": "sf-secret-4711",
        "C2C_STRIPE_API_KEY": "sk_test_secret_4711",
        "C2C_STRIPE_WEBHOOK_SECRET": "whsec_secret_4711",
        "C2C_AVATAX_LICENSE_KEY": "avatax-secret-4711",
        "C2C_NETSUITE_PRIVATE_KEY": "ns-secret-4711",
        "C2C_CRM_WEBHOOK_SECRET": "crm-secret-4711",
        "C2C_API_TOKEN": "api-token-secret-4711",
        "C2C_PAYLOAD_KEYS": "k1:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTQ3MTE=",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in secrets.values():
        assert value not in shown
    assert settings.stripe_api_key.get_secret_value() == "sk_test_secret_4711"  # still usable where it is needed


def test_the_api_refuses_a_public_address_with_the_sandbox_secrets() -> None:
    assert Settings().unsafe_for("127.0.0.1") is None
    problem = Settings().unsafe_for("0.0.0.0")
    assert problem is not None
    assert "C2C_API_TOKEN" in problem
    assert "C2C_CRM_WEBHOOK_SECRET" in problem
    own = Settings(
        api_token="a-long-random-token-0123456789",
        crm_webhook_secret="whsec_own_secret",
        stripe_webhook_secret="whsec_own_stripe",
        chargebee_webhook_password="own-chargebee-password",
    )
    assert own.unsafe_for("0.0.0.0") is None


def test_vendors_default_to_todays_estate_for_every_entity_and_can_be_overridden_per_entity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("C2C_VENDORS_BY_ENTITY", '{"DE01": {"billing": "chargebee", "erp": "xero"}}')
    settings = Settings(_env_file=None)
    assert settings.vendors_for("US01") == Vendors(crm="salesforce", billing="stripe", tax="avatax", erp="netsuite")
    assert settings.vendors_for("DE01") == Vendors(crm="salesforce", billing="chargebee", tax="avatax", erp="xero")
    assert Settings(_env_file=None, crm="hubspot").vendors_for("US01").crm == "hubspot"
