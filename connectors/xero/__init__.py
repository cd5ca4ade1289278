"""Xero accounting as the ERP of a legal entity (one Xero organisation, a tenant, per entity)."""

from connectors.xero.client import XeroCredentials, XeroErp

__all__ = ["XeroCredentials", "XeroErp"]
