"""Address checks AvaTax runs before it can place a destination in tax jurisdictions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox.avatax.models import AddressLocationInfo
from sandbox.avatax.rates import SUPPORTED_COUNTRIES, US_STATES
from sandbox.avatax.responses import detail

US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")

# Deterministic "cannot geocode" triggers the demo relies on.
UNGEOCODABLE_POSTAL_CODE = "00000"
UNGEOCODABLE_CITY = "nowhere"


@dataclass(frozen=True)
class Place:
    """A validated, upper-cased address."""

    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str

    def as_wire(self) -> dict[str, Any]:
        return {
            "boundaryLevel": "Zip5" if self.country == "US" else "Address",
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postalCode": self.postal_code,
            "country": self.country,
        }


def place(address: AddressLocationInfo) -> Place:
    return Place(
        line1=(address.line1 or "").strip(),
        line2=(address.line2 or "").strip(),
        city=(address.city or "").strip(),
        region=(address.region or "").strip().upper(),
        postal_code=(address.postalCode or "").strip(),
        country=(address.country or "").strip().upper(),
    )


def problems(address: Place, refers_to: str) -> list[dict[str, Any]]:
    """AvaTax error details for an address that cannot be used; empty when it is fine."""
    if not address.country or not (address.postal_code or (address.line1 and address.city and address.region)):
        return [
            detail(
                "InvalidAddress",
                309,
                "The address value was incomplete.",
                "The address value was incomplete. You must provide either a valid postal code, "
                "line1 + city + region, or line1 + postal code.",
                refers_to=refers_to,
            )
        ]
    if address.country not in SUPPORTED_COUNTRIES:
        return [
            detail(
                "InvalidCountry",
                125,
                f"Country '{address.country}' is not supported.",
                f"The country code '{address.country}' is not a country this account calculates tax for.",
                refers_to=refers_to,
            )
        ]
    found = []
    if address.country == "US" and address.region not in US_STATES:
        found.append(
            detail(
                "InvalidCountryRegion",
                126,
                f"Region '{address.region}' is not valid for country 'US'.",
                "A US address needs a two-letter state code such as CA or NY.",
                refers_to=refers_to,
            )
        )
    if address.country == "US" and not US_ZIP.match(address.postal_code):
        found.append(
            detail(
                "InvalidPostalCode",
                317,
                f"Postal code '{address.postal_code}' is not valid for country 'US'.",
                "A US address needs a five-digit ZIP code (optionally ZIP+4).",
                refers_to=refers_to,
            )
        )
    if address.postal_code == UNGEOCODABLE_POSTAL_CODE or address.city.casefold() == UNGEOCODABLE_CITY:
        found.append(
            detail(
                "AddressNotGeocoded",
                310,
                "Address not geocoded.",
                f"Address cannot be geocoded: {address.city} {address.postal_code} {address.country}.",
                refers_to=refers_to,
            )
        )
    return found
