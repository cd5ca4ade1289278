"""HubSpot's wire shapes: CRM objects (every property value a string, "" for a cleared one), their v3 and v4
associations, search and batch pages, deal pipelines and OAuth token answers; and the property names c2c reads.

The c2c properties are custom properties the c2c app creates in the portal's `c2c` group at install."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _date_part(value: Any) -> Any:
    """A date property as HubSpot sends it: `YYYY-MM-DD`, or midnight UTC as a datetime or epoch milliseconds."""
    value = _blank_is_none(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return datetime.fromtimestamp(int(value) / 1000, UTC).date().isoformat()
    if isinstance(value, str) and len(value) > 10 and value[10] == "T":
        return value[:10]
    return value


Text = Annotated[str | None, BeforeValidator(_blank_is_none)]
Number = Annotated[Decimal | None, BeforeValidator(_blank_is_none)]
Day = Annotated[date | None, BeforeValidator(_date_part)]
Moment = Annotated[datetime | None, BeforeValidator(_blank_is_none)]


class Properties(BaseModel):
    """Property values of one object; unknown properties are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.model_fields)


class DealProperties(Properties):
    dealname: Text = None
    dealstage: Text = None
    pipeline: Text = None
    closedate: Day = None
    amount: Number = None
    deal_currency_code: Text = None
    hs_lastmodifieddate: Moment = None
    c2c_legal_entity: Text = None
    c2c_term_months: Number = None
    c2c_billing_period: Text = None
    # the contract c2c keeps on the deal (connectors/hubspot/contracts.py)
    c2c_subscription_id: Text = None
    c2c_contract_status: Text = None
    c2c_contract_start: Day = None
    c2c_contract_term_months: Number = None
    c2c_contract_company_id: Text = None
    c2c_contract_ended_on: Day = None
    # a won change to a contract
    c2c_contract_deal_id: Text = None
    c2c_change_type: Text = None
    c2c_effective_date: Day = None


class CompanyProperties(Properties):
    name: Text = None
    address: Text = None
    address2: Text = None
    city: Text = None
    state: Text = None
    zip: Text = None
    country: Text = None
    c2c_tax_id: Text = None
    c2c_billing_email: Text = None
    c2c_golden_id: Text = None
    hs_lastmodifieddate: Moment = None


class LineItemProperties(Properties):
    name: Text = None
    description: Text = None
    hs_sku: Text = None
    quantity: Number = None
    price: Number = None


class AssociationRef(BaseModel):
    id: str
    type: str | None = None


class AssociationResults(BaseModel):
    results: list[AssociationRef] = Field(default_factory=list)


class HubSpotObject(BaseModel):
    """`{id, properties, createdAt, updatedAt, archived, associations?}`; `properties` stay raw until typed."""

    id: str = Field(min_length=1)
    properties: dict[str, Any] = Field(default_factory=dict)
    updatedAt: datetime | None = None
    associations: dict[str, AssociationResults] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _is_the_record_it_names(self) -> HubSpotObject:
        # HubSpot returns hs_object_id with every read: an answer without it (or naming another) is not a record.
        if str(self.properties.get("hs_object_id")) != self.id:
            raise ValueError(f"properties.hs_object_id {self.properties.get('hs_object_id')!r} is not the id {self.id}")
        return self

    def linked(self, kind: str) -> list[AssociationRef]:
        """The associations to `kind`; HubSpot names the line items' key "line items", with a space."""
        found = self.associations.get(kind) or self.associations.get(kind.replace("_", " "))
        return found.results if found else []


class Paging(BaseModel):
    after: str


class NextPage(BaseModel):
    next: Paging | None = None


class SearchPage(BaseModel):
    total: int = 0
    results: list[HubSpotObject] = Field(default_factory=list)
    paging: NextPage | None = None


class BatchResult(BaseModel):
    """A batch read: 200 COMPLETE, or 207 with `errors` naming the ids it could not read."""

    status: str | None = None
    results: list[HubSpotObject] = Field(default_factory=list)


class AssociationType(BaseModel):
    category: str | None = None
    typeId: int
    label: str | None = None


class AssociatedObject(BaseModel):
    toObjectId: int | str
    associationTypes: list[AssociationType] = Field(default_factory=list)


class BatchAssociations(BaseModel):
    """One input of a v4 batch association read: `{from: {id}, to: [...]}`."""

    from_: dict[str, Any] = Field(alias="from")
    to: list[AssociatedObject] = Field(default_factory=list)


class BatchAssociationResult(BaseModel):
    results: list[BatchAssociations] = Field(default_factory=list)


class StageMetadata(BaseModel):
    isClosed: str | bool | None = None
    probability: str | Decimal | None = None


class Stage(BaseModel):
    id: str
    label: str | None = None
    metadata: StageMetadata = Field(default_factory=StageMetadata)

    @property
    def closed_won(self) -> bool:
        """A closed stage with probability 1: how HubSpot marks a pipeline's won stages (ids are per pipeline)."""
        closed = str(self.metadata.isClosed).lower() == "true"
        try:
            probability = Decimal(str(self.metadata.probability))
        except ArithmeticError:
            return False
        return closed and probability == 1


class Pipeline(BaseModel):
    id: str
    label: str | None = None
    stages: list[Stage] = Field(default_factory=list)


class Pipelines(BaseModel):
    results: list[Pipeline] = Field(default_factory=list)


class TokenResponse(BaseModel):
    access_token: str = Field(min_length=1)
    expires_in: float = Field(gt=0)
    refresh_token: str | None = None


def ms(moment: datetime) -> str:
    """A datetime as the epoch milliseconds HubSpot's search filters take."""
    return str(int(moment.timestamp() * 1000))
