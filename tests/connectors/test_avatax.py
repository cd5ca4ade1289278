"""AvaTaxEngine against the AvaTax emulator over real HTTP."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from canonical import Address, Money
from connectors.avatax import AvaTaxEngine
from connectors.errors import BusinessRuleError, PermanentError, TransientError, UncertainOutcome
from tests.support.avatax import ACCOUNT_ID, LICENSE_KEY, tax_request

LOS_ANGELES = Address(line1="1 World Way", city="Los Angeles", region="CA", postal_code="90045", country="US")
AUSTIN = Address(line1="301 W 2nd St", city="Austin", region="TX", postal_code="78701", country="US")
MUNICH = Address(line1="Marienplatz 8", city="Muenchen", postal_code="80331", country="DE")
PARIS = Address(line1="5 Rue de Rivoli", city="Paris", postal_code="75001", country="FR")
TOKYO = Address(line1="1-1 Marunouchi", city="Chiyoda-ku", postal_code="100-0005", country="JP")
NOWHERE = Address(line1="1 Void Rd", city="Nowhere", region="CA", postal_code="94105", country="US")


@pytest.fixture
def avatax_url(emulators: Any) -> str:
    return emulators.url("avatax")


@pytest.fixture
async def engine(http: httpx.AsyncClient, avatax_url: str) -> AvaTaxEngine:
    return AvaTaxEngine(http, avatax_url, ACCOUNT_ID, LICENSE_KEY)


@pytest.fixture(autouse=True)
async def _disarm_faults(http: httpx.AsyncClient, avatax_url: str) -> Any:
    yield
    await http.delete(f"{avatax_url}/_sandbox/faults")


async def documents(http: httpx.AsyncClient, url: str, code: str) -> list[dict[str, Any]]:
    state = (await http.get(f"{url}/_sandbox/state")).json()
    return [doc for doc in state["documents"] if doc["code"] == code]


async def arm(http: httpx.AsyncClient, url: str, **rule: Any) -> None:
    response = await http.post(f"{url}/_sandbox/faults", json=rule)
    response.raise_for_status()


async def test_usd_quote_for_california_has_exact_cents(engine: AvaTaxEngine) -> None:
    request = tax_request("US01", LOS_ANGELES, "USD", [490_00, 199_00])

    quote = await engine.quote(request)

    # 490.00 x 7.25% = 35.525 -> 35.52 (half-even); 199.00 x 7.25% = 14.4275 -> 14.43
    assert [line.tax for line in quote.lines] == [
        Money(amount=3552, currency="USD"),
        Money(amount=1443, currency="USD"),
    ]
    assert [line.rate for line in quote.lines] == [Decimal("0.0725"), Decimal("0.0725")]
    assert quote.total_tax == Money(amount=4995, currency="USD")
    assert quote.total_taxable == Money(amount=689_00, currency="USD")
    assert quote.document_code == request.document_code
    assert quote.committed is False


async def test_eur_domestic_germany_charges_19_percent(engine: AvaTaxEngine) -> None:
    quote = await engine.quote(tax_request("DE01", MUNICH, "EUR", [450_00, 185_00]))

    assert [line.tax.amount for line in quote.lines] == [85_50, 35_15]
    assert {line.rate for line in quote.lines} == {Decimal("0.19")}
    assert quote.total_tax == Money(amount=120_65, currency="EUR")


async def test_eur_b2b_to_france_from_de01_is_reverse_charged(engine: AvaTaxEngine) -> None:
    request = tax_request("DE01", PARIS, "EUR", [460_00], tax_id="FR40303265045")

    quote = await engine.quote(request)

    assert quote.total_tax == Money.zero("EUR")
    assert quote.lines[0].rate == Decimal(0)
    assert quote.lines[0].taxable == Money(amount=460_00, currency="EUR")
    stored = await engine.get("DE01", request.document_code)
    assert [d["rateTypeCode"] for d in stored["lines"][0]["details"]] == ["ReverseCharge"]


async def test_eur_b2c_to_france_charges_french_vat(engine: AvaTaxEngine) -> None:
    quote = await engine.quote(tax_request("DE01", PARIS, "EUR", [460_00]))

    assert quote.lines[0].rate == Decimal("0.20")
    assert quote.total_tax == Money(amount=92_00, currency="EUR")


async def test_jpy_quote_has_no_decimals(engine: AvaTaxEngine) -> None:
    # 21600 x 10% = 2160; 1005 x 10% = 100.5 -> 100 (half-even, whole yen)
    quote = await engine.quote(tax_request("US01", TOKYO, "JPY", [21_600, 1_005]))

    assert [line.tax for line in quote.lines] == [Money(amount=2160, currency="JPY"), Money(amount=100, currency="JPY")]
    assert quote.total_tax == Money(amount=2260, currency="JPY")
    assert quote.lines[0].rate == Decimal("0.10")


async def test_tax_rounds_half_even_on_an_exact_half_minor_unit(engine: AvaTaxEngine) -> None:
    # Texas 6.25%: 10.00 -> 0.625 -> 0.62 (half-up would say 0.63); 10.16 -> 0.635 -> 0.64
    quote = await engine.quote(tax_request("US01", AUSTIN, "USD", [10_00, 10_16]))

    assert [line.tax.amount for line in quote.lines] == [62, 64]
    assert quote.total_tax == Money(amount=126, currency="USD")


async def test_quoting_the_same_document_twice_adjusts_one_document(
    engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str
) -> None:
    first = tax_request("US01", AUSTIN, "USD", [100_00])
    second = first.model_copy(update={"lines": tax_request("US01", AUSTIN, "USD", [200_00]).lines})

    await engine.quote(first)
    created = await engine.get("US01", first.document_code)
    quote = await engine.quote(second)
    adjusted = await engine.get("US01", first.document_code)

    assert quote.total_tax == Money(amount=12_50, currency="USD")
    assert adjusted["id"] == created["id"]
    assert (created["version"], adjusted["version"]) == (1, 2)
    [doc] = await documents(http, avatax_url, first.document_code)
    assert doc["version"] == 2
    assert doc["totalTax"] == 12.5


async def test_commit_and_void_are_idempotent(engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str) -> None:
    request = tax_request("US01", LOS_ANGELES, "USD", [100_00])
    await engine.quote(request)

    await engine.commit("US01", request.document_code)
    await engine.commit("US01", request.document_code)
    assert (await engine.get("US01", request.document_code))["status"] == "Committed"

    await engine.void("US01", request.document_code)
    await engine.void("US01", request.document_code)
    [doc] = await documents(http, avatax_url, request.document_code)
    assert doc["status"] == "Cancelled"


async def test_void_of_a_document_that_never_reached_avatax_is_a_no_op(engine: AvaTaxEngine) -> None:
    await engine.void("US01", f"never-quoted-{uuid.uuid4().hex[:8]}")


async def test_document_codes_with_slashes_survive_the_path(engine: AvaTaxEngine) -> None:
    request = tax_request("US01", AUSTIN, "USD", [100_00], code=f"c2c:sf/{uuid.uuid4().hex[:8]}+tax ?")
    await engine.quote(request)

    await engine.commit("US01", request.document_code)

    stored = await engine.get("US01", request.document_code)
    assert (stored["code"], stored["status"]) == (request.document_code, "Committed")


async def test_ungeocodable_address_raises_invalid_address_with_a_readable_message(
    engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str
) -> None:
    request = tax_request("US01", NOWHERE, "USD", [100_00])

    with pytest.raises(BusinessRuleError) as caught:
        await engine.quote(request)

    assert caught.value.code == "invalid_address"
    assert caught.value.status == 400
    assert caught.value.message.startswith("ship-to address: Address not geocoded.")
    assert "Nowhere" in caught.value.message
    assert await documents(http, avatax_url, request.document_code) == []


async def test_lost_quote_response_then_retry_keeps_one_document(
    engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str
) -> None:
    request = tax_request("US01", LOS_ANGELES, "USD", [490_00])
    await arm(http, avatax_url, kind="delay_after", path_prefix="/api/v2/transactions/createoradjust", seconds=1.0)

    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        with pytest.raises(UncertainOutcome):
            await AvaTaxEngine(impatient, avatax_url, ACCOUNT_ID, LICENSE_KEY).quote(request)

    quote = await engine.quote(request)

    assert quote.total_tax == Money(amount=35_52, currency="USD")
    [doc] = await documents(http, avatax_url, request.document_code)
    assert doc["version"] == 2


async def test_wrong_license_key_is_a_permanent_error(http: httpx.AsyncClient, avatax_url: str) -> None:
    engine = AvaTaxEngine(http, avatax_url, ACCOUNT_ID, "wrong")

    with pytest.raises(PermanentError) as caught:
        await engine.quote(tax_request("US01", AUSTIN, "USD", [100_00]))

    assert (caught.value.code, caught.value.status) == ("AuthenticationException", 401)


async def test_unknown_company_is_a_permanent_error(engine: AvaTaxEngine) -> None:
    request = tax_request("US01", AUSTIN, "USD", [100_00]).model_copy(update={"company_code": "XX01"})

    with pytest.raises(PermanentError) as caught:
        await engine.quote(request)

    assert (caught.value.code, caught.value.status) == ("CompanyInvalidException", 400)


async def test_commit_of_an_unknown_document_is_a_permanent_error(engine: AvaTaxEngine) -> None:
    with pytest.raises(PermanentError) as caught:
        await engine.commit("US01", f"never-quoted-{uuid.uuid4().hex[:8]}")

    assert (caught.value.code, caught.value.status) == ("EntityNotFoundError", 404)


def error_body(code: str, *detail_codes: str) -> dict[str, Any]:
    details = [
        {"code": c, "number": 0, "message": f"{c} message.", "description": f"{c} description.", "severity": "Error"}
        for c in detail_codes or (code,)
    ]
    return {"error": {"code": code, "message": f"{code} message.", "target": "Unknown", "details": details}}


@pytest.mark.parametrize(
    ("status", "headers", "body", "error_type", "code", "retry_after"),
    [
        (403, {}, error_body("AuthorizationException"), PermanentError, "AuthorizationException", None),
        (429, {"Retry-After": "7"}, error_body("RateLimitExceeded"), TransientError, "RateLimitExceeded", 7.0),
        (503, {}, error_body("ServiceNotReady"), TransientError, "ServiceNotReady", None),
        (500, {}, None, TransientError, "http_500", None),
        (400, {}, error_body("GetTaxError", "AddressRangeError"), BusinessRuleError, "invalid_address", None),
        (400, {}, error_body("AddressUnknownStreetError"), BusinessRuleError, "invalid_address", None),
        (400, {}, error_body("InvalidParameterValue"), PermanentError, "InvalidParameterValue", None),
        (404, {}, error_body("EntityNotFoundError"), PermanentError, "EntityNotFoundError", None),
    ],
)
async def test_classify_maps_vendor_errors_to_the_taxonomy(
    engine: AvaTaxEngine,
    http: httpx.AsyncClient,
    avatax_url: str,
    status: int,
    headers: dict[str, str],
    body: Any,
    error_type: type[Exception],
    code: str,
    retry_after: float | None,
) -> None:
    await arm(
        http, avatax_url, kind="status", path_prefix="/api/v2/transactions", status=status, headers=headers, body=body
    )

    with pytest.raises(error_type) as caught:
        await engine.quote(tax_request("US01", AUSTIN, "USD", [100_00]))

    error = caught.value
    assert type(error) is error_type
    assert (error.code, error.status) == (code, status)  # type: ignore[attr-defined]
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after


async def test_address_detail_messages_reach_the_business_rule_error(
    engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str
) -> None:
    await arm(
        http,
        avatax_url,
        kind="status",
        path_prefix="/api/v2/transactions",
        status=400,
        body=error_body("GetTaxError", "AddressRangeError"),
    )

    with pytest.raises(BusinessRuleError) as caught:
        await engine.quote(tax_request("US01", AUSTIN, "USD", [100_00]))

    assert caught.value.message == "AddressRangeError message. AddressRangeError description."


async def test_void_cancels_a_committed_document_and_a_repeat_is_a_no_op(
    engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str
) -> None:
    request = tax_request("US01", AUSTIN, "USD", [250_00])
    await engine.quote(request)
    await engine.commit("US01", request.document_code)

    await engine.void("US01", request.document_code)
    await engine.void("US01", request.document_code)  # AvaTax answers TransactionAlreadyCancelled: done

    [doc] = await documents(http, avatax_url, request.document_code)
    assert (doc["status"], doc["version"]) == ("Cancelled", 1)


async def test_lost_void_response_then_retry_finds_the_document_cancelled(
    engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str
) -> None:
    request = tax_request("US01", AUSTIN, "USD", [250_00])
    await engine.quote(request)
    await engine.commit("US01", request.document_code)
    await arm(http, avatax_url, kind="delay_after", method="POST", path_prefix="/api/v2/companies/", seconds=1.0)

    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        with pytest.raises(UncertainOutcome):
            await AvaTaxEngine(impatient, avatax_url, ACCOUNT_ID, LICENSE_KEY).void("US01", request.document_code)

    await engine.void("US01", request.document_code)

    [doc] = await documents(http, avatax_url, request.document_code)
    assert doc["status"] == "Cancelled"


async def test_void_still_raises_what_is_not_already_undone(
    engine: AvaTaxEngine, http: httpx.AsyncClient, avatax_url: str
) -> None:
    request = tax_request("US01", AUSTIN, "USD", [250_00])
    await engine.quote(request)
    locked = error_body("CannotModifyLockedTransaction")
    await arm(http, avatax_url, kind="status", status=400, body=locked, method="POST", path_prefix="/api/v2/companies/")

    with pytest.raises(PermanentError) as caught:
        await engine.void("US01", request.document_code)

    assert (caught.value.code, caught.value.status) == ("CannotModifyLockedTransaction", 400)
    [doc] = await documents(http, avatax_url, request.document_code)
    assert doc["status"] == "Saved"
