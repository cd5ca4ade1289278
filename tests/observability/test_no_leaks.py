"""A full saga with known PII and known secrets, logs at DEBUG: none of them in the logs or the raw history.

Real connectors and emulators over HTTP, the CRM's signed webhook into the trigger API, payload encryption on.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import ids
from codec import new_key
from estate.book import AccountSpec, DealSpec
from observability.logs import setup_logging
from operations.client import connect
from settings import Settings
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.netsuite import PRIVATE_KEY as NETSUITE_PRIVATE_KEY
from tests.support.polling import eventually
from tests.support.servers import crm_webhook_to, serving
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage

RUN = uuid.uuid4().hex[:10]
DIGITS = str(uuid.uuid4().int)[:7]
# PII as a customer would give it: nothing here is a sandbox default, so any hit is a real leak.
CUSTOMER = AccountSpec(
    key="leakprobe",
    name=f"Quillfeather Probe Holdings {RUN}",
    street=f"{DIGITS[:4]} Larkspur Quarantine Way",
    city="Cupertino",
    postal_code="95014",
    country="US",
    state="CA",
    tax_id=f"US-88-{DIGITS}",
    email=f"controller.{RUN}@quillfeather.test",
)
DEAL = DealSpec("LEAK-1", CUSTOMER, "US01", "USD", [("PLAT-SEAT", 7, Decimal("49.00"))])
KEYS = new_key("leak")
SECRETS = {
    "stripe_api_key": f"sk_test_probe{RUN}",
    "salesforce_client_secret": f"sf-probe-secret-{RUN}",
    "netsuite_private_key": NETSUITE_PRIVATE_KEY,  # the key the session's emulators know: the estate must work
    "avatax_license_key": f"ava-probe-license-{RUN}",
    "crm_webhook_secret": f"whsec_crmprobe{RUN}",
    "stripe_webhook_secret": f"whsec_stripeprobe{RUN}",
    "api_token": f"api-probe-token-{RUN}",
}


class Raw(logging.Handler):
    """Every record as emitted, before any formatter or redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(f"{text} {record.__dict__}")


@pytest.fixture(params=["encrypted", "plaintext"])
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Estate]:
    """With payload keys (production) the history is checked too; without them (the default) only the logs, which
    must not leak even then: the SDK's DEBUG output would carry plaintext payloads."""
    keys = KEYS if request.param == "encrypted" else None
    target = temporal_env.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=target, payload_keys=keys, payload_keys_file=None))
    async with running_estate(
        temporal_env,
        all_emulators(emulators),
        task_queue,
        tmp_path,
        client=client,
        payload_keys=keys,
        log_level="DEBUG",
        log_format="json",
        **SECRETS,
    ) as estate:
        yield estate


@pytest.mark.usefixtures("restore_logging")
async def test_no_pii_or_secret_reaches_the_logs_or_the_encrypted_workflow_history(estate: Estate) -> None:
    out, raw = io.StringIO(), Raw()
    setup_logging(estate.settings, out)
    logging.getLogger().addHandler(raw)

    api = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
    async with serving(api) as url, crm_webhook_to(estate, url, SECRETS["crm_webhook_secret"]):
        deal_id = await estate.closed_deal(DEAL)
        handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id))

        async def started() -> Any:
            try:
                return await handle.describe()
            except RPCError:
                return None

        await eventually(started)
        assert (await handle.result()).outcome is Stage.COMPLETED
    history = (await handle.fetch_history()).to_json()
    logging.getLogger().removeHandler(raw)

    # The saga's work was logged at DEBUG, with its context: the grep below looks at real output.
    logged = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [line for line in logged if line.get("correlation_id") == handle.id]
    assert {"onboard", "tax", "post", "apply"} <= {line.get("stage") for line in mine}
    assert any(line.get("vendor") == "netsuite" and line.get("system") == "erp" for line in mine)
    assert any(line["message"] == "stage apply entered" for line in mine)

    values = {
        "name": CUSTOMER.name,
        "street": CUSTOMER.street,
        "tax id": CUSTOMER.tax_id,
        "email": CUSTOMER.email,
        **SECRETS,
        "payload keys": KEYS,
        "payload key material": KEYS.partition(":")[2],
    }
    for what, value in values.items():
        assert value, what
        assert value not in out.getvalue(), f"{what} in the log output"
        assert not [text for text in raw.texts if value in text], f"{what} in a log record"
        if estate.settings.payload_keys:
            assert value not in history, f"{what} in the workflow history"
