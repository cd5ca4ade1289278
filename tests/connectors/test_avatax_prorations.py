"""AvaTaxEngine and the AvaTax emulator on proration lines: a negative line is taxed negatively, the document nets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from canonical import Address, Money
from connectors.avatax import AvaTaxEngine
from tests.support.avatax import ACCOUNT_ID, LICENSE_KEY, tax_request

LOS_ANGELES = Address(line1="1 World Way", city="Los Angeles", region="CA", postal_code="90045", country="US")
MUNICH = Address(line1="Marienplatz 8", city="Muenchen", postal_code="80331", country="DE")
PARIS = Address(line1="5 Rue de Rivoli", city="Paris", postal_code="75001", country="FR")
TOKYO = Address(line1="1-1 Marunouchi", city="Chiyoda-ku", postal_code="100-0005", country="JP")


@pytest.fixture
def avatax_url(emulators: Any) -> str:
    return emulators.url("avatax")


@pytest.fixture
async def engine(http: httpx.AsyncClient, avatax_url: str) -> AvaTaxEngine:
    return AvaTaxEngine(http, avatax_url, ACCOUNT_ID, LICENSE_KEY)


def minor(quote_lines: Any) -> list[int]:
    return [line.tax.amount for line in quote_lines]


async def test_a_proration_credit_gets_negative_tax_and_the_document_is_the_net(engine: AvaTaxEngine) -> None:
    request = tax_request("US01", LOS_ANGELES, "USD", [490_00, -150_00])

    quote = await engine.quote(request)

    # 490.00 x 7.25% = 35.525 -> 35.52; -150.00 x 7.25% = -10.875 -> -10.88 (half-even, as for a positive line)
    assert minor(quote.lines) == [35_52, -10_88]
    assert quote.lines[1].taxable == Money(amount=-150_00, currency="USD")
    assert quote.lines[1].rate == Decimal("0.0725")
    assert quote.total_taxable == Money(amount=340_00, currency="USD")
    # Per line, not on the net (340.00 x 7.25% would be 24.65).
    assert quote.total_tax == Money(amount=24_64, currency="USD")
    stored = await engine.get("US01", request.document_code)
    assert (stored["totalAmount"], stored["totalTaxable"], stored["totalTax"]) == (
        Decimal("340.00"),
        Decimal("340.00"),
        Decimal("24.64"),
    )
    credit = stored["lines"][1]
    assert (credit["lineAmount"], credit["quantity"]) == (Decimal("-150.00"), 1)
    # State 6 % and the city's 1.25 %: the last detail takes the rounding remainder, so they add up to the line.
    assert [detail["tax"] for detail in credit["details"]] == [Decimal("-9.00"), Decimal("-1.88")]
    assert sum(row["tax"] for row in stored["summary"]) == Decimal("24.64")


@pytest.mark.parametrize(
    ("amounts", "taxes"),
    [([1_225, -1_225], [122, -122]), ([1_235, -1_235], [124, -124]), ([7_200, -1_225, -1_235], [720, -122, -124])],
    ids=["half-to-even-down", "half-to-even-up", "charge-and-credits"],
)
async def test_a_negative_line_rounds_half_even_like_its_positive_mirror(
    engine: AvaTaxEngine, amounts: list[int], taxes: list[int]
) -> None:
    quote = await engine.quote(tax_request("US01", TOKYO, "JPY", amounts))

    assert minor(quote.lines) == taxes
    assert quote.total_tax == Money(amount=sum(taxes), currency="JPY")
    assert quote.total_taxable == Money(amount=sum(amounts), currency="JPY")


async def test_credits_larger_than_the_charges_make_a_negative_document(engine: AvaTaxEngine) -> None:
    request = tax_request("DE01", MUNICH, "EUR", [100_00, -300_00, -5])

    quote = await engine.quote(request)

    # -0.05 x 19% = -0.0095 -> -0.01
    assert minor(quote.lines) == [19_00, -57_00, -1]
    assert quote.total_tax == Money(amount=-38_01, currency="EUR")
    assert quote.total_taxable == Money(amount=-200_05, currency="EUR")
    await engine.commit("DE01", request.document_code)
    assert (await engine.get("DE01", request.document_code))["status"] == "Committed"


async def test_a_reverse_charged_credit_has_zero_tax_not_minus_zero(engine: AvaTaxEngine) -> None:
    request = tax_request("DE01", PARIS, "EUR", [460_00, -150_00], tax_id="FR40303265045")

    quote = await engine.quote(request)

    assert minor(quote.lines) == [0, 0]
    assert quote.total_taxable == Money(amount=310_00, currency="EUR")
    credit = (await engine.get("DE01", request.document_code))["lines"][1]
    assert [str(credit["tax"]), *(str(detail["tax"]) for detail in credit["details"])] == ["0.00", "0.00"]


async def test_adding_a_proration_to_a_quoted_document_adjusts_it_to_the_net(engine: AvaTaxEngine) -> None:
    first = tax_request("US01", LOS_ANGELES, "USD", [490_00])
    await engine.quote(first)
    amended = tax_request("US01", LOS_ANGELES, "USD", [490_00, -150_00], code=first.document_code)

    quote = await engine.quote(amended)

    assert quote.total_tax == Money(amount=24_64, currency="USD")
    stored = await engine.get("US01", first.document_code)
    assert (stored["version"], stored["totalTax"]) == (2, Decimal("24.64"))
