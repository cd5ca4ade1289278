"""Canonical business objects shared by every layer; pure pydantic, no I/O."""

from canonical.catalog import BillingPeriod, Catalog, Price, Product
from canonical.contract import (
    Amendment,
    AmendmentKind,
    AmendmentLine,
    Contract,
    Deal,
    DealLine,
    Subscription,
    SubscriptionEnd,
    SubscriptionItem,
)
from canonical.events import BusinessEvent, EventType
from canonical.invoice import CreditNote, Invoice, InvoiceAdjustment, InvoiceLine, ProrationBilling, RenewalInvoice
from canonical.ledger import JournalEntry, JournalLine
from canonical.money import Money
from canonical.party import AccountSnapshot, Address, Customer, LegalEntity, normalise_legal_name
from canonical.payment import Payment, PaymentStatus
from canonical.tax import TaxLine, TaxQuote, TaxRequest, TaxRequestLine
from canonical.vendors import DEFAULT_VENDORS, Vendors

__all__ = [
    "DEFAULT_VENDORS",
    "AccountSnapshot",
    "Amendment",
    "AmendmentKind",
    "AmendmentLine",
    "Address",
    "BillingPeriod",
    "BusinessEvent",
    "Catalog",
    "Contract",
    "CreditNote",
    "Customer",
    "Deal",
    "DealLine",
    "EventType",
    "Invoice",
    "InvoiceAdjustment",
    "InvoiceLine",
    "JournalEntry",
    "JournalLine",
    "LegalEntity",
    "Money",
    "Payment",
    "PaymentStatus",
    "Price",
    "ProrationBilling",
    "RenewalInvoice",
    "Product",
    "Subscription",
    "SubscriptionEnd",
    "SubscriptionItem",
    "TaxLine",
    "TaxQuote",
    "TaxRequest",
    "TaxRequestLine",
    "Vendors",
    "normalise_legal_name",
]
