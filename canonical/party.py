"""Who we sell to and who sells: addresses, legal entities and the golden customer."""

from __future__ import annotations

import re
import unicodedata

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from canonical.money import CurrencyCode

ExternalRefs = dict[str, str]
"""System name (``salesforce``, ``stripe``, ``netsuite``, ``avatax``) -> that system's id."""


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    line1: str = Field(min_length=1)
    line2: str | None = None
    city: str = Field(min_length=1)
    region: str | None = Field(default=None, description="state / province code, e.g. CA")
    postal_code: str = Field(min_length=1)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO-3166 alpha-2")


class LegalEntity(BaseModel):
    """One of our selling companies; its ERP subsidiary and tax company are looked up by `code`."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[A-Z0-9]{2,10}$")
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    functional_currency: CurrencyCode
    address: Address
    currencies: tuple[str, ...] = Field(description="currencies this entity may invoice in")


class Customer(BaseModel):
    """A buyer; `golden_id` is our own id, `external_refs` the ids other systems gave it."""

    golden_id: str | None = None
    legal_name: str = Field(min_length=1)
    tax_id: str | None = None
    email: str | None = None
    address: Address
    external_refs: ExternalRefs = Field(default_factory=dict)


_LEGAL_SUFFIXES = frozenset(
    {"inc", "incorporated", "llc", "ltd", "limited", "gmbh", "ag", "sa", "sas", "bv", "kk", "co", "corp", "corporation"}
    | {"plc"}
)
_DOTTED_INITIALS = re.compile(r"\b(?:[a-z]\.){2,}")


def normalise_legal_name(name: str) -> str:
    """Key for matching company names: case-, accent-, punctuation- and trailing-legal-form-insensitive."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    folded = folded.replace("&", " and ")
    folded = _DOTTED_INITIALS.sub(lambda m: m.group(0).replace(".", ""), folded)  # "k.k." -> "kk"
    words = re.sub(r"[^a-z0-9]+", " ", folded).split()
    # Only trailing legal forms ("Acme Co., Ltd."), so "Co-op Bank" keeps its "co".
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


class AccountSnapshot(BaseModel):
    """A CRM account as a Customer, with the CRM's time of its last change (newer snapshots win)."""

    model_config = ConfigDict(frozen=True)

    customer: Customer
    modified_at: AwareDatetime
