"""NetSuite ERP connector (SuiteTalk REST record API v1, OAuth 2.0 client credentials with a JWT assertion)."""

from connectors.netsuite.auth import M2MCredentials
from connectors.netsuite.client import NetSuiteErp
from connectors.netsuite.errors import classify

__all__ = ["M2MCredentials", "NetSuiteErp", "classify"]
