"""C2C_ERP_MIGRATIONS: an entity moving to another ERP on a cut-over date; a bad one is refused at start-up, naming
the entity and what is wrong, before any connector is built."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from connectors.factory import build_connectors, configured_vendors
from settings import Settings

TENANTS = {"UK01": "t-uk", "DE01": "t-de"}


def migrating(**migration: object) -> Settings:
    return Settings(_env_file=None, xero_tenants=TENANTS, erp_migrations={"DE01": migration})


def test_the_entity_books_in_the_new_erp_from_the_cutover_and_both_erps_are_built() -> None:
    settings = migrating(to="xero", cutover="2027-01-01", shadow=True)
    assert settings.vendors_for("DE01", date(2026, 12, 31)).erp == "netsuite"
    assert settings.vendors_for("DE01", date(2027, 1, 1)).erp == "xero"
    assert settings.erp_before_migration("DE01") == "netsuite"
    assert configured_vendors(settings)["erp"] == {"netsuite", "xero"}


@pytest.mark.parametrize(
    ("entities", "problem"),
    [
        ({"XX01": {"to": "xero", "cutover": "2027-01-01"}}, "C2C_ERP_MIGRATIONS XX01: no such legal entity"),
        ({"DE01": {"to": "xero", "cutover": "2027-13-01"}}, "DE01.cutover"),
        ({"DE01": {"to": "netsuite", "cutover": "2027-01-01"}}, "DE01: already books in 'netsuite'"),
        ({"DE01": {"to": "xero", "cutover": "2027-01-01", "shadw": True}}, "shadw"),
    ],
)
def test_a_bad_migration_is_refused_naming_it(entities: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(_env_file=None, xero_tenants=TENANTS, erp_migrations=entities)


def test_a_migration_to_xero_needs_the_entitys_organisation() -> None:
    with pytest.raises(ValidationError, match="DE01: no Xero organisation for it in C2C_XERO_TENANTS"):
        Settings(_env_file=None, erp_migrations={"DE01": {"to": "xero", "cutover": "2027-01-01"}})


def test_a_migration_to_an_erp_without_a_connector_is_refused() -> None:
    with pytest.raises(ValueError, match=r"C2C_ERP_MIGRATIONS DE01 to='sap'"):
        build_connectors(migrating(to="sap", cutover="2027-01-01"))
