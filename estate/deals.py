"""Deals put into the CRM as a sales rep does, safe to repeat: the one seeding path of demo, chaos, bench and tests.

Every write is an upsert by external key, and each call is retried a moment later when the failure may be passing
(a 5xx, a 429, a dropped connection or a lost answer), so seeding survives the chaos run's faults and a rerun of
the demo finds the records it made instead of adding new ones.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from connectors.errors import PermanentError, TransientError, UncertainOutcome
from connectors.salesforce import SalesforceCrm
from estate.book import DealSpec

T = TypeVar("T")
CLOSED_WON = "Closed Won"


async def persist(call: Callable[[], Awaitable[T]], attempts: int = 30) -> T:
    """Try again a moment later when the failure may be passing (a 5xx, a 429, a dropped connection)."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (TransientError, UncertainOutcome, httpx.TransportError):
            if attempt == attempts:
                raise
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
    raise AssertionError("unreachable")


async def seed_deal(crm: SalesforceCrm, spec: DealSpec, *, close: bool = False) -> str:
    """Upsert the account, an open opportunity and its lines by external key; returns the opportunity id.

    `close=True` then marks it Closed Won (the CRM refuses that before the lines exist)."""
    a = spec.account
    account = {
        "Name": a.name,
        "Tax_Id__c": a.tax_id,
        "Billing_Email__c": a.email,
        "BillingStreet": a.street,
        "BillingCity": a.city,
        "BillingState": a.state,
        "BillingPostalCode": a.postal_code,
        "BillingCountry": a.country,
    }
    account_id = await persist(lambda: crm.upsert("Account", "External_Key__c", a.key, account))
    opportunity = {
        "Name": f"{a.name} — {spec.key}",
        "AccountId": account_id,
        "StageName": "Prospecting",
        "CloseDate": spec.close_date,
        "CurrencyIsoCode": spec.currency,
        "Legal_Entity__c": spec.legal_entity,
        "Term_Months__c": spec.term_months,
        "Billing_Period__c": spec.billing_period,
        **spec.extra,
    }
    opportunity_id = await persist(lambda: crm.upsert("Opportunity", "External_Key__c", spec.key, opportunity))
    for n, (product, quantity, unit_price) in enumerate(spec.lines, start=1):
        line = {"ProductCode": product, "Quantity": quantity, "UnitPrice": unit_price}
        await persist(functools.partial(_upsert_line, crm, f"{spec.key}-{n}", opportunity_id, line))
    if close:
        await close_won(crm, opportunity_id)
    return opportunity_id


async def _upsert_line(crm: SalesforceCrm, key: str, opportunity_id: str, line: dict[str, object]) -> None:
    try:
        await crm.upsert("OpportunityLineItem", "External_Key__c", key, {"OpportunityId": opportunity_id, **line})
    except PermanentError as error:
        # A line's OpportunityId can be set on create only: a repeat after a lost answer finds the line created.
        if error.code != "INVALID_FIELD_FOR_INSERT_UPDATE":
            raise
        await crm.upsert("OpportunityLineItem", "External_Key__c", key, line)


async def close_won(crm: SalesforceCrm, opportunity_id: str) -> None:
    """What a sales rep does (the CRM then tells c2c through its webhook); saving it again is harmless."""
    await persist(lambda: crm.update("Opportunity", opportunity_id, {"StageName": CLOSED_WON}))
