"""The connector factory refuses a configuration that names a vendor c2c has no connector for."""

from __future__ import annotations

import httpx
import pytest

from canonical import Vendors
from connectors.factory import build_chargebee, build_connectors
from connectors.hubspot import HubSpotCrm
from settings import Settings


async def test_the_default_estate_builds_one_connector_per_role() -> None:
    connectors = build_connectors(Settings(_env_file=None))
    try:
        assert (connectors.crm.system, connectors.billing.system) == ("salesforce", "stripe")
    finally:
        await connectors.close()


def test_a_vendor_without_a_connector_is_refused_naming_the_entity_and_role() -> None:
    settings = Settings(_env_file=None, vendors_by_entity={"DE01": Vendors(billing="recurly")})
    with pytest.raises(
        ValueError, match=r"C2C_VENDORS_BY_ENTITY DE01 billing='recurly'.*supported: crm: hubspot, salesforce"
    ):
        build_connectors(settings)


def test_an_unknown_crm_is_refused() -> None:
    with pytest.raises(ValueError, match=r"C2C_CRM='pipedrive'"):
        build_connectors(Settings(_env_file=None, crm="pipedrive"))


async def test_hubspot_as_the_crm_builds_its_connector_with_a_private_app_token_or_oauth() -> None:
    connectors = build_connectors(Settings(_env_file=None, crm="hubspot", hubspot_url="http://hubspot.test"))
    try:
        assert isinstance(connectors.crm, HubSpotCrm)
        assert (connectors.crm.system, connectors.crm.base_url) == ("hubspot", "http://hubspot.test")
        assert not connectors.crm._tokens.renewable  # the private app's token
    finally:
        await connectors.close()
    oauth = build_connectors(Settings(_env_file=None, crm="hubspot", hubspot_refresh_token="r-1"))
    try:
        assert isinstance(oauth.crm, HubSpotCrm)
        assert oauth.crm._tokens.renewable  # a refresh token wins over the private app token
    finally:
        await oauth.close()


async def test_the_orgs_session_timeout_reaches_the_salesforce_connector() -> None:
    connectors = build_connectors(Settings(_env_file=None, salesforce_session_seconds=7200))
    try:
        assert getattr(connectors.crm, "session_seconds", None) == 7200
    finally:
        await connectors.close()
    with pytest.raises(ValueError, match="salesforce_session_seconds"):
        Settings(_env_file=None, salesforce_session_seconds=30)  # under a minute: c2c could never log in ahead


async def test_the_chargebee_connector_is_built_from_its_settings() -> None:
    settings = Settings(_env_file=None, chargebee_url="http://127.0.0.1:1", chargebee_payment_method=None)
    async with httpx.AsyncClient() as http:
        billing = build_chargebee(settings, http)
        assert billing.system == "chargebee"
        assert billing._api == "http://127.0.0.1:1/api/v2"


async def test_every_configured_erp_is_built_and_a_call_goes_to_the_one_it_names() -> None:
    from connectors.errors import PermanentError
    from connectors.netsuite import NetSuiteErp
    from connectors.xero import XeroErp

    connectors = build_connectors(Settings(_env_file=None))  # the sandbox default: UK01 books in Xero
    try:
        assert connectors.erps.names() == ["netsuite", "xero"]
        assert isinstance(connectors.erps["xero"], XeroErp)
        assert isinstance(connectors.erps["netsuite"], NetSuiteErp)
        assert connectors.erps[None] is connectors.erp  # an input recorded without a vendor: the default
        with pytest.raises(PermanentError, match="no erp connector for 'sap'"):
            connectors.erps["sap"]
    finally:
        await connectors.close()


async def test_an_erp_no_entity_is_configured_with_is_not_built() -> None:
    from connectors.errors import PermanentError

    connectors = build_connectors(Settings(_env_file=None, vendors_by_entity={}))
    try:
        assert connectors.erps.names() == ["netsuite"]
        with pytest.raises(PermanentError, match="vendor_not_configured|C2C_VENDORS_BY_ENTITY"):
            connectors.erps["xero"]
    finally:
        await connectors.close()


def test_adding_a_vendor_to_a_role_is_one_registration() -> None:
    from connectors.factory import REGISTRY, SUPPORTED

    assert SUPPORTED == {role: set(vendors) for role, vendors in REGISTRY.items()}
    assert SUPPORTED["erp"] == {"netsuite", "xero"}


async def test_every_crm_served_is_built_and_the_default_crm_stays_the_default() -> None:
    from connectors.errors import PermanentError
    from connectors.salesforce import SalesforceCrm

    assert Settings(_env_file=None).every_crm() == ["salesforce"]  # unset: just C2C_CRM, as before
    settings = Settings(_env_file=None, crms="hubspot, salesforce")
    assert settings.every_crm() == ["salesforce", "hubspot"]
    connectors = build_connectors(settings)
    try:
        assert connectors.crms.names() == ["hubspot", "salesforce"]
        assert isinstance(connectors.crms["hubspot"], HubSpotCrm)
        assert isinstance(connectors.crm, SalesforceCrm)  # C2C_CRM: what an input naming no CRM means
        assert connectors.crms[None] is connectors.crm
    finally:
        await connectors.close()
    alone = build_connectors(Settings(_env_file=None))
    try:
        with pytest.raises(PermanentError, match="no crm connector for 'hubspot'.*C2C_CRMS"):
            alone.crms["hubspot"]
    finally:
        await alone.close()


def test_an_unknown_crm_among_those_served_is_refused() -> None:
    with pytest.raises(ValueError, match=r"C2C_CRMS 'pipedrive'"):
        build_connectors(Settings(_env_file=None, crms="salesforce,pipedrive"))
