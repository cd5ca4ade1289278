"""Xero accounting as the ERP of a legal entity (one Xero organisation, a tenant, per entity)."""

from connectors.xero.auth import XeroCredentials
from connectors.xero.client import XeroErp

__all__ = ["XeroCredentials", "XeroErp"]
