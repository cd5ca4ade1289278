"""Build the role implementations the settings ask for; the one place that knows vendor classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx

from canonical import DEFAULT_VENDORS
from connectors import kit
from connectors.avatax import AvaTaxEngine
from connectors.chargebee import ChargebeeBilling
from connectors.hubspot import HubSpotCredentials, HubSpotCrm
from connectors.netsuite import M2MCredentials, NetSuiteErp
from connectors.netsuite import plans as netsuite_plans
from connectors.roles import BillingSystem, CrmSystem, Erp, TaxEngine
from connectors.routing import ByVendor
from connectors.salesforce import SalesforceCrm
from connectors.stripe import StripeBilling
from connectors.xero import XeroCredentials, XeroErp
from connectors.xero import plans as xero_plans
from settings import Settings

ROLES = ("crm", "billing", "tax", "erp")


@dataclass
class Connectors:
    """Every configured vendor's connector per role (`erps["xero"]`), sharing one HTTP client; `crm`, `billing`,
    `tax` and `erp` are each role's default vendor (what an input naming no vendor means). close() releases the
    connections."""

    http: httpx.AsyncClient
    crms: ByVendor[CrmSystem]
    billings: ByVendor[BillingSystem]
    taxes: ByVendor[TaxEngine]
    erps: ByVendor[Erp]
    # Each ERP's plans (`plan_invoice`, … of connectors/<vendor>/plans.py): what it would write, never sent.
    erp_plans: dict[str, ModuleType] = field(default_factory=dict)

    @property
    def crm(self) -> CrmSystem:
        return self.crms.default

    @property
    def billing(self) -> BillingSystem:
        return self.billings.default

    @property
    def tax(self) -> TaxEngine:
        return self.taxes.default

    @property
    def erp(self) -> Erp:
        return self.erps.default

    async def close(self) -> None:
        await self.http.aclose()

    def govern(self, gate: kit.Gate) -> None:
        """Every request of every role waits for the vendor's limits at `gate` (connectors/limits.py)."""
        kit.govern(self.http, gate)


def _salesforce(settings: Settings, http: httpx.AsyncClient) -> CrmSystem:
    return SalesforceCrm(
        http,
        settings.salesforce_url,
        settings.salesforce_client_id,
        settings.salesforce_client_secret.get_secret_value(),
        session_seconds=settings.salesforce_session_seconds,
    )


def _hubspot(settings: Settings, http: httpx.AsyncClient) -> CrmSystem:
    return HubSpotCrm(http, settings.hubspot_url, hubspot_credentials(settings))


def _stripe(settings: Settings, http: httpx.AsyncClient) -> BillingSystem:
    billing = StripeBilling(
        http,
        settings.stripe_url,
        settings.stripe_api_key.get_secret_value(),
        default_payment_method=settings.stripe_payment_method,
    )
    billing.test_clock = settings.stripe_test_clock
    return billing


def _avatax(settings: Settings, http: httpx.AsyncClient) -> TaxEngine:
    key = settings.avatax_license_key.get_secret_value()
    return AvaTaxEngine(http, settings.avatax_url, settings.avatax_account_id, key)


def _netsuite(settings: Settings, http: httpx.AsyncClient) -> Erp:
    credentials = M2MCredentials(
        settings.netsuite_client_id, settings.netsuite_certificate_id, settings.netsuite_private_key_pem()
    )
    return NetSuiteErp(http, settings.netsuite_url, credentials)


def build_chargebee(settings: Settings, http: httpx.AsyncClient) -> ChargebeeBilling:
    """The Chargebee billing connector of the configured site (REGISTRY's `billing: chargebee`)."""
    return ChargebeeBilling(
        http,
        settings.chargebee_url,
        settings.chargebee_api_key.get_secret_value(),
        payment_method=settings.chargebee_payment_method,
    )


def _xero(settings: Settings, http: httpx.AsyncClient) -> Erp:
    secret = settings.xero_client_secret.get_secret_value()
    credentials = XeroCredentials(settings.xero_client_id, secret, dict(settings.xero_tenants))
    return XeroErp(http, settings.xero_url, credentials, identity_url=settings.xero_identity_url)


