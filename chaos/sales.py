"""What people do in the vendors' systems during a chaos run: sales reps create and close deals in the CRM, a
customer switches to bank debit in the billing portal. Their requests meet the same faults as c2c's, so each
step is retried the way a person would retry a failed save, and each is safe to repeat.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from connectors.errors import PermanentError, TransientError, UncertainOutcome
from connectors.salesforce import SalesforceCrm
from demo.scenario import DealSpec, close_won

T = TypeVar("T")
BANK_DEBIT = "pm_usBankAccount_success"


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


async def create_deal(crm: SalesforceCrm, spec: DealSpec) -> str:
    """Account, open opportunity and lines, upserted by external key one call at a time; the opportunity id.

    Like demo.scenario.seed_deal, but each call may be repeated after a lost answer: a line item's
    OpportunityId can be set on create only, so a repeat that finds the line already created leaves it out."""
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
    }
    opportunity_id = await persist(lambda: crm.upsert("Opportunity", "External_Key__c", spec.key, opportunity))
    for n, (product, quantity, unit_price) in enumerate(spec.lines, start=1):
        line = {"ProductCode": product, "Quantity": quantity, "UnitPrice": unit_price}
        await persist(functools.partial(_upsert_line, crm, f"{spec.key}-{n}", opportunity_id, line))
    return opportunity_id


async def _upsert_line(crm: SalesforceCrm, key: str, opportunity_id: str, line: dict[str, object]) -> None:
    try:
        await crm.upsert("OpportunityLineItem", "External_Key__c", key, {"OpportunityId": opportunity_id, **line})
    except PermanentError as error:
        if error.code != "INVALID_FIELD_FOR_INSERT_UPDATE":
            raise
        await crm.upsert("OpportunityLineItem", "External_Key__c", key, line)  # created by the lost attempt


async def close_deal(crm: SalesforceCrm, opportunity_id: str) -> None:
    """Mark it Closed Won; saving it again is harmless (the CRM calls out only when the stage changes)."""
    await persist(lambda: close_won(crm, opportunity_id))


async def pay_by_bank_debit(http: httpx.AsyncClient, stripe_url: str, api_key: str, customer: str) -> None:
    """The customer makes a US bank account their default payment method (Stripe's test bank account)."""

    async def update() -> None:
        response = await http.post(
            f"{stripe_url}/v1/customers/{customer}",
            data={"invoice_settings[default_payment_method]": BANK_DEBIT},
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"chaos:bank-debit:{customer}"},
        )
        if response.status_code in (409, 429) or response.status_code >= 500:
            raise TransientError("stripe", f"http_{response.status_code}", response.text)
        response.raise_for_status()

    await persist(update)
