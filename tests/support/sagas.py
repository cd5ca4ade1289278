"""Deals of the end-to-end saga tests and the steps they share: start a closed deal's saga, wait until it parks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle

from canonical import Address
from estate.book import ACME, BRITANNIA, HOOLI, MULLER, NOWHERE, DealSpec
from operations.errors import CrmUnavailable
from tests.support.estate import Estate
from tests.support.polling import eventually
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaStatus, Stage

USD_DEAL = DealSpec(
    "E2E-USD", ACME, "US01", "USD", [("PLAT-SEAT", 25, Decimal("49.00")), ("ANALYTICS", 1, Decimal("199.00"))]
)
JPY_DEAL = DealSpec("E2E-JPY", HOOLI, "US01", "JPY", [("PLAT-SEAT", 40, Decimal("7200"))], 12, "Annual")
EUR_DEAL = DealSpec("E2E-EUR", MULLER, "DE01", "EUR", [("SUPPORT-PREM", 1, Decimal("460.00"))])
# UK01 books in Xero (the sandbox default of C2C_VENDORS_BY_ENTITY).
GBP_DEAL = DealSpec(
    "E2E-GBP", BRITANNIA, "UK01", "GBP", [("PLAT-SEAT", 10, Decimal("39.00")), ("ANALYTICS", 1, Decimal("159.00"))]
)
PARKED_DEAL = DealSpec("E2E-PARK", NOWHERE, "US01", "USD", [("PLAT-SEAT", 5, Decimal("49.00"))])
GOOD_ADDRESS = Address(line1="1 Market St", city="San Francisco", region="CA", postal_code="94105", country="US")


async def start(estate: Estate, spec: DealSpec) -> tuple[str, WorkflowHandle[Any, Any]]:
    """Start the saga of a closed deal as the CRM's webhook does, redelivered when the trigger could not read the
    CRM (the API answers 503 and the CRM retries): tests that lose answers give the estate's clients a 2.5 s timeout,
    which a loaded machine's CRM read can exceed."""
    deal_id = await estate.closed_deal(spec)
    for redelivery in range(3):
        try:
            started = await estate.trigger.start(deal_id)
            break
        except CrmUnavailable:
            if redelivery == 2:
                raise
    assert started.started
    return deal_id, estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)


async def parked(estate: Estate, handle: WorkflowHandle[Any, Any]) -> SagaStatus:
    async def probe() -> SagaStatus | None:
        status = await estate.status(handle)
        return status if status.stage is Stage.NEEDS_ATTENTION else None

    return await eventually(probe)


def by_id(records: list[dict[str, Any]], key: str, value: Any) -> list[dict[str, Any]]:
    return [r for r in records if r.get(key) == value]
