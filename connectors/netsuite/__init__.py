"""NetSuite ERP connector (SuiteTalk REST record API v1, OAuth 2.0 client credentials)."""

from connectors.netsuite.client import NetSuiteErp
from connectors.netsuite.errors import classify

__all__ = ["NetSuiteErp", "classify"]
