"""HubSpot CRM connector: won deals with their primary company and line items in, our ids written back to the
company, the contract kept on the deal; webhooks v3 verified before a saga starts."""

from connectors.hubspot.auth import HubSpotCredentials
from connectors.hubspot.client import HubSpotCrm
from connectors.hubspot.errors import classify
from connectors.hubspot.webhooks import HubSpotEvent, InvalidWebhook, verify_webhook

__all__ = ["HubSpotCredentials", "HubSpotCrm", "HubSpotEvent", "InvalidWebhook", "classify", "verify_webhook"]
