"""Canonical tax request/quote <-> AvaTax CreateTransactionModel/TransactionModel."""

from __future__ import annotations

from decimal import Decimal

from canonical import Address, Money, TaxLine, TaxQuote, TaxRequest
from connectors.avatax.wire import AddressLocationInfo, CreateTransactionModel, LineItemModel, TransactionModel

# SalesInvoice is a saved document (committable, voidable); SalesOrder would never be saved.
DOCUMENT_TYPE = "SalesInvoice"


def to_address(address: Address) -> AddressLocationInfo:
    wire: AddressLocationInfo = {
        "line1": address.line1,
        "city": address.city,
        "postalCode": address.postal_code,
        "country": address.country,
    }
    if address.line2:
        wire["line2"] = address.line2
    if address.region:
        wire["region"] = address.region
    return wire


def to_transaction(request: TaxRequest) -> CreateTransactionModel:
    """An uncommitted sales invoice whose code is the request's document code (the idempotency key)."""
    lines: list[LineItemModel] = [
        {
            "number": str(line.number),
            "quantity": line.quantity,
            "amount": line.amount.to_decimal(),
            "taxCode": line.tax_code,
            "itemCode": line.product_code,
            "description": line.product_code,
        }
        for line in request.lines
    ]
    model: CreateTransactionModel = {
        "code": request.document_code,
        "type": DOCUMENT_TYPE,
        "companyCode": request.company_code,
        "date": request.date.isoformat(),
        "customerCode": request.customer_code,
        "currencyCode": request.currency,
        "commit": False,
        "addresses": {"shipFrom": to_address(request.ship_from), "shipTo": to_address(request.ship_to)},
        "lines": lines,
    }
    if request.customer_tax_id:
        model["businessIdentificationNo"] = request.customer_tax_id
    return model


def to_quote(request: TaxRequest, transaction: TransactionModel) -> TaxQuote:
    """Amounts in the request's currency; a line's rate is the sum of its jurisdictions' rates."""
    currency = request.currency
    lines = [
        TaxLine(
            number=int(line.lineNumber),
            taxable=Money.from_decimal(line.taxableAmount, currency),
            tax=Money.from_decimal(line.tax, currency),
            rate=sum((detail.rate for detail in line.details), Decimal(0)),
        )
        for line in transaction.lines
    ]
    return TaxQuote(
        document_code=transaction.code,
        currency=currency,
        lines=lines,
        total_taxable=Money.from_decimal(transaction.totalTaxable, currency),
        total_tax=Money.from_decimal(transaction.totalTax, currency),
        committed=transaction.status == "Committed",
    )
