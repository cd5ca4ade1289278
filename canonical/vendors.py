"""Which vendor plays each role (crm, billing, tax, erp): configuration, chosen per legal entity.

Workflows speak of roles; ids other systems gave a record are keyed by the vendor's name in `external_refs`,
so the saga looks them up through this model (`vendors.billing`), never by a name of its own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[a-z][a-z0-9_-]*$"


class Vendors(BaseModel):
    """The defaults are the estate c2c ships with (and what every saga started before this model used)."""

    model_config = ConfigDict(frozen=True)

    crm: str = Field(default="salesforce", pattern=NAME)
    billing: str = Field(default="stripe", pattern=NAME)
    tax: str = Field(default="avatax", pattern=NAME)
    erp: str = Field(default="netsuite", pattern=NAME)


DEFAULT_VENDORS = Vendors()
