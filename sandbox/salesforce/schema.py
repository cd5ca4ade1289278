"""The org's metadata: the sObjects, their fields and how a JSON value is accepted into a field."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.errors import ApiError


class FieldType(StrEnum):
    ID = "id"
    STRING = "string"
    TEXTAREA = "textarea"
    EMAIL = "email"
    PICKLIST = "picklist"
    DATE = "date"
    DATETIME = "datetime"
    DOUBLE = "double"
    CURRENCY = "currency"
    REFERENCE = "reference"
    BOOLEAN = "boolean"

    @property
    def is_text(self) -> bool:
        return self in (FieldType.STRING, FieldType.TEXTAREA, FieldType.EMAIL, FieldType.PICKLIST)

    @property
    def is_number(self) -> bool:
        return self in (FieldType.DOUBLE, FieldType.CURRENCY)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    required: bool = False
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    picklist: tuple[str, ...] = ()
    reference_to: str | None = None


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    _by_lower: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> FieldSpec | None:
        """Field names are case-insensitive in the REST API and SOQL."""
        return self._by_lower.get(name.lower())

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
CLOSED_WON = "Closed Won"
# The org's active currencies (multi-currency enabled); BRL and INR are active here but c2c does not bill them.
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "BRL", "INR")
DEFAULT_CURRENCY = "USD"
CANCELLATION = "Cancellation"
RENEWAL = "Renewal"
# Opportunity.Type: Salesforce's default values plus the two this org added for c2c's renewals and cancellations.
OPPORTUNITY_TYPES = (
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Downgrade",
    "Existing Customer - Replacement",
    RENEWAL,
    CANCELLATION,
)
# Contract.Status: the standard org's values, one per status category, plus the org-added "Terminated" (in
# Salesforce's Terminated category) that c2c sets when a subscription ends before or at its contract's end.
CONTRACT_DRAFT = "Draft"
CONTRACT_ACTIVATED = "Activated"
CONTRACT_TERMINATED = "Terminated"
CONTRACT_STATUSES = (CONTRACT_DRAFT, "In Approval Process", CONTRACT_ACTIVATED, CONTRACT_TERMINATED)

_ID = FieldSpec("Id", FieldType.ID, createable=False, updateable=False)
_EXTERNAL_KEY = FieldSpec("External_Key__c", FieldType.STRING, external_id=True)
# Audit fields every sObject has; the org sets them on each save (SystemModstamp also on system changes).
_SYSTEM_FIELDS = tuple(
    FieldSpec(name, FieldType.DATETIME, createable=False, updateable=False)
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp")
)

ACCOUNT = ObjectSpec(
    "Account",
    "001",
    (
        _ID,
        FieldSpec("Name", FieldType.STRING, required=True),
        FieldSpec("Tax_Id__c", FieldType.STRING),
        FieldSpec("Billing_Email__c", FieldType.EMAIL),
        FieldSpec("BillingStreet", FieldType.TEXTAREA),
        FieldSpec("BillingCity", FieldType.STRING),
        FieldSpec("BillingState", FieldType.STRING),
        FieldSpec("BillingPostalCode", FieldType.STRING),
        FieldSpec("BillingCountry", FieldType.STRING),
        _EXTERNAL_KEY,
        FieldSpec("C2C_Golden_Id__c", FieldType.STRING),
        FieldSpec("Billing_Customer_Id__c", FieldType.STRING),
        FieldSpec("ERP_Customer_Id__c", FieldType.STRING),
        *_SYSTEM_FIELDS,
    ),
)
OPPORTUNITY = ObjectSpec(
    "Opportunity",
    "006",
    (
        _ID,
        FieldSpec("Name", FieldType.STRING, required=True),
        FieldSpec("AccountId", FieldType.REFERENCE, reference_to="Account"),
        FieldSpec("StageName", FieldType.PICKLIST, required=True, picklist=STAGES),
        FieldSpec("CloseDate", FieldType.DATE, required=True),
        FieldSpec("CurrencyIsoCode", FieldType.PICKLIST, picklist=CURRENCIES),
        FieldSpec("Amount", FieldType.CURRENCY, createable=False, updateable=False),
        FieldSpec("Legal_Entity__c", FieldType.STRING),
        FieldSpec("Term_Months__c", FieldType.DOUBLE),
        FieldSpec("Billing_Period__c", FieldType.PICKLIST, picklist=("Monthly", "Annual")),
        FieldSpec("Type", FieldType.PICKLIST, picklist=OPPORTUNITY_TYPES),
        FieldSpec("ContractId", FieldType.REFERENCE, reference_to="Contract"),
        FieldSpec("Effective_Date__c", FieldType.DATE),
        # Set by the first line added from a price book entry when the opportunity has none (as Salesforce does).
        FieldSpec("Pricebook2Id", FieldType.REFERENCE, reference_to="Pricebook2"),
        _EXTERNAL_KEY,
        *_SYSTEM_FIELDS,
    ),
)
OPPORTUNITY_LINE_ITEM = ObjectSpec(
    "OpportunityLineItem",
    "00k",
    (
        _ID,
        FieldSpec("OpportunityId", FieldType.REFERENCE, required=True, updateable=False, reference_to="Opportunity"),
        # The standard way: a price book entry (its product and price book follow). ProductCode stays writable
        # when no entry is given, the emulator's shortcut (read-only in Salesforce, derived from the product).
        FieldSpec("PricebookEntryId", FieldType.REFERENCE, updateable=False, reference_to="PricebookEntry"),
        FieldSpec("Product2Id", FieldType.REFERENCE, createable=False, updateable=False, reference_to="Product2"),
        FieldSpec("Name", FieldType.STRING, createable=False, updateable=False),
        FieldSpec("ProductCode", FieldType.STRING),
        FieldSpec("Quantity", FieldType.DOUBLE, required=True),
        FieldSpec("UnitPrice", FieldType.CURRENCY, required=True),
        FieldSpec("TotalPrice", FieldType.CURRENCY, createable=False, updateable=False),
        FieldSpec("Description", FieldType.STRING),
        _EXTERNAL_KEY,
        *_SYSTEM_FIELDS,
    ),
)
CONTRACT = ObjectSpec(
    "Contract",
    "800",
    (
        _ID,
        FieldSpec("AccountId", FieldType.REFERENCE, required=True, reference_to="Account"),
        # Required; a new contract defaults to Draft (the picklist's default) and must start in that category.
        FieldSpec("Status", FieldType.PICKLIST, required=True, picklist=CONTRACT_STATUSES),
        FieldSpec("StartDate", FieldType.DATE),
        FieldSpec("ContractTerm", FieldType.DOUBLE),  # an int (months) in Salesforce: fractions are refused
        FieldSpec("EndDate", FieldType.DATE, createable=False, updateable=False),  # StartDate + term - 1 day
        FieldSpec("ContractNumber", FieldType.STRING, createable=False, updateable=False),  # auto-number
        FieldSpec("Description", FieldType.TEXTAREA),
        FieldSpec("C2C_Deal_Id__c", FieldType.STRING, external_id=True),
        FieldSpec("C2C_Subscription_Id__c", FieldType.STRING),
        # The last day the subscription served when it ended otherwise than at EndDate (a cancellation):
        # EndDate is StartDate + whole months and cannot say it.
        FieldSpec("C2C_Ended_On__c", FieldType.DATE),
        *_SYSTEM_FIELDS,
    ),
)
PRODUCT = ObjectSpec(
    "Product2",
    "01t",
    (
        _ID,
        FieldSpec("Name", FieldType.STRING, required=True),
        FieldSpec("ProductCode", FieldType.STRING),
        FieldSpec("Description", FieldType.TEXTAREA),
        FieldSpec("Family", FieldType.STRING),
        FieldSpec("IsActive", FieldType.BOOLEAN),  # false unless set, as in Salesforce
        _EXTERNAL_KEY,
        *_SYSTEM_FIELDS,
    ),
)
PRICEBOOK = ObjectSpec(
    "Pricebook2",
    "01s",
    (
        _ID,
        FieldSpec("Name", FieldType.STRING, required=True),
        FieldSpec("Description", FieldType.TEXTAREA),
        FieldSpec("IsActive", FieldType.BOOLEAN),
        FieldSpec("IsStandard", FieldType.BOOLEAN, createable=False, updateable=False),  # the org's one standard
        *_SYSTEM_FIELDS,
    ),
)
PRICEBOOK_ENTRY = ObjectSpec(
    "PricebookEntry",
    "01u",
    (
        _ID,
        FieldSpec("Pricebook2Id", FieldType.REFERENCE, required=True, updateable=False, reference_to="Pricebook2"),
        FieldSpec("Product2Id", FieldType.REFERENCE, required=True, updateable=False, reference_to="Product2"),
        FieldSpec("CurrencyIsoCode", FieldType.PICKLIST, updateable=False, picklist=CURRENCIES),
        FieldSpec("UnitPrice", FieldType.CURRENCY, required=True),
        FieldSpec("IsActive", FieldType.BOOLEAN),
        FieldSpec("Name", FieldType.STRING, createable=False, updateable=False),  # the product's
        FieldSpec("ProductCode", FieldType.STRING, createable=False, updateable=False),  # the product's
        *_SYSTEM_FIELDS,
    ),
)
OBJECTS: dict[str, ObjectSpec] = {
    o.name.lower(): o
    for o in (ACCOUNT, OPPORTUNITY, OPPORTUNITY_LINE_ITEM, CONTRACT, PRODUCT, PRICEBOOK, PRICEBOOK_ENTRY)
}


def find_object(name: str) -> ObjectSpec | None:
    return OBJECTS.get(name.lower())


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

ReferenceCheck = Callable[[str, str], bool]
"""(object name, 18-char id) -> whether that record exists."""


def accept(spec: FieldSpec, value: Any, exists: ReferenceCheck) -> Any:
    """The stored form of a JSON `value` for a field, or the ApiError Salesforce answers with."""
    if value is None:
        return None
    kind = spec.type
    if kind.is_text or kind in (FieldType.REFERENCE, FieldType.DATE, FieldType.ID):
        if not isinstance(value, str):
            raise _cannot_deserialize(spec, value)
    if kind is FieldType.EMAIL and not _EMAIL.match(value):
        raise ApiError(400, "INVALID_EMAIL_ADDRESS", f"{spec.name}: invalid email address: {value}", [spec.name])
    if kind is FieldType.PICKLIST and value not in spec.picklist:
        raise ApiError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{spec.name}: bad value for restricted picklist field: {value}",
            [spec.name],
        )
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise _cannot_deserialize(spec, value)
        return value
    if kind is FieldType.DATE:
        return _date(spec, value)
    if kind is FieldType.REFERENCE:
        return _reference(spec, value, exists)
    if kind.is_number:
        return _number(spec, value)
    return value


def _reference(spec: FieldSpec, value: str, exists: ReferenceCheck) -> str:
    assert spec.reference_to is not None
    record_id = ids.normalise(value)
    if record_id is None:
        raise ApiError(400, "MALFORMED_ID", f"{spec.reference_to} ID: id value of incorrect type: {value}", [spec.name])
    if not exists(spec.reference_to, record_id):
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name])
    return record_id


def _number(spec: FieldSpec, value: Any) -> Decimal | int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _cannot_deserialize(spec, value)
    if isinstance(value, int | Decimal):
        return value
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _cannot_deserialize(spec, value) from None
    if not number.is_finite():
        raise _cannot_deserialize(spec, value)
    return number


def _date(spec: FieldSpec, value: str) -> str:
    try:
        if _DATE.match(value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise _cannot_deserialize(spec, value)


def _cannot_deserialize(spec: FieldSpec, value: Any) -> ApiError:
    kinds = {FieldType.DATE: "date", FieldType.BOOLEAN: "boolean"}
    kind = kinds.get(spec.type, "double" if spec.type.is_number else "string")
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from value {value!r} for field {spec.name}",
    )
