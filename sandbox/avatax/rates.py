"""Reference data: currencies, countries, US states and the destination-based rate table."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal

# Minor-unit digits per supported currency; anything else is refused as unsupported.
CURRENCY_DECIMALS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "SEK": 2,
    "JPY": 0,
    "KRW": 0,
    "BHD": 3,
    "KWD": 3,
}

EU_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())

US_STATES: dict[str, str] = {
    "AL": "ALABAMA", "AK": "ALASKA", "AZ": "ARIZONA", "AR": "ARKANSAS", "CA": "CALIFORNIA",
    "CO": "COLORADO", "CT": "CONNECTICUT", "DE": "DELAWARE", "DC": "DISTRICT OF COLUMBIA",
    "FL": "FLORIDA", "GA": "GEORGIA", "HI": "HAWAII", "ID": "IDAHO", "IL": "ILLINOIS", "IN": "INDIANA",
    "IA": "IOWA", "KS": "KANSAS", "KY": "KENTUCKY", "LA": "LOUISIANA", "ME": "MAINE", "MD": "MARYLAND",
    "MA": "MASSACHUSETTS", "MI": "MICHIGAN", "MN": "MINNESOTA", "MS": "MISSISSIPPI", "MO": "MISSOURI",
    "MT": "MONTANA", "NE": "NEBRASKA", "NV": "NEVADA", "NH": "NEW HAMPSHIRE", "NJ": "NEW JERSEY",
    "NM": "NEW MEXICO", "NY": "NEW YORK", "NC": "NORTH CAROLINA", "ND": "NORTH DAKOTA", "OH": "OHIO",
    "OK": "OKLAHOMA", "OR": "OREGON", "PA": "PENNSYLVANIA", "RI": "RHODE ISLAND", "SC": "SOUTH CAROLINA",
    "SD": "SOUTH DAKOTA", "TN": "TENNESSEE", "TX": "TEXAS", "UT": "UTAH", "VT": "VERMONT",
    "VA": "VIRGINIA", "WA": "WASHINGTON", "WV": "WEST VIRGINIA", "WI": "WISCONSIN", "WY": "WYOMING",
}  # fmt: skip

# Combined US rate split into the state share and the local (city/county) share, as AvaTax reports it.
US_RATES: dict[str, tuple[Decimal, Decimal]] = {
    "CA": (Decimal("0.06"), Decimal("0.0125")),
    "NY": (Decimal("0.04"), Decimal("0.04875")),
    "TX": (Decimal("0.0625"), Decimal(0)),
    "WA": (Decimal("0.065"), Decimal("0.036")),
    "IL": (Decimal("0.0625"), Decimal("0.04")),
    "MA": (Decimal("0.0625"), Decimal(0)),
    "OR": (Decimal(0), Decimal(0)),
}
US_DEFAULT_RATE = (Decimal("0.05"), Decimal(0))

# Country-level VAT / consumption tax: (jurisdiction name, standard rate).
COUNTRY_RATES: dict[str, tuple[str, Decimal]] = {
    "DE": ("GERMANY", Decimal("0.19")),
    "FR": ("FRANCE", Decimal("0.20")),
    "NL": ("NETHERLANDS", Decimal("0.21")),
    "GB": ("UNITED KINGDOM", Decimal("0.20")),
    "JP": ("JAPAN", Decimal("0.10")),
}

SUPPORTED_COUNTRIES = frozenset({"US", *COUNTRY_RATES})

# AvaTax's standard entity/use codes (A federal government ... R non-resident): all exempt here.
EXEMPT_ENTITY_USE_CODES = frozenset("ABCDEFGHIJKLMNPQR")


@dataclass(frozen=True)
class Jurisdiction:
    """One taxing authority that applies to a destination."""

    country: str
    region: str
    name: str
    type: str  # AvaTax JurisdictionType: Country, State, City
    code: str
    tax_name: str
    tax_type: str  # Sales (US) or Output (VAT)
    rate: Decimal
    rate_type_code: str = "General"


def jurisdictions(country: str, region: str, city: str, *, reverse_charge: bool) -> list[Jurisdiction]:
    """The authorities taxing a sale shipped to this place; a reverse charge is one zero-rated VAT detail."""
    if country == "US":
        state_rate, local_rate = US_RATES.get(region, US_DEFAULT_RATE)
        found = [
            Jurisdiction("US", region, US_STATES[region], "State", region, f"{region} STATE TAX", "Sales", state_rate)
        ]
        if local_rate:
            name = city.upper()
            # A stable five-digit code in place of the real FIPS place code.
            code = f"{zlib.crc32(name.encode()) % 100_000:05d}"
            found.append(Jurisdiction("US", region, name, "City", code, f"{region} CITY TAX", "Sales", local_rate))
        return found
    name, rate = COUNTRY_RATES[country]
    tax_name = "JP CONSUMPTION TAX" if country == "JP" else f"{country} VAT"
    if reverse_charge:
        rate, rate_type = Decimal(0), "ReverseCharge"
    else:
        rate_type = "Standard"
    return [Jurisdiction(country, country, name, "Country", country, tax_name, "Output", rate, rate_type)]
