"""What customers do in the billing portal during a chaos run: switch to bank debit. Their requests meet the same
faults as c2c's, so each is retried the way a person would retry a failed save (sales reps' deals: estate.deals).
"""

from __future__ import annotations

import httpx

from connectors.errors import TransientError
from estate.deals import persist

BANK_DEBIT = "pm_usBankAccount_success"


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
