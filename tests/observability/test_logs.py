"""Structured logs: JSON or console lines with correlation id, stage and system; secrets never written."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import httpx
import pytest

from observability import correlation
from observability.logs import REDACTED, secret_values, setup_logging
from settings import Settings

pytestmark = pytest.mark.usefixtures("restore_logging")

STRIPE_KEY = "sk_test_logprobe4711"
NETSUITE_SECRET = "ns-probe-secret-0815"


def settings(**overrides: Any) -> Settings:
    return Settings(
        stripe_api_key=STRIPE_KEY, netsuite_private_key=NETSUITE_SECRET, payload_keys_file=None, **overrides
    )


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_saga_stage_and_system_of_the_work() -> None:
    out = io.StringIO()
    setup_logging(settings(log_format="json", log_level="DEBUG"), out)
    with correlation.bound(correlation_id="c2c:salesforce:006A", stage="post", system="erp"):
        logging.getLogger("c2c.test").info("posted %s", "INV-1", extra={"c2c_vendor": "netsuite"})
    logging.getLogger("c2c.test").debug("outside any saga")

    inside, outside = lines(out)
    assert inside["message"] == "posted INV-1"
    assert (inside["level"], inside["logger"]) == ("info", "c2c.test")
    assert (inside["correlation_id"], inside["stage"], inside["system"], inside["vendor"]) == (
        "c2c:salesforce:006A",
        "post",
        "erp",
        "netsuite",
    )
    assert "correlation_id" not in outside
    assert outside["level"] == "debug"


def test_temporal_extras_give_the_correlation_id_of_workflow_logs() -> None:
    out = io.StringIO()
    setup_logging(settings(log_format="json"), out)
    extra = {"temporal_workflow": {"workflow_id": "c2c:salesforce:006B", "workflow_type": "CustomerToCash"}}
    logging.getLogger("temporalio.workflow").info("stage tax entered", extra={**extra, "c2c_stage": "tax"})
    [line] = lines(out)
    assert (line["correlation_id"], line["workflow_type"], line["stage"]) == (
        "c2c:salesforce:006B",
        "CustomerToCash",
        "tax",
    )


def test_console_lines_are_readable_and_carry_the_context() -> None:
    out = io.StringIO()
    setup_logging(settings(log_format="console"), out)
    with correlation.bound(correlation_id="c2c:salesforce:006C", stage="tax", system="tax"):
        logging.getLogger("c2c.test").warning("quoted")
    assert out.getvalue().rstrip().endswith("WARNING c2c.test [c2c:salesforce:006C tax tax] quoted")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_known_secrets_and_credential_shapes_are_redacted_everywhere_in_a_line(log_format: str) -> None:
    out = io.StringIO()
    setup_logging(settings(log_format=log_format), out)
    log = logging.getLogger("c2c.test")
    log.warning("calling with %s", {"Authorization": "Bearer tok_abcdefgh123456", "client_secret": NETSUITE_SECRET})
    log.warning("form body grant_type=client_credentials&client_secret=hunter2hunter2&x=1")
    try:
        raise RuntimeError(f"vendor refused key {STRIPE_KEY}")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    for secret in (STRIPE_KEY, NETSUITE_SECRET, "tok_abcdefgh123456", "hunter2hunter2"):
        assert secret not in text
    assert text.count(REDACTED) >= 4
    assert "RuntimeError: vendor refused key" in text  # the traceback stays, only the secret goes


def test_every_credential_in_settings_is_known_to_the_redactor() -> None:
    values = secret_values(
        Settings(
            stripe_api_key="sk_test_a1b2c3d4",
            salesforce_client_secret="sf-secret-1",
            netsuite_private_key="ns-secret-1",
            avatax_license_key="ava-license-1",
            crm_webhook_secret="whsec_crm_1",
            stripe_webhook_secret="whsec_stripe_1",
            api_token="api-token-1",
            api_tokens=[{"name": "finance-ui", "token": "finance-ui-token-0001", "scopes": ["read"]}],
            payload_keys="k1:c2VjcmV0LWtleS1tYXRlcmlhbA==",
            payload_keys_file=None,
        )
    )
    expected = {
        "sk_test_a1b2c3d4",
        "sf-secret-1",
        "ns-secret-1",
        "ava-license-1",
        "whsec_crm_1",
        "whsec_stripe_1",
        "api-token-1",
        "finance-ui-token-0001",
        "c2VjcmV0LWtleS1tYXRlcmlhbA==",
    }
    assert expected <= set(values)
    assert not {"c2c-sandbox", "finance-ui"} & set(values)  # client ids and token names are not secrets


async def test_http_library_debug_output_never_reaches_the_log(emulators: Any) -> None:
    out = io.StringIO()
    setup_logging(settings(log_format="json", log_level="DEBUG"), out)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{emulators.url('stripe')}/v1/customers",
            headers={"Authorization": f"Bearer {STRIPE_KEY}"},
            data={"name": "Body Probe Customer", "metadata[probe]": NETSUITE_SECRET},
        )
    assert response.status_code == 200
    text = out.getvalue()
    for leaked in (STRIPE_KEY, NETSUITE_SECRET, "Body Probe Customer"):
        assert leaked not in text
    assert not [line for line in lines(out) if line["logger"].startswith(("httpx", "httpcore"))]
