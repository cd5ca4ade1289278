"""Request shapes AvaTax accepts (the subset this emulator reads); unknown fields are ignored."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AddressLocationInfo(_Wire):
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    region: str | None = None
    postalCode: str | None = None
    country: str | None = None


class AddressValidationInfo(AddressLocationInfo):
    textCase: str | None = None


class AddressesModel(_Wire):
    singleLocation: AddressLocationInfo | None = None
    shipFrom: AddressLocationInfo | None = None
    shipTo: AddressLocationInfo | None = None


class LineItemModel(_Wire):
    number: str | int | None = None
    quantity: Decimal = Decimal(1)
    amount: Decimal
    taxCode: str | None = None
    itemCode: str | None = None
    description: str | None = None
    entityUseCode: str | None = None


class CreateTransactionModel(_Wire):
    code: str | None = Field(default=None, max_length=50)
    # AvaTax's default document type is the never-saved estimate.
    type: str = "SalesOrder"
    companyCode: str | None = None
    date: date
    customerCode: str = Field(min_length=1)
    currencyCode: str = "USD"
    commit: bool = False
    addresses: AddressesModel | None = None
    lines: list[LineItemModel] = Field(default_factory=list)
    businessIdentificationNo: str | None = None
    entityUseCode: str | None = None
    description: str | None = None


class CreateOrAdjustTransactionModel(_Wire):
    createTransactionModel: CreateTransactionModel


class CommitTransactionModel(_Wire):
    commit: bool


class VoidTransactionModel(_Wire):
    code: str = Field(pattern="^(Unspecified|PostFailed|DocDeleted|DocVoided|AdjustmentCancelled)$")


# AvaTax's AdjustmentReason values.
ADJUSTMENT_REASONS = (
    "NotAdjusted|SourcingIssue|ReconciledWithGeneralLedger|ExemptCertApplied|PriceAdjusted|ProductReturned"
    "|ProductExchanged|BadDebt|Other|Offline"
)


class AdjustTransactionModel(_Wire):
    adjustmentReason: str = Field(pattern=f"^({ADJUSTMENT_REASONS})$")
    adjustmentDescription: str | None = None
    newTransaction: CreateTransactionModel
