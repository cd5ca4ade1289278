"""Build the role implementations the settings ask for; the one place that knows vendor classes."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectors.avatax import AvaTaxEngine
from connectors.netsuite import NetSuiteErp
from connectors.roles import BillingSystem, CrmSystem, Erp, TaxEngine
from connectors.salesforce import SalesforceCrm
from connectors.stripe import StripeBilling
from settings import Settings


@dataclass
class Connectors:
    """One connector per role sharing one HTTP client; close() releases its connections."""

    http: httpx.AsyncClient
    crm: CrmSystem
    billing: BillingSystem
    tax: TaxEngine
    erp: Erp

    async def close(self) -> None:
        await self.http.aclose()


def build_connectors(settings: Settings) -> Connectors:
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=100))
    if settings.crm != "salesforce":
        raise ValueError(f"unsupported CRM {settings.crm!r} (supported: salesforce)")
    return Connectors(
        http=http,
        crm=SalesforceCrm(
            http,
            settings.salesforce_url,
            settings.salesforce_client_id,
            settings.salesforce_client_secret.get_secret_value(),
        ),
        billing=StripeBilling(
            http,
            settings.stripe_url,
            settings.stripe_api_key.get_secret_value(),
            default_payment_method=settings.stripe_payment_method,
        ),
        tax=AvaTaxEngine(
            http, settings.avatax_url, settings.avatax_account_id, settings.avatax_license_key.get_secret_value()
        ),
        erp=NetSuiteErp(
            http, settings.netsuite_url, settings.netsuite_client_id, settings.netsuite_client_secret.get_secret_value()
        ),
    )
