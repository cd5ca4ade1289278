"""Salesforce CRM connector: closed-won opportunities and account changes in, our ids written back to the account."""

from connectors.salesforce.client import SalesforceCrm
from connectors.salesforce.errors import classify
from connectors.salesforce.webhooks import (
    AccountChangedEvent,
    ClosedWonEvent,
    InvalidWebhook,
    verify_closed_won,
    verify_crm_event,
)

__all__ = [
    "AccountChangedEvent",
    "ClosedWonEvent",
    "InvalidWebhook",
    "SalesforceCrm",
    "classify",
    "verify_closed_won",
    "verify_crm_event",
]
