"""Salesforce REST shapes: OAuth token, query results, upsert results and the records c2c reads."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

# An access token goes into an HTTP header: printable ASCII without spaces (Salesforce's hold a '!').
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")


class TokenResponse(BaseModel):
    access_token: str
    instance_url: str
    token_type: str = "Bearer"
    issued_at: str | None = None

    @field_validator("access_token")
    @classmethod
    def _header_safe(cls, value: str) -> str:
        if not _TOKEN_TEXT.fullmatch(value):
            raise ValueError("not printable ASCII")
        return value

    @field_validator("instance_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """Every later call goes to this URL: an absolute http(s) URL with a host, nothing else."""
        parts = urlsplit(value) if value.isascii() and value.isprintable() and " " not in value else None
        if parts is None or parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")


class QueryResult(BaseModel):
    totalSize: int
    done: bool
    records: list[dict[str, Any]]
    nextRecordsUrl: str | None = None

    @field_validator("nextRecordsUrl")
    @classmethod
    def _instance_path(cls, value: str | None) -> str | None:
        """The next page is asked for on the same instance: a path of the REST API, nothing else."""
        if value is not None and not (value.startswith("/services/data/") and _TOKEN_TEXT.fullmatch(value)):
            raise ValueError("not a path of the REST API")
        return value


class UpsertResult(BaseModel):
    id: str
    success: bool
    created: bool | None = None


class SoqlRecord(BaseModel):
    """A queried record; only the fields declared on the subclass are selected."""

    model_config = ConfigDict(extra="ignore")

    Id: str

    @classmethod
    def soql(cls, sobject: str, where: str) -> str:
        return f"SELECT {', '.join(cls.model_fields)} FROM {sobject} WHERE {where}"


class OpportunityRecord(SoqlRecord):
    Name: str | None = None
    AccountId: str | None = None
    StageName: str | None = None
    CloseDate: date | None = None
    CurrencyIsoCode: str | None = None
    Legal_Entity__c: str | None = None
    Term_Months__c: Decimal | None = None
    Billing_Period__c: str | None = None


class AmendmentRecord(OpportunityRecord):
    """An opportunity as get_amendment reads it: the standard `Type` and `ContractId`, and when it takes effect."""

    Type: str | None = None
    ContractId: str | None = None
    Effective_Date__c: date | None = None
    SystemModstamp: datetime | None = None


class ContractRecord(SoqlRecord):
    """A Contract c2c wrote for a deal's subscription (`C2C_Deal_Id__c` is the deal, its external id)."""

    AccountId: str | None = None
    Status: str | None = None
    StartDate: date | None = None
    ContractTerm: Decimal | None = None
    C2C_Deal_Id__c: str | None = None
    C2C_Subscription_Id__c: str | None = None


class AccountRecord(SoqlRecord):
    Name: str | None = None
    Tax_Id__c: str | None = None
    Billing_Email__c: str | None = None
    BillingStreet: str | None = None
    BillingCity: str | None = None
    BillingState: str | None = None
    BillingPostalCode: str | None = None
    BillingCountry: str | None = None
    C2C_Golden_Id__c: str | None = None


class AccountSnapshotRecord(AccountRecord):
    """An account with its SystemModstamp, which orders the account's changes."""

    SystemModstamp: datetime | None = None


class ClosedWonRecord(SoqlRecord):
    """A closed-won opportunity as the reconciler and the missed-trigger sweep read it."""

    AccountId: str | None = None
    CurrencyIsoCode: str | None = None
    Legal_Entity__c: str | None = None
    Amount: Decimal | None = None
    CloseDate: date | None = None
    LastModifiedDate: datetime
    ContractId: str | None = None  # a change to a contract c2c made: its lifecycle's business, not a new saga


class LineItemRecord(SoqlRecord):
    ProductCode: str | None = None
    Description: str | None = None
    Quantity: Decimal | None = None
    UnitPrice: Decimal | None = None


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC, whole seconds rounded down so the bound never skips a record)."""
    if value.tzinfo is None:
        raise ValueError("SOQL datetimes need a time zone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_in(values: list[str]) -> str:
    """`('a', 'b')` for `Field IN (...)`."""
    return "(" + ", ".join(soql_literal(value) for value in values) + ")"


def soql_literal(value: str) -> str:
    """A SOQL string literal: quoted, with backslashes and quotes escaped."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"
