"""`python -m estate deal`: a deal closed by hand in a running estate's CRM, and bad input refused before any write."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from estate.__main__ import cli
from sandbox.server import build_app
from settings import get_settings
from tests.support.servers import Serve

INITECH = ["--company", "Initech", "--country", "US", "--entity", "US01", "--currency", "USD"]


@pytest.fixture
def crm_url(own_server: Serve, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Salesforce emulator, named by the env the command reads its settings from (as `make up` sets it)."""
    url = own_server(build_app("salesforce")).url
    monkeypatch.setenv("C2C_SALESFORCE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["deal", *args])


def state(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/_sandbox/state").json(parse_float=Decimal)
    return body


def test_a_new_deal_is_created_and_closed_won_with_its_lines_and_account(crm_url: str) -> None:
    result = run(*INITECH, "--line", "PLAT-SEAT:10:49.00", "--line", "analytics:1:199", "--term", "24")

    assert result.exit_code == 0, result.output
    org = state(crm_url)
    [opportunity] = org["Opportunity"]
    deal_id = opportunity["Id"]
    assert f"deal {deal_id}" in result.stdout
    assert f"python starter.py show {deal_id}" in result.stdout
    assert f"python starter.py subscription {deal_id}" in result.stdout
    assert f"c2c:salesforce:{deal_id}" in result.stdout
    assert opportunity["StageName"] == "Closed Won"
    assert (opportunity["CurrencyIsoCode"], opportunity["Legal_Entity__c"]) == ("USD", "US01")
    assert (opportunity["Term_Months__c"], opportunity["Billing_Period__c"]) == (24, "Monthly")
    assert opportunity["Amount"] == Decimal("689.00")
    lines = sorted((ln["ProductCode"], ln["Quantity"], ln["UnitPrice"]) for ln in org["OpportunityLineItem"])
    assert lines == [("ANALYTICS", 1, 199), ("PLAT-SEAT", 10, 49)]
    assert {ln["OpportunityId"] for ln in org["OpportunityLineItem"]} == {deal_id}
    [account] = org["Account"]
    assert opportunity["AccountId"] == account["Id"]
    assert (account["Name"], account["BillingCountry"], account["BillingState"]) == ("Initech", "US", "CA")
    assert all(account[field] for field in ("BillingStreet", "BillingCity", "BillingPostalCode"))


def test_each_call_is_a_new_deal_unless_its_key_is_given(crm_url: str) -> None:
    assert run(*INITECH, "--line", "PLAT-SEAT:1:49").exit_code == 0
    assert run(*INITECH, "--line", "PLAT-SEAT:1:49").exit_code == 0
    assert len(state(crm_url)["Opportunity"]) == 2
    first = run(*INITECH, "--line", "PLAT-SEAT:1:49", "--key", "H-mine")
    again = run(*INITECH, "--line", "PLAT-SEAT:1:49", "--key", "H-mine")
    assert first.exit_code == again.exit_code == 0
    assert len(state(crm_url)["Opportunity"]) == 3
    assert first.stdout.splitlines()[0] == again.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--line", "WIDGET:1:10"], "unknown product 'WIDGET'"),
        (["--line", "PLAT-SEAT:10"], "bad --line 'PLAT-SEAT:10'"),
        (["--line", "PLAT-SEAT:ten:49"], "bad quantity 'ten'"),
        (["--line", "PLAT-SEAT:0:49"], "bad quantity '0'"),
        (["--line", "PLAT-SEAT:1:4.9.0"], "bad unit price '4.9.0'"),
        (["--line", "PLAT-SEAT:1:49", "--entity", "FR01"], "unknown legal entity 'FR01'"),
        (["--line", "PLAT-SEAT:1:49", "--currency", "GBP"], "US01 does not sell in 'GBP'"),
        (["--line", "PLAT-SEAT:1:49", "--entity", "DE01"], "DE01 does not sell in 'USD'"),
        (["--line", "PLAT-SEAT:1:49", "--period", "Weekly"], "unknown billing period 'Weekly'"),
        (["--line", "PLAT-SEAT:1:49", "--country", "BR"], "no default address for country 'BR'"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem_and_writes_nothing(crm_url: str, args: list[str], named: str) -> None:
    result = run(*INITECH, *args)  # a later --entity/--currency/--country wins over Initech's

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: ")
    assert named in result.stderr
    org = state(crm_url)
    assert (org["Account"], org["Opportunity"], org["OpportunityLineItem"], org["sessionsIssued"]) == ([], [], [], 0)


def test_an_unreachable_crm_is_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_SALESFORCE_URL", "http://127.0.0.1:9")  # discard: nothing listens
    get_settings.cache_clear()
    try:
        result = run(*INITECH, "--line", "PLAT-SEAT:1:49")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "http://127.0.0.1:9" in result.stderr
    assert "make up" in result.stderr
