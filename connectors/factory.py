"""Build the role implementations the settings ask for; the one place that knows vendor classes."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectors import kit
from connectors.avatax import AvaTaxEngine
from connectors.netsuite import M2MCredentials, NetSuiteErp
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

    def govern(self, gate: kit.Gate) -> None:
        """Every request of every role waits for the vendor's limits at `gate` (connectors/limits.py)."""
        kit.govern(self.http, gate)


# The vendor each role can be played by today; a second vendor for a role is a connector package plus a line here.
SUPPORTED = {"crm": {"salesforce"}, "billing": {"stripe"}, "tax": {"avatax"}, "erp": {"netsuite"}}


def unsupported_vendors(settings: Settings) -> list[str]:
    """Each configured vendor no connector exists for, named with where it was configured."""
    problems = [f"C2C_CRM={settings.crm!r}"] if settings.crm not in SUPPORTED["crm"] else []
    for entity, vendors in sorted(settings.vendors_by_entity.items()):
        for role, names in SUPPORTED.items():
            if role != "crm" and getattr(vendors, role) not in names:
                problems.append(f"C2C_VENDORS_BY_ENTITY {entity} {role}={getattr(vendors, role)!r}")
    return problems


def build_connectors(settings: Settings) -> Connectors:
    """The connectors of every role; refuses (before any call) a configuration naming a vendor c2c cannot talk to,
    since a saga would otherwise file the ids one vendor gave under another's name."""
    problems = unsupported_vendors(settings)
    if problems:
        supported = "; ".join(f"{role}: {', '.join(sorted(names))}" for role, names in SUPPORTED.items())
        raise ValueError(f"no connector for {', '.join(problems)} (supported: {supported})")
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=100))
    billing = StripeBilling(
        http,
        settings.stripe_url,
        settings.stripe_api_key.get_secret_value(),
        default_payment_method=settings.stripe_payment_method,
    )
    billing.test_clock = settings.stripe_test_clock
    return Connectors(
        http=http,
        crm=SalesforceCrm(
            http,
            settings.salesforce_url,
            settings.salesforce_client_id,
            settings.salesforce_client_secret.get_secret_value(),
            session_seconds=settings.salesforce_session_seconds,
        ),
        billing=billing,
        tax=AvaTaxEngine(
            http, settings.avatax_url, settings.avatax_account_id, settings.avatax_license_key.get_secret_value()
        ),
        erp=NetSuiteErp(
            http,
            settings.netsuite_url,
            M2MCredentials(
                settings.netsuite_client_id, settings.netsuite_certificate_id, settings.netsuite_private_key_pem()
            ),
        ),
    )
