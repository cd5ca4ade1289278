"""Salesforce CRM connector: closed-won opportunities in, our customer ids written back to the account."""

from connectors.salesforce.client import SalesforceCrm
from connectors.salesforce.errors import classify
from connectors.salesforce.webhooks import ClosedWonEvent, InvalidWebhook, verify_closed_won

__all__ = ["ClosedWonEvent", "InvalidWebhook", "SalesforceCrm", "classify", "verify_closed_won"]
