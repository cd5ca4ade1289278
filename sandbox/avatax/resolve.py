"""`/api/v2/addresses/resolve` (GET with the address as query parameters, POST with an AddressValidationInfo body):
AvaTax's address resolution, as far as the emulator can place an address.

The emulator places by country, region and postal code (the checks of `addresses.problems`); it has no street
database, so a placed address comes back upper-cased as given (`textCase=Mixed` keeps the case), with
`resolutionQuality: PostalCentroidGood` and no coordinates or tax authorities. An address it cannot place is still
answered 200, as AvaTax answers it: `resolutionQuality: NotCoded` and `messages` saying why (severity Error)."""

from __future__ import annotations

from typing import Any

from sandbox.avatax.addresses import place, problems
from sandbox.avatax.models import AddressLocationInfo
from sandbox.avatax.responses import AvaTaxError

TEXT_CASES = ("Upper", "Mixed")


def resolve(address: AddressLocationInfo, text_case: str | None) -> dict[str, Any]:
    text_case = text_case or "Upper"
    if text_case not in TEXT_CASES:
        raise AvaTaxError.single(
            400,
            "InvalidAddressTextCase",
            335,
            f"Text case '{text_case}' is not valid.",
            "textCase is Upper or Mixed.",
            target="IncorrectData",
            refers_to="textCase",
        )
    given = {k: v for k, v in address.model_dump().items() if v is not None}
    placed = place(address)
    found = problems(placed, "Address")
    wire = {k: v for k, v in placed.as_wire().items() if k != "boundaryLevel"}
    validated = {k: v.upper() if text_case == "Upper" else v for k, v in wire.items()}
    body: dict[str, Any] = {
        "address": given,
        "validatedAddresses": [
            {"addressType": "UnknownAddressType" if found else "StreetOrResidentialAddress", **validated}
        ],
        "resolutionQuality": "NotCoded" if found else "PostalCentroidGood",
    }
    if found:
        body["messages"] = [
            {
                "summary": problem["message"],
                "details": problem["description"],
                "refersTo": "Address",
                "severity": "Error",
                "source": "Avalara.AvaTax.Services.Address",
            }
            for problem in found
        ]
    return body