# Who can play each role. A new vendor for a role = its connector package (client, wire, mapping, errors) and one
# line here (plus its settings); the saga, the activities and the reconciler route to it by name.
REGISTRY: dict[str, dict[str, Callable[[Settings, httpx.AsyncClient], Any]]] = {
    "crm": {"salesforce": _salesforce, "hubspot": _hubspot},
    "billing": {"stripe": _stripe, "chargebee": build_chargebee},
    "tax": {"avatax": _avatax},
    "erp": {"netsuite": _netsuite, "xero": _xero},
}
SUPPORTED = {role: set(vendors) for role, vendors in REGISTRY.items()}
# Who can meter usage (issue 14): a usage event for a subscription billed elsewhere is refused when it arrives.
USAGE_METERING = {"stripe"}
# Who can plan an ERP write without sending it (shadow mode of a migration, canonical/shadow.py).
ERP_PLANS: dict[str, ModuleType] = {"netsuite": netsuite_plans, "xero": xero_plans}


def configured_vendors(settings: Settings) -> dict[str, set[str]]:
    """Per role, the vendors some legal entity is configured with, and the role's default (which inputs recorded
    before routing by entity, and entities not configured, mean)."""
    defaults = DEFAULT_VENDORS.model_copy(update={"crm": settings.crm})
    wanted = {role: {getattr(defaults, role)} for role in ROLES}
    wanted["crm"].update(settings.every_crm())  # deals come from the CRMs served (their webhooks start the sagas)
    for vendors in settings.every_entitys_vendors().values():
        for role in ROLES[1:]:
            wanted[role].add(getattr(vendors, role))
    for entity, migration in settings.erp_migrations.items():  # both ERPs of a migrating entity, on either side
        wanted["erp"] |= {migration.to, settings.erp_before_migration(entity)}
    return wanted


def unsupported_vendors(settings: Settings) -> list[str]:
    """Each configured vendor no connector exists for, named with where it was configured."""
    problems = [f"C2C_CRM={settings.crm!r}"] if settings.crm not in SUPPORTED["crm"] else []
    problems += [f"C2C_CRMS {name!r}" for name in settings.every_crm()[1:] if name not in SUPPORTED["crm"]]
    for entity, vendors in sorted(settings.vendors_by_entity.items()):
        for role, names in SUPPORTED.items():
            if role != "crm" and getattr(vendors, role) not in names:
                problems.append(f"C2C_VENDORS_BY_ENTITY {entity} {role}={getattr(vendors, role)!r}")
    for entity, migration in sorted(settings.erp_migrations.items()):
        if migration.to not in SUPPORTED["erp"]:
            problems.append(f"C2C_ERP_MIGRATIONS {entity} to={migration.to!r}")
        elif migration.shadow and not {migration.to, settings.erp_before_migration(entity)} <= set(ERP_PLANS):
            problems.append(f"C2C_ERP_MIGRATIONS {entity} shadow (no plans for {migration.to!r})")
    return problems


def build_connectors(settings: Settings) -> Connectors:
    """The connectors of every vendor configured for a role; refuses (before any call) a configuration naming a
    vendor c2c cannot talk to, since a saga would otherwise file the ids one vendor gave under another's name."""
    problems = unsupported_vendors(settings)
    if problems:
        supported = "; ".join(f"{role}: {', '.join(sorted(names))}" for role, names in SUPPORTED.items())
        raise ValueError(f"no connector for {', '.join(problems)} (supported: {supported})")
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    http = kit.vendor_client(timeout)
    wanted = configured_vendors(settings)

    def role(name: str, default: str) -> ByVendor[Any]:
        built = {vendor: REGISTRY[name][vendor](settings, http) for vendor in sorted(wanted[name])}
        return ByVendor(name, built, default)

    return Connectors(
        http=http,
        crms=role("crm", settings.crm),
        billings=role("billing", DEFAULT_VENDORS.billing),
        taxes=role("tax", DEFAULT_VENDORS.tax),
        erps=role("erp", DEFAULT_VENDORS.erp),
        erp_plans=dict(ERP_PLANS),
    )


def hubspot_credentials(settings: Settings) -> HubSpotCredentials:
    """An OAuth app when a refresh token is configured, else the private app's access token."""
    if settings.hubspot_refresh_token is not None:
        return HubSpotCredentials(
            client_id=settings.hubspot_client_id,
            client_secret=settings.hubspot_client_secret.get_secret_value(),
            refresh_token=settings.hubspot_refresh_token.get_secret_value(),
        )
    token = settings.hubspot_access_token.get_secret_value() if settings.hubspot_access_token else None
    return HubSpotCredentials(access_token=token)
