"""AvaTax REST v2 shapes: request TypedDicts, response models (Decimals exact) and the error body."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field


class AddressLocationInfo(TypedDict):
    line1: str
    line2: NotRequired[str]
    city: str
    region: NotRequired[str]
    postalCode: str
    country: str


class AddressesModel(TypedDict):
    shipFrom: AddressLocationInfo
    shipTo: AddressLocationInfo


class LineItemModel(TypedDict):
    number: str
    quantity: int
    amount: Decimal
    taxCode: str
    itemCode: str
    description: str


class CreateTransactionModel(TypedDict):
    code: str
    type: str
    companyCode: str
    date: str
    customerCode: str
    currencyCode: str
    commit: bool
    addresses: AddressesModel
    lines: list[LineItemModel]
    businessIdentificationNo: NotRequired[str]


class CreateOrAdjustTransactionModel(TypedDict):
    createTransactionModel: CreateTransactionModel


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TransactionLineDetailModel(_Wire):
    jurisdictionName: str | None = None
    jurisdictionType: str | None = None
    taxName: str | None = None
    rateTypeCode: str | None = None
    rate: Decimal
    tax: Decimal
    taxableAmount: Decimal


class TransactionLineModel(_Wire):
    lineNumber: str
    lineAmount: Decimal
    taxableAmount: Decimal
    exemptAmount: Decimal = Decimal(0)
    tax: Decimal
    taxCode: str | None = None
    details: list[TransactionLineDetailModel] = []


class TransactionModel(_Wire):
    id: int
    code: str
    companyId: int | None = None
    date: str
    status: str
    type: str
    version: int | None = None
    currencyCode: str
    totalAmount: Decimal
    totalTax: Decimal
    totalTaxable: Decimal
    totalExempt: Decimal = Decimal(0)
    modifiedDate: datetime | None = None
    lines: list[TransactionLineModel] = []


class TransactionPage(_Wire):
    """A page of `GET /companies/{code}/transactions` (AvaTax's FetchResult)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    recordsetCount: int = Field(default=0, alias="@recordsetCount")
    value: list[TransactionModel] = []
    nextLink: str | None = Field(default=None, alias="@nextLink")


class ErrorDetail(_Wire):
    code: str | None = None
    number: int | None = None
    message: str | None = None
    description: str | None = None
    refersTo: str | None = None
    severity: str | None = None


class ErrorInfo(_Wire):
    code: str | None = None
    message: str | None = None
    target: str | None = None
    details: list[ErrorDetail] = []


class ErrorResult(_Wire):
    error: ErrorInfo
